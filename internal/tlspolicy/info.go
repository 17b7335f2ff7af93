package tlspolicy

// Description of a finished handshake: the data behind Postfix's summary
// log line, the peer certificate line and the TLS context reply.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"tlsproxy/internal/pfversion"
)

// peer_status bits (TLS_CERT_FLAG_*, docs/protocol.md, "The TLS context reply").
const (
	PeerPresent = 1  // peer sent a certificate
	PeerAltname = 2  // never set by Postfix 3.7
	PeerTrusted = 4  // chain verified against CAfile/CApath
	PeerMatched = 8  // client role: name/TLSA match
	PeerSecured = 16 // client role: matched and not half-dane
)

// Signature describes one side's handshake signature (TLS 1.3 only).
type Signature struct {
	Name   string // "RSA-PSS", "ECDSA", "ED25519"
	Curve  string // ECDSA curve, OpenSSL short name
	Bits   int    // RSA modulus size
	Digest string // "SHA256", ...; empty for Ed25519 or unknown
}

// Info is everything Postfix reports about a completed TLS session.
type Info struct {
	Protocol      string // "TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"
	CipherName    string // OpenSSL name
	CipherUseBits int
	CipherAlgBits int
	Resumed       bool

	PeerCN                string
	IssuerCN              string
	PeerFingerprint       string
	PeerPubkeyFingerprint string
	PeerStatus            int
	Level                 int // TLS_LEV_*; 0 for the server role

	// KexName is "X25519" or "ECDHE" (with KexCurve "prime256v1", …)
	// before 3.10, the group name ("x25519", "secp256r1") from 3.10 on
	// (SetRelease); TLS 1.3 only.
	KexName  string
	KexCurve string
	KexBits  int

	ClientSig Signature
	ServerSig Signature

	// VerifyFailure is why a presented certificate is not trusted, as
	// Postfix words it (see UntrustedLine); empty otherwise.
	VerifyFailure string

	// brief: the installed release ends the summary line after the
	// bit counts (before 3.4; SetRelease); peerCert is its wording of
	// the peer certificate line.
	brief    bool
	peerCert pfversion.PeerCertShape

	nameProblems []nameProblem // see NameWarnings
}

// NameValue is one attribute of the TLS context reply.
type NameValue struct{ Name, Value string }

// ServerInfo describes a completed server-side handshake. localCert is the
// certificate that was served (see Server.SessionConfig); when nil (TLS 1.3
// resumption sends none) the first configured certificate is reported, as
// OpenSSL reports the context's certificate.
func ServerInfo(cs tls.ConnectionState, srv *Server, localCert *tls.Certificate) Info {
	return ServerInfoWith(cs, srv, localCert, srv.VerifyPeer(cs.PeerCertificates, time.Now()))
}

