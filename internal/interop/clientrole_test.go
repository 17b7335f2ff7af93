package interop

// Client role: smtp(8) with smtp_tls_connection_reuse = yes hands its
// outbound TLS to tlsproxy, which verifies the sink's certificate at the
// level smtp(8) asks for and reports the outcome; smtp(8) then delivers or
// defers. Every case is one recipient domain that transport_maps sends to
// its own loopback sink smtpd (its own port and certificate) and that
// smtp_tls_policy_maps gives its own level. Debian's tlsproxy and ours get
// the same instance layout and the same expectations.
//
// TLSA records cannot reach tlsproxy here: smtp(8) takes them from
// DNSSEC-validated DNS only, and these instances have no DNS. Without it
// smtp(8) turns "dane" into "may" (with a warning of its own) and defers
// "dane-only" mail itself, without asking tlsproxy; both are checked. DANE
// matching is covered by internal/tlsclient's unit tests; trust anchors
// (policy tafile=, sent to tlsproxy as TLSA usage 2) and fingerprints
// (sent as TLSA records too) are covered here.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tlsproxy/internal/tlspolicy"
)

// crCase is one delivery: recipient domain NAME.test goes through
// transport to [host]:PORT, a sink presenting the certificate of kind
// sink, under the TLS policy entry policy.
type crCase struct {
	name      string
	transport string // sinkrelay (defaults), sinkmatch (own match patterns), sinksha1 (sha1 fingerprints)
	host      string // next-hop host: localhost, or 127.0.0.1 for the connection cache
	sink      string // trusted, named, other or self (see crPKI)
	policy    func(p *crPKI) string
	sent      bool   // delivered (true) or deferred (false)
	reason    string // deferral reason; "" = Server certificate not verified
	word      string // tlsproxy's summary adjective; "" = tlsproxy is not used
	rules     []string
}

// Log rules: {TP} = tlsproxy's log tag, {NA} = the sink's namaddr,
// {PORT}, {QID}, {SMTP} = the transport's smtp tag, {SINK} = the sink's
// smtpd tag, {WORD}, {RELAY} and {REASON} of a deferral. A rule starting
// with "!" must not match.
const (
	crConnect     = `{TP}: CONNECT to \[127\.0\.0\.1\]:{PORT}$`
	crEstablished = `{TP}: {WORD} TLS connection established to {NA}: TLSv1\.3 with cipher \S+ \(\d+/\d+ bits\) key-exchange X25519(MLKEM768)? server-signature \S+ \(\w+( bits)?\) server-digest SHA256$`
	crSMTPTLS     = `{SMTP}: {WORD} TLS connection established to {NA}: TLSv1\.3 with cipher \S+ `
	crSinkTLS     = `{SINK}: Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.3 `
	crDisconnect  = `{TP}: DISCONNECT \[127\.0\.0\.1\]:{PORT}$`
	crSent        = `{SMTP}: {QID}: to=<[^>]+>, relay={NA}, .*status=sent \(250 2\.0\.0 Ok: queued as \w+\)$`
	crDeferred    = `{SMTP}: {QID}: to=<[^>]+>, relay={RELAY}, .*status=deferred \({REASON}\)$`
	crNotVerified = `{SMTP}: {QID}: .*Server certificate not verified`
	// Postfix's verification failure lines (tls_verify.c wording).
	crUntrustedIssuer = `{TP}: certificate verification failed for {NA}: untrusted issuer /CN=Other Sink CA$`
	crSelfSigned      = `{TP}: certificate verification failed for {NA}: self-signed certificate$`
	crNameMismatch    = `{TP}: server certificate verification failed for {NA}: num=62:hostname mismatch$`
	crNoTLSA          = `{TP}: server certificate verification failed for {NA}: num=65:no matching DANE TLSA records$`
	// With no usable fingerprint or TLSA record, verification must fail.
	crUnspecified = `{TP}: server certificate verification failed for {NA}: num=1:unspecified certificate verification error$`
	crUnusableRR  = `{TP}: warning: {NA}: unusable TLSA RR: 3 [01] 255 [0-9A-F]+$`
	crUnusableFP  = `{TP}: warning: {NA}: all fingerprints unusable$`
)

