package pfversion

// TLSLog is how a release's TLS code reports a handshake: in the summary
// line ("… TLS connection established …") and in the key-exchange
// attributes of the context reply.
type TLSLog struct {
	// Details: for TLS 1.3 the summary line goes on after the bit counts
	// with the key exchange and the signatures (tls_log_summary, 3.4+).
	// Before 3.4 it ends with "(N/M bits)".
	Details bool
	// GroupNames: the key exchange is named by OpenSSL's name of the
	// negotiated group ("x25519", "secp256r1", "X25519MLKEM768"), with no
	// curve in parentheses (3.10 from snapshot 20240923). Before, it is
	// named from the peer's key: "X25519", or "ECDHE (prime256v1)".
	GroupNames bool
	// ResumedSignatures: a resumed TLS 1.3 session still reports the
	// signature names (without digests) of the certificates' keys.
	// Postfix stopped that in 3.10 (snapshot 20250215) and in 3.6.17,
	// 3.7.13, 3.8.8 and 3.9.2; 3.4 and 3.5 never did.
	ResumedSignatures bool
	// PeerCert is the shape of the peer certificate line.
	PeerCert PeerCertShape
}

// PeerCertShape is the wording of the peer certificate log line.
type PeerCertShape int

// The peer certificate lines.
const (
	// PeerCert29: "subject_CN=…, issuer=…, fingerprint=…,
	// pkey_fingerprint=…" (server role, 2.9 – 3.8; the client role
	// has "issuer_CN="), at log level 2 or with "peercert".
	PeerCert29 PeerCertShape = iota
	// PeerCert28: "Trusted: subject_CN=…, issuer=…, fingerprint=…"
	// (or "Untrusted: "), at every log level from 1 (2.8).
	PeerCert28
	// PeerCert39: "subject_CN=…, issuer=…, cert fingerprint=…, pkey
	// fingerprint=…" in both roles (3.9 from snapshot 20230807).
	PeerCert39
)

// tlsLogs lists the releases where TLSLog changed, oldest first.
var tlsLogs = []struct {
	since Version
	log   TLSLog
}{
	{Version{Major: 2, Minor: 8}, TLSLog{PeerCert: PeerCert28}},
	{Version{Major: 2, Minor: 9}, TLSLog{}},
	{Version{Major: 3, Minor: 4}, TLSLog{Details: true}},
	{Version{Major: 3, Minor: 9, Snapshot: 20230807}, TLSLog{Details: true, PeerCert: PeerCert39}},
	{Version{Major: 3, Minor: 10, Snapshot: 20240923}, TLSLog{Details: true, GroupNames: true, PeerCert: PeerCert39}},
}

// resumedSignaturesFixed lists, per series, the first release whose
// resumed sessions report no signatures.
var resumedSignaturesFixed = []Version{
	{Major: 3, Minor: 6, Patch: 17}, {Major: 3, Minor: 7, Patch: 13}, {Major: 3, Minor: 8, Patch: 8},
	{Major: 3, Minor: 9, Patch: 2}, {Major: 3, Minor: 10, Snapshot: 20250215},
}

// TLSLog returns how v reports handshakes. The zero Version (release
// unknown) gets 3.7's, Debian 12's.
func (v Version) TLSLog() TLSLog {
	if v.Major == 0 {
		v = Version{Major: 3, Minor: 7, Patch: 11}
	}
	log := tlsLogs[0].log
	for _, e := range tlsLogs {
		if v.since(e.since) {
			log = e.log
		}
	}
	if log.Details {
		log.ResumedSignatures = v.minor() < 310 // 3.4, 3.5: never fixed
		for _, fix := range resumedSignaturesFixed {
			if v.Major == fix.Major && v.Minor == fix.Minor {
				// A series' snapshots come before its releases.
				log.ResumedSignatures = !v.since(fix) || (v.Snapshot != 0 && fix.Snapshot == 0)
			}
		}
	}
	return log
}

// since reports whether v is o or later. A snapshot of a series comes
// before the series' releases and after its earlier snapshots; o with
// Patch set and no Snapshot counts snapshots of its series as later
// (atLeast).
func (v Version) since(o Version) bool {
	if o.Snapshot != 0 {
		return v.snapshotAtLeast(o.Major, o.Minor, o.Snapshot)
	}
	return v.atLeast(o.Major, o.Minor, o.Patch)
}