// ServerInfoWith is ServerInfo with the handshake's one verification of
// the peer's chain (VerifyPeer): nil leaves the TRUSTED bit and
// VerifyFailure to the caller (the client role verifies by its own rules).
func ServerInfoWith(cs tls.ConnectionState, srv *Server, localCert *tls.Certificate, ver *PeerVerification) Info {
	useBits, algBits := cipherBits(cs.CipherSuite)
	info := Info{
		Protocol:      protocolName(cs.Version),
		CipherName:    OpenSSLCipherName(cs.CipherSuite),
		CipherUseBits: useBits,
		CipherAlgBits: algBits,
		Resumed:       cs.DidResume,
	}
	var peer *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		peer = cs.PeerCertificates[0]
		info.PeerStatus |= PeerPresent
		// As tls_peer_CN and tls_issuer_CN: an issuer without a usable
		// CN is named by its Organization.
		var p1, p2, p3 *nameProblem
		info.PeerCN, p1 = nameText(peer.Subject.Names, oidCommonName, "subject CN")
		info.IssuerCN, p2 = nameText(peer.Issuer.Names, oidCommonName, "issuer CN")
		if info.IssuerCN == "" {
			info.IssuerCN, p3 = nameText(peer.Issuer.Names, oidOrganization, "issuer Organization")
		}
		for _, p := range []*nameProblem{p1, p2, p3} {
			if p != nil {
				info.nameProblems = append(info.nameProblems, *p)
			}
		}
		info.PeerFingerprint = Fingerprint(srv.Digest, peer.Raw)
		info.PeerPubkeyFingerprint = Fingerprint(srv.Digest, peer.RawSubjectPublicKeyInfo)
		switch {
		case ver == nil:
		case ver.Trusted:
			info.PeerStatus |= PeerTrusted
		default:
			info.VerifyFailure = ver.Failure
		}
	}
	rl := releaseLog()
	info.brief, info.peerCert = !rl.Details, rl.PeerCert
	if cs.Version < tls.VersionTLS13 {
		return info // Postfix reports no key-exchange/signature details
	}
	info.KexName, info.KexCurve = kexName(cs.CurveID, rl.GroupNames)
	if cs.DidResume && !rl.ResumedSignatures {
		return info // no signatures on resumption (3.7.13, 3.10, …)
	}
	if localCert == nil && len(srv.certs) > 0 {
		localCert = &srv.certs[0]
	}
	if leaf := leafOf(localCert); leaf != nil {
		info.ServerSig = signatureOf(leaf.PublicKey, !cs.DidResume)
	}
	if peer != nil {
		info.ClientSig = signatureOf(peer.PublicKey, !cs.DidResume)
	}
	return info
}