var clientRoleCases = []crCase{
	// none: no STARTTLS, so smtp(8) never asks tlsproxy.
	{name: "none", transport: "sinkrelay", host: "127.0.0.1", sink: "trusted", sent: true,
		policy: func(*crPKI) string { return "none" }},
	{name: "may-trusted", transport: "sinkrelay", host: "localhost", sink: "trusted", sent: true, word: "Trusted",
		policy: func(*crPKI) string { return "may" }},
	{name: "may-untrusted", transport: "sinkrelay", host: "localhost", sink: "other", sent: true, word: "Untrusted",
		policy: func(*crPKI) string { return "may" }},
	{name: "may-selfsigned", transport: "sinkrelay", host: "localhost", sink: "self", sent: true, word: "Untrusted",
		policy: func(*crPKI) string { return "may" }},
	{name: "encrypt", transport: "sinkrelay", host: "localhost", sink: "other", sent: true, word: "Untrusted",
		policy: func(*crPKI) string { return "encrypt" }},
	// fingerprint: the CA does not matter, the digest does.
	{name: "fp-sha256-cert", transport: "sinkrelay", host: "localhost", sink: "other", sent: true, word: "Verified",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp256["trusted"] + "|" + p.fp256["other"] }},
	{name: "fp-sha256-pkey", transport: "sinkrelay", host: "localhost", sink: "self", sent: true, word: "Verified",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.pkfp256["self"] }},
	{name: "fp-sha256-bad", transport: "sinkrelay", host: "localhost", sink: "trusted", word: "Untrusted",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp256["other"] },
		rules:  []string{crNoTLSA}},
	{name: "fp-sha1-cert", transport: "sinksha1", host: "localhost", sink: "other", sent: true, word: "Verified",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp1["other"] }},
	{name: "fp-sha1-bad", transport: "sinksha1", host: "localhost", sink: "other", word: "Untrusted",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp1["trusted"] },
		rules:  []string{crNoTLSA}},
	// A fingerprint of the wrong length is unusable: nothing can match.
	{name: "fp-sha1-unusable", transport: "sinksha1", host: "localhost", sink: "other", word: "Untrusted",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp256["other"] },
		rules:  []string{crUnusableRR, crUnusableFP, crUnspecified}},
	{name: "fp-unusable-trusted", transport: "sinkrelay", host: "localhost", sink: "trusted", word: "Untrusted",
		policy: func(p *crPKI) string { return "fingerprint match=" + p.fp1["trusted"] },
		rules:  []string{crUnusableRR, crUnusableFP, crUnspecified}},
	// verify: CA trust (smtp_tls_CAfile) and smtp_tls_verify_cert_match
	// (hostname) or the policy's match=.
	{name: "verify", transport: "sinkrelay", host: "localhost", sink: "trusted", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "verify" }},
	{name: "verify-wrongname", transport: "sinkrelay", host: "localhost", sink: "named", word: "Untrusted",
		policy: func(*crPKI) string { return "verify" }, rules: []string{crNameMismatch}},
	{name: "verify-untrusted", transport: "sinkrelay", host: "localhost", sink: "other", word: "Untrusted",
		policy: func(*crPKI) string { return "verify" }, rules: []string{crUntrustedIssuer}},
	{name: "verify-selfsigned", transport: "sinkrelay", host: "localhost", sink: "self", word: "Untrusted",
		policy: func(*crPKI) string { return "verify" }, rules: []string{crSelfSigned}},
	{name: "verify-match", transport: "sinkrelay", host: "localhost", sink: "named", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "verify match=nomatch.test:mx.sink.test" }},
	{name: "verify-param", transport: "sinkmatch", host: "localhost", sink: "named", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "verify" }},
	// secure: smtp_tls_secure_cert_match (nexthop, dot-nexthop) or match=.
	{name: "secure", transport: "sinkrelay", host: "localhost", sink: "trusted", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "secure" }},
	{name: "secure-dot", transport: "sinkrelay", host: "localhost", sink: "named", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "secure match=.sink.test" }},
	{name: "secure-wrongname", transport: "sinkrelay", host: "localhost", sink: "named", word: "Untrusted",
		policy: func(*crPKI) string { return "secure match=sink.test" }, rules: []string{crNameMismatch}},
	{name: "secure-param", transport: "sinkmatch", host: "localhost", sink: "named", sent: true, word: "Verified",
		policy: func(*crPKI) string { return "secure" }},
	{name: "secure-untrusted", transport: "sinkrelay", host: "localhost", sink: "other", word: "Untrusted",
		policy: func(*crPKI) string { return "secure" }, rules: []string{crUntrustedIssuer}},
	// No DNSSEC: dane is may, dane-only mail is deferred by smtp(8).
	{name: "dane", transport: "sinkrelay", host: "localhost", sink: "trusted", sent: true, word: "Trusted",
		policy: func(*crPKI) string { return "dane" }},
	{name: "dane-only", transport: "sinkrelay", host: "localhost", sink: "trusted", reason: "client TLS configuration problem",
		policy: func(*crPKI) string { return "dane-only" }},
	// trust anchor files replace the CAfile.
	{name: "tafile", transport: "sinkrelay", host: "localhost", sink: "other", sent: true, word: "Verified",
		policy: func(p *crPKI) string { return "secure tafile=" + filepath.Join(p.dir, "otherca.pem") }},
	{name: "tafile-wrongca", transport: "sinkrelay", host: "localhost", sink: "trusted", word: "Untrusted",
		policy: func(p *crPKI) string { return "secure tafile=" + filepath.Join(p.dir, "otherca.pem") },
		rules:  []string{crNoTLSA}},
}

// crReuseNone is the destination of the plaintext reuse check.
var crReuseNone = crCase{name: "reuse-none", transport: "sinkrelay", host: "127.0.0.1", sink: "trusted",
	policy: func(*crPKI) string { return "none" }}

// crInstance is an instance with one sink per case.
type crInstance struct {
	*instance
	closeSink            *closeSink
	lmtpSink             *closeSink // lmtp.test, through lmtp(8)
	submitPort, sinkPort int
	ports                map[string]int // sink port by case name
}