func leafOf(c *tls.Certificate) *x509.Certificate {
	if c == nil {
		return nil
	}
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// kexNames names the key exchange groups Go negotiates: OpenSSL's group
// name (SSL_get0_group_name), and the key exchange and curve of the
// summary line.
var kexNames = map[tls.CurveID]struct{ group, kex, curve string }{
	tls.X25519:    {"x25519", "X25519", ""},
	tls.CurveP256: {"secp256r1", "ECDHE", "prime256v1"},
	tls.CurveP384: {"secp384r1", "ECDHE", "secp384r1"},
	tls.CurveP521: {"secp521r1", "ECDHE", "secp521r1"},
}

func kexName(id tls.CurveID, groupNames bool) (name, curve string) {
	n, ok := kexNames[id]
	switch {
	case id == 0:
		return "", ""
	case !ok:
		return id.String(), ""
	case groupNames:
		return n.group, ""
	}
	return n.kex, n.curve
}

// signatureOf infers the TLS 1.3 signature made with pub (see package doc).
func signatureOf(pub crypto.PublicKey, withDigest bool) Signature {
	var sig Signature
	switch k := pub.(type) {
	case *rsa.PublicKey:
		sig = Signature{Name: "RSA-PSS", Bits: k.N.BitLen(), Digest: "SHA256"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			sig = Signature{Name: "ECDSA", Curve: "prime256v1", Digest: "SHA256"}
		case elliptic.P384():
			sig = Signature{Name: "ECDSA", Curve: "secp384r1", Digest: "SHA384"}
		case elliptic.P521():
			sig = Signature{Name: "ECDSA", Curve: "secp521r1", Digest: "SHA512"}
		default:
			sig = Signature{Name: "ECDSA"}
		}
	case ed25519.PublicKey:
		sig = Signature{Name: "ED25519"}
	}
	if !withDigest {
		sig.Digest = ""
	}
	return sig
}

var (
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// nameText returns the first attribute oid of a distinguished name as
// Postfix's tls_text_name does: "" when absent, and "" with a problem
// (see Info.NameWarnings) when, after trailing NUL bytes are dropped, it
// has 256 bytes or more, a NUL byte, or an ASCII control character.
func nameText(names []pkix.AttributeTypeAndValue, oid asn1.ObjectIdentifier, label string) (string, *nameProblem) {
	for _, n := range names {
		if !n.Type.Equal(oid) {
			continue
		}
		s, ok := n.Value.(string)
		if !ok {
			return "", nil
		}
		s = strings.TrimRight(s, "\x00")
		switch {
		case len(s) >= maxNameText:
			return "", &nameProblem{fmt.Sprintf("peer %s too long: %d", label, len(s))}
		case strings.IndexByte(s, 0) >= 0:
			return "", &nameProblem{"NULL character in peer " + label}
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < ' ' || c == 0x7f {
				return "", &nameProblem{"non-printable content in peer " + label}
			}
		}
		return s, nil
	}
	return "", nil
}

// maxNameText is Postfix's CCERT_BUFSIZ: a name must be shorter.
const maxNameText = 256

// nameProblem is why a certificate name was left out of the context.
type nameProblem struct{ text string }

// NameWarnings are the warnings Postfix logs (tls_text_name) for the
// peer certificate names it left out of the context reply: logged with
// the "warning: " prefix, before the peer certificate line.
func (i Info) NameWarnings(namaddr string) []string {
	var out []string
	for _, p := range i.nameProblems {
		out = append(out, fmt.Sprintf("tls_text_name: %s: %s", strings.ToLower(namaddr), p.text))
	}
	return out
}

// newDigest returns a hash for a fingerprint digest name, nil if unknown.
func newDigest(name string) hash.Hash {
	switch strings.ToLower(name) {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha224":
		return sha256.New224()
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// Fingerprint returns the digest of data as upper-case hex bytes joined by
// ':', or "" for an unknown digest.
func Fingerprint(digest string, data []byte) string {
	h := newDigest(digest)
	if h == nil {
		return ""
	}
	h.Write(data)
	return ColonHex(h.Sum(nil))
}

// ColonHex formats b as Postfix prints digests: upper-case hex bytes
// joined by ':' ("AB:CD:…").
func ColonHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// Summary is the TLS loglevel 1 line, direction "from" (server role) or
// "to" (client role).
func (i Info) Summary(direction, namaddr string) string {
	adjective := "Untrusted"
	switch {
	case i.PeerStatus&PeerPresent == 0:
		adjective = "Anonymous"
	case i.PeerStatus&PeerSecured != 0:
		adjective = "Verified"
	case i.PeerStatus&PeerTrusted != 0:
		adjective = "Trusted"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s TLS connection established %s %s: %s with cipher %s (%d/%d bits)",
		adjective, direction, strings.ToLower(namaddr), i.Protocol, i.CipherName, i.CipherUseBits, i.CipherAlgBits)
	if i.brief {
		return b.String() // before 3.4 the line ends here
	}
	if i.KexName != "" {
		b.WriteString(" key-exchange " + i.KexName)
		writeDetail(&b, i.KexCurve, i.KexBits)
	}
	writeSignature(&b, "server", i.ServerSig)
	writeSignature(&b, "client", i.ClientSig)
	return b.String()
}

func writeDetail(b *strings.Builder, curve string, bits int) {
	if curve != "" {
		fmt.Fprintf(b, " (%s)", curve)
	} else if bits > 0 {
		fmt.Fprintf(b, " (%d bits)", bits)
	}
}

func writeSignature(b *strings.Builder, side string, sig Signature) {
	if sig.Name == "" {
		return
	}
	fmt.Fprintf(b, " %s-signature %s", side, sig.Name)
	writeDetail(b, sig.Curve, sig.Bits)
	if sig.Digest != "" {
		fmt.Fprintf(b, " %s-digest %s", side, sig.Digest)
	}
}

// PeerCertLine is the server-role peer certificate log line, as the
// installed release words it (SetRelease); only meaningful when a
// certificate was presented. PeerCertWanted says when it is logged.
func (i Info) PeerCertLine(namaddr string) string {
	switch i.peerCert {
	case pfversion.PeerCert28:
		trust := "Untrusted"
		if i.PeerStatus&PeerTrusted != 0 {
			trust = "Trusted"
		}
		return fmt.Sprintf("%s: %s: subject_CN=%s, issuer=%s, fingerprint=%s",
			strings.ToLower(namaddr), trust, i.PeerCN, i.IssuerCN, i.PeerFingerprint)
	case pfversion.PeerCert39:
		return i.peerCertLine39(strings.ToLower(namaddr))
	}
	return fmt.Sprintf("%s: subject_CN=%s, issuer=%s, fingerprint=%s, pkey_fingerprint=%s",
		strings.ToLower(namaddr), i.PeerCN, i.IssuerCN, i.PeerFingerprint, i.PeerPubkeyFingerprint)
}

// ClientPeerCertLine is the client role's peer certificate log line, as
// the installed release words it.
func (i Info) ClientPeerCertLine(namaddr string) string {
	if i.peerCert == pfversion.PeerCert39 {
		return i.peerCertLine39(strings.ToLower(namaddr))
	}
	return fmt.Sprintf("%s: subject_CN=%s, issuer_CN=%s, fingerprint=%s, pkey_fingerprint=%s",
		namaddr, i.PeerCN, i.IssuerCN, i.PeerFingerprint, i.PeerPubkeyFingerprint)
}

// peerCertLine39 is the line of 3.9 and later, both roles: each
// fingerprint only when there is one.
func (i Info) peerCertLine39(namaddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: subject_CN=%s, issuer=%s", namaddr, i.PeerCN, i.IssuerCN)
	if i.PeerFingerprint != "" {
		b.WriteString(", cert fingerprint=" + i.PeerFingerprint)
	}
	if i.PeerPubkeyFingerprint != "" {
		b.WriteString(", pkey fingerprint=" + i.PeerPubkeyFingerprint)
	}
	return b.String()
}

// PeerCertWanted reports whether the server role logs the peer
// certificate line at mask: 2.8 at every log level from 1, later
// releases with "peercert" or at level 2.
func (i Info) PeerCertWanted(mask LogMask) bool {
	if i.peerCert == pfversion.PeerCert28 {
		return mask&(LogSummary|LogPeerCert|LogVerbose) != 0
	}
	return mask&(LogPeerCert|LogVerbose) != 0
}

// Context returns the TLS context reply (3.6+ order, 22 attributes).
func (i Info) Context(namaddr string) []NameValue {
	itoa := strconv.Itoa
	return []NameValue{
		{"peer_CN", i.PeerCN},
		{"issuer_CN", i.IssuerCN},
		{"peer_fingerprint", i.PeerFingerprint},
		{"peer_pubkey_fingerprint", i.PeerPubkeyFingerprint},
		{"level", itoa(i.Level)},
		{"peer_status", itoa(i.PeerStatus)},
		{"cipher_protocol", i.Protocol},
		{"cipher_name", i.CipherName},
		{"cipher_usebits", itoa(i.CipherUseBits)},
		{"cipher_algbits", itoa(i.CipherAlgBits)},
		{"key_exchange", i.KexName},
		{"key_exchange_curve", i.KexCurve},
		{"key_exchange_bits", itoa(i.KexBits)},
		{"clnt_signature", i.ClientSig.Name},
		{"clnt_signature_curve", i.ClientSig.Curve},
		{"clnt_signature_bits", itoa(i.ClientSig.Bits)},
		{"clnt_signature_digest", i.ClientSig.Digest},
		{"srvr_signature", i.ServerSig.Name},
		{"srvr_signature_curve", i.ServerSig.Curve},
		{"srvr_signature_bits", itoa(i.ServerSig.Bits)},
		{"srvr_signature_digest", i.ServerSig.Digest},
		{"namaddr", strings.ToLower(namaddr)},
	}
}