// crPKI holds the sink certificates: "trusted" (test CA, localhost),
// "named" (test CA, mx.sink.test only), "other" (another CA, localhost,
// sent with its CA) and "self" (the instance's self-signed certificate,
// localhost), and their fingerprints as Postfix writes them.
type crPKI struct {
	dir                 string
	fp256, pkfp256, fp1 map[string]string
}

var (
	crPKIOnce sync.Once
	crFiles   map[string][]byte // file name → contents, the same for every instance
	crPKIErr  error
)

// writeClientRolePKI writes the PKI into dir; the self-signed certificate
// is made here too (pfinstance.sh keeps an existing tls/cert.pem), so
// that its fingerprints are known before the instance starts.
func writeClientRolePKI(dir, tlsDir string) (*crPKI, error) {
	crFiles, err := makeClientRolePKIOnce()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, tlsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	p := &crPKI{dir: dir, fp256: map[string]string{}, pkfp256: map[string]string{}, fp1: map[string]string{}}
	for name, data := range crFiles {
		path, mode := filepath.Join(dir, name), os.FileMode(0o644)
		switch name {
		case "self.pem":
			path = filepath.Join(tlsDir, "cert.pem")
		case "self.key":
			path, mode = filepath.Join(tlsDir, "key.pem"), 0o600
		}
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			return nil, err
		}
		kind, ok := strings.CutSuffix(name, ".pem")
		if !ok || strings.HasSuffix(kind, "ca") {
			continue
		}
		b, _ := pem.Decode(data)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		s256, s1, pk := sha256.Sum256(c.Raw), sha1.Sum(c.Raw), sha256.Sum256(c.RawSubjectPublicKeyInfo)
		p.fp256[kind], p.fp1[kind], p.pkfp256[kind] = tlspolicy.ColonHex(s256[:]), tlspolicy.ColonHex(s1[:]), tlspolicy.ColonHex(pk[:])
	}
	return p, nil
}

func makeClientRolePKIOnce() (map[string][]byte, error) {
	crPKIOnce.Do(func() { crFiles, crPKIErr = makeClientRolePKI() })
	return crFiles, crPKIErr
}

func makeClientRolePKI() (map[string][]byte, error) {
	now := time.Now()
	valid := [2]time.Time{now.Add(-time.Hour), now.Add(30 * 24 * time.Hour)}
	files := map[string][]byte{}
	certPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	ca, caKey, err := issueCert(certReq{cn: "Interop Sink CA", ca: true, when: valid}, nil, nil)
	if err != nil {
		return nil, err
	}
	other, otherKey, err := issueCert(certReq{cn: "Other Sink CA", ca: true, when: valid}, nil, nil)
	if err != nil {
		return nil, err
	}
	files["ca.pem"], files["otherca.pem"] = certPEM(ca.Raw), certPEM(other.Raw)
	for _, s := range []struct {
		kind, cn string
		parent   *x509.Certificate
		key      *ecdsa.PrivateKey
	}{
		{"trusted", "localhost", ca, caKey},
		{"named", "mx.sink.test", ca, caKey},
		{"other", "localhost", other, otherKey},
		{"self", "localhost", nil, nil},
	} {
		c, k, err := issueCert(certReq{cn: s.cn, names: []string{s.cn}, usage: x509.ExtKeyUsageServerAuth, when: valid}, s.parent, s.key)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		files[s.kind+".pem"] = certPEM(c.Raw)
		if s.kind == "other" { // a chain: leaf, then its CA
			files[s.kind+".pem"] = append(files[s.kind+".pem"], files["otherca.pem"]...)
		}
		files[s.kind+".key"] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return files, nil
}

// clientRoleInstanceFor starts (once per binary) an instance with a sink
// per case, the case tables in DIR/pki and the extra transports.
func clientRoleInstanceFor(t *testing.T, im impl) *crInstance {
	t.Helper()
	bin := im.binary(t)
	key := "clientrole:" + im.name
	onceFor(t, key, func() (*instance, error) {
		cr, err := startClientRoleInstance(bin, im.root())
		if cr == nil {
			return nil, err
		}
		crStarted.Store(key, cr)
		return cr.instance, err
	})
	cr, _ := crStarted.Load(key)
	return cr.(*crInstance)
}

var crStarted sync.Map // key → *crInstance

// startClientRoleInstance starts it for tlsproxy bin, with the Postfix of
// the Debian tree root ("" = this machine's).
func startClientRoleInstance(bin, root string) (*crInstance, error) {
	dir, err := newInstanceDirIn(root)
	if err != nil {
		return nil, err
	}
	in := &instance{dir: dir}
	pkiDir := filepath.Join(dir, "pki")
	p, err := writeClientRolePKI(pkiDir, filepath.Join(dir, "tls"))
	if err != nil {
		return nil, err
	}
	p.dir = treePath(root, pkiDir) // as the policy table's tafile= names it
	cases := append(append([]crCase(nil), clientRoleCases...), crReuseNone)
	ports, err := freePorts(3 + len(cases))
	if err != nil {
		return nil, err
	}
	cr := &crInstance{instance: in, sinkPort: ports[1], submitPort: ports[2], ports: map[string]int{}}
	sinkFiles := func(kind string) (string, string) {
		if kind == "self" {
			return filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
		}
		return filepath.Join(pkiDir, kind+".pem"), filepath.Join(pkiDir, kind+".key")
	}
	if cr.closeSink, err = startCloseSink(filepath.Join(pkiDir, "trusted.pem"), filepath.Join(pkiDir, "trusted.key")); err != nil {
		return nil, err
	}
	if cr.lmtpSink, err = startCloseSink(filepath.Join(pkiDir, "trusted.pem"), filepath.Join(pkiDir, "trusted.key")); err != nil {
		return nil, err
	}
	transport := fmt.Sprintf("sink.test sinkrelay:[127.0.0.1]:%d\nclosesink.test sinkrelay:[127.0.0.1]:%d\nlmtp.test lmtprelay:inet:[127.0.0.1]:%d\n",
		cr.sinkPort, cr.closeSink.port, cr.lmtpSink.port)
	var policy strings.Builder
	fmt.Fprintf(&policy, "[127.0.0.1]:%d may\n", cr.closeSink.port)
	args := append(rootArgs(root), "--chroot", "n", "--sink-cert", filepath.Join(pkiDir, "trusted.pem"), "--sink-key", filepath.Join(pkiDir, "trusted.key"),
		"--transport-maps", "texthash:"+filepath.Join(pkiDir, "transport"))
	for i, c := range cases {
		port := ports[3+i]
		cr.ports[c.name] = port
		next := fmt.Sprintf("[%s]:%d", c.host, port)
		transport += fmt.Sprintf("%s.test %s:%s\n", c.name, c.transport, next)
		fmt.Fprintf(&policy, "%s %s\n", next, c.policy(p))
		cert, key := sinkFiles(c.sink)
		args = append(args, "--master-line", fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd -o syslog_name=postfix/sink-%s"+
			" -o content_filter=discard:sink -o smtpd_tls_cert_file=%s -o smtpd_tls_key_file=%s", port, c.name, cert, key))
	}
	for name, data := range map[string]string{"transport": transport, "tls_policy": policy.String()} {
		if err := os.WriteFile(filepath.Join(pkiDir, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	for _, m := range []string{
		"smtp_tls_policy_maps = texthash:" + filepath.Join(pkiDir, "tls_policy"),
		"smtp_tls_CAfile = " + filepath.Join(pkiDir, "ca.pem"),
		// deferred mail is deferred at once; nothing should wait long
		"smtp_connect_timeout = 5s",
		"smtp_helo_timeout = 15s",
		"smtp_starttls_timeout = 15s",
		// the client role's lmtp sessions go to tlsmgr's lmtp cache
		"lmtp_tls_session_cache_database = btree:${data_directory}/lmtp_scache",
	} {
		args = append(args, "--main", m)
	}
	for _, l := range []string{
		// other match patterns for verify and secure
		"sinkmatch unix - - n - - smtp -o syslog_name=postfix/sinkmatch -o smtp_tls_connection_reuse=yes" +
			" -o smtp_tls_verify_cert_match=.sink.test -o smtp_tls_secure_cert_match=mx.sink.test",
		// sha1 fingerprints, with a tlsproxy service whose pre-jail
		// client settings agree (as Postfix's warning advises)
		"sinksha1 unix - - n - - smtp -o syslog_name=postfix/sinksha1 -o smtp_tls_connection_reuse=yes" +
			" -o smtp_tls_fingerprint_digest=sha1 -o tlsproxy_service_name=tlsproxy-sha1",
		"tlsproxy-sha1 unix - - n - 0 tlsproxy -o tlsproxy_client_fingerprint_digest=sha1",
		// lmtp(8) with TLS connection reuse, through a tlsproxy service
		// whose processes serve one session each (TestClientRoleLMTP)
		"lmtprelay unix - - n - - lmtp -o syslog_name=postfix/lmtprelay -o lmtp_tls_security_level=may" +
			" -o lmtp_tls_connection_reuse=yes -o lmtp_tls_loglevel=1 -o tlsproxy_service_name=tlsproxy-lmtp",
		"tlsproxy-lmtp unix - - n - 0 tlsproxy -o max_use=1",
	} {
		args = append(args, "--master-line", l)
	}
	return cr, in.start(bin, ports, args...)
}

// inject submits one message per recipient on the submit port, in one
// SMTP session, and returns the queue IDs.
func (cr *crInstance) inject(t *testing.T, rcpts ...string) []string {
	t.Helper()
	c := dialSMTP(t, fmt.Sprintf("127.0.0.1:%d", cr.submitPort))
	c.expect("", 220, "220 ")
	c.expect("EHLO client.test", 250, "250 ")
	var ids []string
	for _, r := range rcpts {
		c.expect("MAIL FROM:<tester@interop.localdomain>", 250, "250 ")
		c.expect("RCPT TO:<"+r+">", 250, "250 ")
		c.expect("DATA", 354, "354 ")
		lines := c.expect("Subject: client role test\r\n\r\nto "+r+"\r\n.", 250, "250 2.0.0 Ok: queued as ")
		ids = append(ids, strings.TrimPrefix(lines[len(lines)-1], "250 2.0.0 Ok: queued as "))
	}
	c.expect("QUIT", 221, "221 ")
	return ids
}

// crVars fills in a rule's placeholders.
func crVars(c crCase, port int, qid string) *strings.Replacer {
	na := regexp.QuoteMeta(fmt.Sprintf("%s[127.0.0.1]:%d", c.host, port))
	relay, reason := na, "Server certificate not verified"
	if c.word == "" && !c.sent { // smtp(8) gave up before connecting
		relay = "none"
	}
	if c.reason != "" {
		reason = regexp.QuoteMeta(c.reason)
	}
	return strings.NewReplacer(
		"{TP}", `postfix/tlsproxy\[\d+\]`,
		"{NA}", na,
		"{RELAY}", relay,
		"{REASON}", reason,
		"{PORT}", strconv.Itoa(port),
		"{QID}", qid,
		"{SMTP}", `postfix/`+c.transport+`/smtp\[\d+\]`,
		"{SINK}", `postfix/sink-`+regexp.QuoteMeta(c.name)+`/smtpd\[\d+\]`,
		"{WORD}", c.word)
}

// crRules is what must (or, with "!", must not) be in the log for c.
func crRules(c crCase) []string {
	rules := []string{crConnect, crEstablished, crSMTPTLS, crSinkTLS, crDisconnect}
	if c.word == "" { // tlsproxy stays out of it
		rules = []string{`!{TP}: CONNECT to \[127\.0\.0\.1\]:{PORT}$`, `!TLS connection established to {NA}`,
			`!{SINK}: .*TLS connection established`}
	}
	if c.sent {
		rules = append(rules, crSent, "!"+crNotVerified)
	} else {
		rules = append(rules, crDeferred, `!{SMTP}: {QID}: .*status=sent`)
	}
	return append(rules, c.rules...)
}

// crOutcome is one case's result in one instance.
type crOutcome struct {
	status string // sent, deferred, ...
	lines  string // tlsproxy's lines about the case's sink
	failed []string
}

var crStatusRE = regexp.MustCompile(`status=(\w+)`)

// TestClientRoleLevels delivers one message per case through smtp(8) and
// tlsproxy, with Debian's tlsproxy and ours, and checks the same rules
// against both logs; then compares the two outcomes case by case.
func TestClientRoleLevels(t *testing.T) {
	requireInterop(t)
	var omu sync.Mutex
	outcomes := map[string]map[string]crOutcome{} // impl → case → outcome
	logs := map[string]string{}                   // impl → log of all deliveries
	t.Run("impls", func(t *testing.T) {
		for _, im := range impls {
			t.Run(im.name, func(t *testing.T) {
				t.Parallel()
				cr := clientRoleInstanceFor(t, im)
				offset := cr.logSize(t)
				var rcpts []string
				for _, c := range clientRoleCases {
					rcpts = append(rcpts, "rcpt@"+c.name+".test")
				}
				ids := cr.inject(t, rcpts...)
				got := map[string]crOutcome{}
				var seg string
				for i, c := range clientRoleCases {
					port := cr.ports[c.name]
					v := crVars(c, port, ids[i])
					seg = cr.waitLog(t, offset, regexp.MustCompile(v.Replace(`(?m){SMTP}: {QID}: to=.*status=`)))
					if c.word != "" { // the session's end, after a cache timeout at worst
						seg = cr.waitLog(t, offset, regexp.MustCompile("(?m)"+v.Replace(crDisconnect)))
					}
					o := crOutcome{lines: crLinesFor(seg, port, c.host)}
					if m := crStatusRE.FindStringSubmatch(grepLine(seg, ids[i]+": to=")); m != nil {
						o.status = m[1]
					}
					for _, r := range crRules(c) {
						want := !strings.HasPrefix(r, "!")
						expr := "(?m)" + v.Replace(strings.TrimPrefix(r, "!"))
						if regexp.MustCompile(expr).MatchString(seg) != want {
							o.failed = append(o.failed, r)
						}
					}
					got[c.name] = o
				}
				for _, c := range clientRoleCases {
					o := got[c.name]
					want := map[bool]string{true: "sent", false: "deferred"}[c.sent]
					if o.status != want {
						t.Errorf("%s: status=%s, want %s", c.name, o.status, want)
					}
					for _, r := range o.failed {
						t.Errorf("%s: log rule %s", c.name, crVars(c, cr.ports[c.name], "QID").Replace(r))
					}
					if o.status != want || len(o.failed) > 0 {
						t.Logf("%s: tlsproxy lines:\n%s", c.name, o.lines)
					}
				}
				if w := crUnexpectedWarnings(seg, cr); len(w) > 0 {
					t.Errorf("unexpected tlsproxy warnings:\n%s", strings.Join(w, "\n"))
				}
				if t.Failed() {
					t.Logf("log since the deliveries began:\n%s", seg)
				}
				omu.Lock()
				outcomes[im.name], logs[im.name] = got, seg
				omu.Unlock()
			})
		}
	})
	deb, ours := outcomes["debian"], outcomes["ours"]
	if deb == nil || ours == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-9s %-9s\n", "case", "debian", "ours")
	for _, c := range clientRoleCases {
		d, o := deb[c.name], ours[c.name]
		mark := ""
		switch {
		case d.status != o.status:
			mark = "  <- outcome differs"
		case strings.Join(d.failed, "\n") != strings.Join(o.failed, "\n"):
			mark = "  <- log differs"
		}
		if mark != "" {
			t.Errorf("%s: debian: status=%s, %d rules failed; ours: status=%s, %d rules failed\ndebian's tlsproxy lines:\n%sour tlsproxy lines:\n%s",
				c.name, d.status, len(d.failed), o.status, len(o.failed), d.lines, o.lines)
		}
		fmt.Fprintf(&b, "%-20s %-9s %-9s%s\n", c.name, d.status, o.status, mark)
	}
	t.Logf("side by side:\n%s", b.String())
	compareLineForms(t, "client role", logs["debian"], logs["ours"], false)
}

// crUnexpectedWarnings returns tlsproxy's warning (or worse) lines that
// no case's rules expect.
func crUnexpectedWarnings(seg string, cr *crInstance) []string {
	var expected []*regexp.Regexp
	for _, c := range clientRoleCases {
		for _, r := range c.rules {
			if strings.Contains(r, "warning:") {
				expected = append(expected, regexp.MustCompile(crVars(c, cr.ports[c.name], "").Replace(r)))
			}
		}
	}
	var bad []string
next:
	for _, line := range regexp.MustCompile(`(?m)^.*postfix/tlsproxy\[\d+\]: (warning|error|fatal|panic):.*$`).FindAllString(seg, -1) {
		for _, re := range expected {
			if re.MatchString(line) {
				continue next
			}
		}
		bad = append(bad, line)
	}
	return bad
}

// crLinesFor returns the tlsproxy lines about the sink host[addr]:port.
func crLinesFor(seg string, port int, host string) string {
	var b strings.Builder
	ep := fmt.Sprintf("[127.0.0.1]:%d", port)
	na := fmt.Sprintf("%s[127.0.0.1]:%d", host, port)
	for line := range strings.Lines(seg) {
		if strings.Contains(line, "postfix/tlsproxy[") && (strings.Contains(line, ep+"\n") || strings.Contains(line, na)) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// grepLine returns the first line of seg containing s.
func grepLine(seg, s string) string {
	for line := range strings.Lines(seg) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestClientRoleReuse sends two messages, one after the other, to the
// same destination. With TLS the second one must go over the cached
// tlsproxy session (conn_use=2, one CONNECT), and when scache drops it
// (connection_cache_ttl_limit, 5s) tlsproxy must end the TLS session with
// a close_notify. smtpd(8) logs the end of a session the same way with or
// without a close_notify, so that is checked with a sink of our own
// (closeSink). At level none smtp(8) caches its plaintext connection
// itself and tlsproxy is never involved.
func TestClientRoleReuse(t *testing.T) {
	requireInterop(t)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			cr := clientRoleInstanceFor(t, im)
			t.Run("smtpd-sink", func(t *testing.T) {
				t.Parallel()
				c := crCase{name: "sink.test", transport: "sinkrelay", host: "127.0.0.1", word: "Trusted"}
				offset, seg := crReuse(t, cr, c, cr.sinkPort)
				// No TLS errors on the sink's side of the session.
				pid := regexp.MustCompile(`postfix/sink/smtpd\[(\d+)\]: Anonymous TLS connection established from`).FindStringSubmatch(seg)
				if pid == nil {
					t.Fatalf("the sink logged no TLS session:\n%s", seg)
				}
				sink := `postfix/sink/smtpd\[` + pid[1] + `\]: `
				seg = cr.waitLog(t, offset, regexp.MustCompile(`(?m)`+sink+`disconnect from unknown\[127\.0\.0\.1\] ehlo=2 starttls=1 mail=2 rcpt=2 data=2 rset=1 commands=10$`))
				if bad := regexp.MustCompile(`(?m)^.*`+sink+`.*(SSL_read error|TLS library problem|warning).*$`).FindAllString(seg, -1); bad != nil {
					t.Errorf("TLS errors at the sink:\n%s", strings.Join(bad, "\n"))
				}
			})
			t.Run("close-notify", func(t *testing.T) {
				t.Parallel()
				c := crCase{name: "closesink", transport: "sinkrelay", host: "127.0.0.1", word: "Trusted"}
				crReuse(t, cr, c, cr.closeSink.port)
				select {
				case s := <-cr.closeSink.sessions:
					want := "EHLO STARTTLS EHLO MAIL RCPT DATA RSET MAIL RCPT DATA"
					if got := strings.Join(s.cmds, " "); got != want {
						t.Errorf("the sink got %s, want %s", got, want)
					}
					if s.end != endCloseNotify {
						t.Errorf("the TLS session to the sink ended with %s, want %s", s.end, endCloseNotify)
					}
				case <-time.After(15 * time.Second):
					t.Fatal("the sink's session did not end within 15s of tlsproxy's DISCONNECT")
				}
			})
			t.Run("none", func(t *testing.T) {
				t.Parallel()
				c := crReuseNone
				port := cr.ports[c.name]
				seg, qids := crTwoMessages(t, cr, c, port)
				v := crVars(c, port, qids[1])
				for _, r := range []string{
					`{SMTP}: {QID}: to=<[^>]+>, relay={NA}, conn_use=2, .*status=sent `,
					`!{TP}: CONNECT to \[127\.0\.0\.1\]:{PORT}$`,
					`!{SINK}: .*TLS connection established`,
				} {
					want := !strings.HasPrefix(r, "!")
					if regexp.MustCompile("(?m)"+v.Replace(strings.TrimPrefix(r, "!"))).MatchString(seg) != want {
						t.Errorf("log rule %q: matched=%v, want %v", v.Replace(r), !want, want)
					}
				}
				if t.Failed() {
					t.Logf("log:\n%s", seg)
				}
			})
		})
	}
}

// TestClientRoleLMTP delivers two messages, one after the other, through
// lmtp(8) with lmtp_tls_connection_reuse = yes to an LMTP sink of our
// own. Each goes over its own tlsproxy session (the first one has ended
// before the second message is sent) in its own tlsproxy process
// (max_use=1), so the second TLS handshake can resume the first session
// only through tlsmgr's lmtp session cache: the smtp cache is off in
// this instance, and a process's own memory is gone with it.
func TestClientRoleLMTP(t *testing.T) {
	requireInterop(t)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			cr := clientRoleInstanceFor(t, im)
			port := strconv.Itoa(cr.lmtpSink.port)
			tp := `postfix/tlsproxy\[(\d+)\]: `
			var pids []string
			for i, wantResumed := range []bool{false, true} {
				offset := cr.logSize(t)
				qid := cr.inject(t, "rcpt@lmtp.test")[0]
				seg := cr.waitLog(t, offset, regexp.MustCompile(`(?m)postfix/lmtprelay/lmtp\[\d+\]: `+qid+`: to=.*status=`))
				for _, r := range []string{
					`postfix/lmtprelay/lmtp\[\d+\]: ` + qid + `: to=<rcpt@lmtp\.test>, relay=\S+:` + port + `, .*status=sent \(250 2\.0\.0 Ok: queued as CLOSESINK\)`,
					`postfix/lmtprelay/lmtp\[\d+\]: \w+ TLS connection established to \S+:` + port + `: TLSv1\.3 `,
					tp + `\w+ TLS connection established to \S+:` + port + `: TLSv1\.3 `,
				} {
					if !regexp.MustCompile(`(?m)` + r).MatchString(seg) {
						t.Errorf("message %d: no log line matching /%s/\n%s", i+1, r, seg)
					}
				}
				t.Logf("message %d, tlsproxy lines:\n%s", i+1, tlsproxyLines(seg))
				if m := regexp.MustCompile(`(?m)` + tp + `CONNECT to \[127\.0\.0\.1\]:` + port + `$`).FindStringSubmatch(seg); m != nil {
					pids = append(pids, m[1])
				} else {
					t.Fatalf("message %d: tlsproxy logged no CONNECT to the sink:\n%s", i+1, seg)
				}
				select {
				case s := <-cr.lmtpSink.sessions:
					if got, want := strings.Join(s.cmds, " "), "LHLO STARTTLS LHLO MAIL RCPT DATA"; !strings.HasPrefix(got, want) {
						t.Errorf("message %d: the sink got %s, want %s first", i+1, got, want)
					}
					if s.resumed != wantResumed {
						t.Errorf("message %d: TLS session resumed = %v, want %v", i+1, s.resumed, wantResumed)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("message %d: the sink's session did not end within 30s", i+1)
				}
			}
			if len(pids) == 2 && pids[0] == pids[1] {
				t.Errorf("both sessions in tlsproxy process %s; want one process each (max_use=1)", pids[0])
			}
			t.Logf("tlsproxy processes %v", pids)
		})
	}
}

// crReuse sends two messages to c's domain through tlsproxy and checks
// that the second reused the first one's session, which ends after the
// cache time limit. It returns the log offset before the first message
// and the log from there up to the session's end.
func crReuse(t *testing.T, cr *crInstance, c crCase, port int) (int64, string) {
	t.Helper()
	return crReuseWith(t, cr, c, port, crEstablished)
}

// crReuseWith is crReuse with established as tlsproxy's "established"
// rule (the line differs by Postfix release).
func crReuseWith(t *testing.T, cr *crInstance, c crCase, port int, established string) (int64, string) {
	t.Helper()
	offset := cr.logSize(t)
	seg, qids := crTwoMessages(t, cr, c, port)
	v := crVars(c, port, qids[1])
	for _, r := range []string{
		crConnect, established, crSMTPTLS,
		`{SMTP}: {WORD} TLS connection reused to {NA}: TLSv1\.3 `,
		`{SMTP}: {QID}: to=<[^>]+>, relay={NA}, conn_use=2, .*status=sent `,
	} {
		if !regexp.MustCompile("(?m)" + v.Replace(r)).MatchString(seg) {
			t.Errorf("no log line matching /%s/", v.Replace(r))
		}
	}
	if n := len(regexp.MustCompile("(?m)"+v.Replace(crConnect)).FindAllString(seg, -1)); n != 1 {
		t.Errorf("%d tlsproxy sessions to the sink, want 1 for both messages", n)
	}
	seg = cr.waitLog(t, offset, regexp.MustCompile("(?m)"+v.Replace(crDisconnect)))
	if t.Failed() {
		t.Logf("log:\n%s", seg)
	}
	return offset, seg
}

// crTwoMessages sends a message to c's domain, waits until it is sent,
// then sends a second one and waits for it; it returns the log since the
// first and both queue IDs.
func crTwoMessages(t *testing.T, cr *crInstance, c crCase, port int) (string, []string) {
	t.Helper()
	offset := cr.logSize(t)
	rcpt := "rcpt@" + strings.TrimSuffix(c.name, ".test") + ".test"
	var qids []string
	var seg string
	for i := range 2 {
		qids = append(qids, cr.inject(t, rcpt)...)
		v := crVars(c, port, qids[i])
		seg = cr.waitLog(t, offset, regexp.MustCompile(v.Replace(`(?m){SMTP}: {QID}: to=.*status=`)))
		if !regexp.MustCompile("(?m)" + v.Replace(crSent)).MatchString(seg) {
			t.Fatalf("message %d (%s) not sent:\n%s", i+1, qids[i], seg)
		}
	}
	return seg, qids
}

// How a closeSink session ended.
const (
	endCloseNotify = "TLS close_notify"
	endTCPOnly     = "TCP end without TLS close_notify"
	endQuit        = "QUIT"
)

// closeSink is a minimal SMTP (and LMTP) server with STARTTLS on
// loopback that reports how each session ended: after a TLS
// close_notify, or with the TCP stream ending first; and whether its
// TLS session was a resumed one.
type closeSink struct {
	port     int
	cfg      *tls.Config
	sessions chan sinkSession
}

type sinkSession struct {
	cmds    []string // the command verbs, in order
	end     string   // endCloseNotify, endTCPOnly, endQuit or an error
	resumed bool     // the TLS handshake resumed an earlier session
}

// eofConn notes whether the TCP stream itself reached its end. crypto/tls
// reads a record's bytes and no more, so after a close_notify it reports
// io.EOF without ever reading the TCP end; it also reports io.EOF when the
// TCP stream ends at a record boundary, and then this flag is set.
type eofConn struct {
	net.Conn
	eof atomic.Bool
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

func startCloseSink(certFile, keyFile string) (*closeSink, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &closeSink{port: l.Addr().(*net.TCPAddr).Port, cfg: &tls.Config{Certificates: []tls.Certificate{cert}},
		sessions: make(chan sinkSession, 16)}
	go func() { // until the test binary exits
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *closeSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	raw := &eofConn{Conn: c}
	var conn net.Conn = raw
	r := bufio.NewReader(conn)
	var cmds []string
	resumed := false
	report := func(end string) {
		select {
		case s.sessions <- sinkSession{cmds, end, resumed}:
		default: // nobody is listening
		}
	}
	reply := func(lines ...string) { fmt.Fprint(conn, strings.Join(lines, "\r\n")+"\r\n") }
	reply("220 closesink.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			switch {
			case err == io.EOF && conn != raw && !raw.eof.Load():
				report(endCloseNotify)
			case err == io.EOF:
				report(endTCPOnly)
			default:
				report(err.Error())
			}
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		cmds = append(cmds, verb)
		switch verb {
		case "EHLO", "LHLO":
			if conn == raw {
				reply("250-closesink.test", "250 STARTTLS")
			} else {
				reply("250 closesink.test")
			}
		case "STARTTLS":
			reply("220 2.0.0 Ready to start TLS")
			tc := tls.Server(raw, s.cfg)
			if err := tc.Handshake(); err != nil {
				report("TLS handshake: " + err.Error())
				return
			}
			conn, r = tc, bufio.NewReader(tc)
			resumed = tc.ConnectionState().DidResume
		case "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 2.0.0 Ok")
		case "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			for line != ".\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					report("reading DATA: " + err.Error())
					return
				}
			}
			reply("250 2.0.0 Ok: queued as CLOSESINK")
		case "QUIT":
			reply("221 2.0.0 Bye")
			report(endQuit)
			return
		default:
			reply("502 5.5.2 Error: command not recognized")
		}
	}
}

// TestCloseSink checks that closeSink tells a close_notify from a bare
// TCP end, so that TestClientRoleReuse can fail.
func TestCloseSink(t *testing.T) {
	dir := t.TempDir()
	files, err := makeClientRolePKIOnce()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trusted.pem", "trusted.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), files[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := startCloseSink(filepath.Join(dir, "trusted.pem"), filepath.Join(dir, "trusted.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		close func(tlsConn *tls.Conn, raw net.Conn)
		want  string
	}{
		{"close_notify", func(tc *tls.Conn, _ net.Conn) { tc.Close() }, endCloseNotify},
		{"tcp only", func(_ *tls.Conn, raw net.Conn) { raw.Close() }, endTCPOnly},
		{"quit", func(tc *tls.Conn, _ net.Conn) {
			fmt.Fprint(tc, "QUIT\r\n")
			io.ReadAll(tc)
		}, endQuit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialSMTP(t, fmt.Sprintf("127.0.0.1:%d", s.port))
			c.greetAndStartTLS()
			tlsConn := tls.Client(c.raw, &tls.Config{InsecureSkipVerify: true})
			c.conn, c.r = tlsConn, bufio.NewReader(tlsConn)
			c.expect("EHLO client.test", 250, "250 ")
			tc.close(tlsConn, c.raw)
			select {
			case got := <-s.sessions:
				if got.end != tc.want {
					t.Errorf("session end %q, want %q", got.end, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no session report within 10s")
			}
		})
	}
}
