package interop

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tlsproxy/internal/pftest"
)

// sniTables is a set of tls_server_sni_maps tables of every type both
// implementations read, made by Postfix's own postmap, and the chain
// files they name.
type sniTables struct {
	root    string // the Debian release tree Postfix runs in ("" = this machine)
	dir     string // host path
	treeDir string // dir as Postfix sees it
	maps    string // the tls_server_sni_maps value
	static  string // a static: table for the second postscreen
	cdbSrc  string // source of the cdb table, rewritten by the change test
	chain   func(cn string) string
	postmap func(t *testing.T, typ, src string)
}

// sniIndexed are the indexed table types made with postmap -F.
var sniIndexed = []string{"hash", "btree", "lmdb", "cdb"}

func makeSNITables(t *testing.T, root string) *sniTables {
	t.Helper()
	for _, typ := range []string{"cdb", "lmdb", "pcre"} {
		if _, err := os.Stat(root + "/usr/lib/postfix/postfix-" + typ + ".so"); err != nil {
			t.Fatalf("Postfix's %s support is missing in %q (Debian package postfix-%s; scripts/install-deps.sh installs it)", typ, root+"/", typ)
		}
	}
	dir, err := os.MkdirTemp(root+"/tmp", "tlsproxy-sni-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		}
	})
	ca := pftest.NewCAKey(t, "SNI Test CA", pftest.KeyECDSA256)
	files := map[string][]byte{}
	tree := func(p string) string { return strings.TrimPrefix(p, root) }
	chain := func(cn string) string { return filepath.Join(tree(dir), cn+".pem") }
	issue := func(cn, keyType string, names ...string) []byte {
		cert, key := ca.Issue(t, cn, names, keyType)
		return cat(key, cert, ca.CertPEM)
	}
	for _, typ := range append([]string{"texthash", "inline", "regexp", "pcre", "static"}, sniIndexed...) {
		files[typ+".sni.test.pem"] = issue(typ+".sni.test", pftest.KeyECDSA256, typ+".sni.test")
	}
	files["changed.sni.test.pem"] = issue("changed.sni.test", pftest.KeyECDSA256, "changed.sni.test")
	// a.example.net has an RSA and an ECDSA chain, in two files.
	files["a.example.net.pem"] = issue("a.example.net", pftest.KeyRSA2048, "a.example.net")
	files["a-ec.example.net.pem"] = issue("a-ec.example.net", pftest.KeyECDSA256, "a.example.net")
	files["wild.example.org.pem"] = issue("wild.example.org", pftest.KeyECDSA256, "*.example.org")
	cert, key := ca.Issue(t, "broken.sni.test", nil, pftest.KeyECDSA256)
	files["broken.sni.test.pem"] = cat(cert, key) // certificate before its key
	pftest.WriteFiles(t, dir, files)

	cf := filepath.Join(dir, "postmap-cf")
	if err := os.Mkdir(cf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cf, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := &sniTables{root: root, dir: dir, treeDir: tree(dir), chain: chain}
	st.postmap = func(t *testing.T, typ, src string) {
		t.Helper()
		name := filepath.Join(dir, "sni-"+typ)
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"/usr/sbin/postmap", "-c", tree(cf), "-F", typ + ":" + tree(name)}
		if root != "" {
			args = append([]string{"chroot", root}, args...)
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("postmap -F %s:%s: %v\n%s", typ, name, err, out)
		}
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	texthash := write("sni.texthash", fmt.Sprintf("# texthash\ntexthash.sni.test %s\nA.Example.NET %s,\n    %s\nbroken.sni.test %s\n",
		chain("texthash.sni.test"), chain("a.example.net"), chain("a-ec.example.net"), chain("broken.sni.test")))
	re := write("sni.regexp", fmt.Sprintf("if /sni\\.test$/\n/^regexp\\./ %s\nendif\n", chain("regexp.sni.test")))
	pcre := write("sni.pcre", fmt.Sprintf("/^pcre\\.sni\\.test$/ %s\n", chain("pcre.sni.test")))
	items := []string{"texthash:" + tree(texthash), fmt.Sprintf("inline:{ inline.sni.test=%s }", chain("inline.sni.test")),
		"regexp:" + tree(re), "pcre:" + tree(pcre)}
	for _, typ := range sniIndexed {
		src := fmt.Sprintf("%s.sni.test %s\n", typ, chain(typ+".sni.test"))
		if typ == "hash" {
			src += ".example.org " + chain("wild.example.org") + "\n"
		}
		if typ == "cdb" {
			st.cdbSrc = src
		}
		st.postmap(t, typ, src)
		items = append(items, typ+":"+filepath.Join(tree(dir), "sni-"+typ))
	}
	st.maps = strings.Join(items, ", ")
	st.static = "static:" + chain("static.sni.test")
	return st
}

// sniInstance starts an instance of bin (chroot jail on, so the tables
// must be read before it) with st's tables, and two more postscreens, on
// the ports returned, whose tlsproxy services have the static: table and
// a fail: table.
func sniInstance(t *testing.T, name, bin string, st *sniTables) (*instance, []int) {
	t.Helper()
	extra, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	port2, port3 := extra[0], extra[1]
	in := onceFor(t, "sni/"+name, func() (*instance, error) {
		more := []string{"--chroot", "y",
			"--main", "tls_server_sni_maps = " + st.maps,
			"--master-line", fmt.Sprintf("127.0.0.1:%d inet n - n - 1 postscreen", port2),
			"--master-line", "  -o tlsproxy_service_name=tlsproxy2",
			"--master-line", "tlsproxy2 unix - - y - 0 tlsproxy",
			"--master-line", "  -o tls_server_sni_maps=" + st.static,
			"--master-line", fmt.Sprintf("127.0.0.1:%d inet n - n - 1 postscreen", port3),
			"--master-line", "  -o tlsproxy_service_name=tlsproxy3",
			"--master-line", "tlsproxy3 unix - - y - 0 tlsproxy",
			"--master-line", "  -o tls_server_sni_maps=fail:sni"}
		if st.root == "" {
			in, _, err := startWith(bin, more...)
			return in, err
		}
		// Another release's Postfix, under chroot(8) in its tree: the
		// instance lives inside the tree.
		dir, err := os.MkdirTemp(st.root+"/tmp", "tlsproxy-interop-")
		if err != nil {
			return nil, err
		}
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		in := &instance{dir: dir}
		return in, in.start(bin, ports, append([]string{"--root", st.root}, more...)...)
	})
	return in, extra
}

// sniOutcome is what a client saw: the served leaf's common name, or the
// handshake error.
type sniOutcome struct {
	cn, err string
	port    int
}

// sniSession runs STARTTLS through postscreen at addr and a TLS handshake
// that sends sni; suites, when set, limit the client to TLS 1.2 and those
// suites (how a client asks for one key type).
func sniSession(t *testing.T, addr, sni string, suites []uint16) sniOutcome {
	t.Helper()
	c := dialSMTP(t, addr)
	c.greetAndStartTLS()
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true}
	if suites != nil {
		cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, suites
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.Handshake(); err != nil {
		return sniOutcome{err: err.Error(), port: c.port}
	}
	cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.expect("QUIT", 221, "221 ")
	return sniOutcome{cn: cn, port: c.port}
}

// TestSNIMaps: through real postscreen, ours and Debian's tlsproxy serve
// the same certificate for the same SNI names with tls_server_sni_maps
// tables of every type both read (made by postmap), and log the same
// lines for unmatched and invalid names and broken chain data.
func TestSNIMaps(t *testing.T) {
	requireInterop(t)
	sniMaps(t, makeSNITables(t, ""), impls)
}

// TestSNIMapsDeb13 is TestSNIMaps with Debian 13's Postfix 3.10 (its
// postmap, postscreen and C tlsproxy) in the tree of scripts/debian13.sh.
func TestSNIMapsDeb13(t *testing.T) {
	requireInterop(t)
	root := os.Getenv("TLSPROXY_DEB13_ROOT")
	if root == "" {
		root = "/var/lib/tlsproxy-test/trixie"
	}
	if _, err := os.Stat(root + "/usr/lib/postfix/sbin/tlsproxy"); err != nil {
		t.Skipf("no Debian 13 tree at %s (scripts/debian13.sh makes it): %v", root, err)
	}
	sniMaps(t, makeSNITables(t, root), []impl{
		{"debian13", func(*testing.T) string { return root + "/usr/lib/postfix/sbin/tlsproxy" }},
		{"ours13", ourBinary},
	})
}

// sniMaps runs the cases through an instance of each implementation and
// compares what they served; the first implementation is the reference.
func sniMaps(t *testing.T, st *sniTables, impls []impl) {
	rsa := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	ec := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	type sniCase struct {
		sni    string
		suites []uint16
		via    int    // 1: through the postscreen whose tlsproxy has static:, 2: fail:
		cn     string // "" = the handshake fails
		log    string // a line both must log (%d: the client's port)
	}
	cases := []sniCase{
		{sni: "A.EXAMPLE.net", suites: rsa, cn: "a.example.net"},
		{sni: "a.example.net", suites: ec, cn: "a-ec.example.net"},
		{sni: "a.example.net", cn: "a.example.net"}, // Go's client lists RSA-PSS first
		{sni: "x.y.example.org", cn: "wild.example.org"},
		{sni: "example.org", cn: "localhost",
			log: `postfix/tlsproxy\[\d+\]: TLS SNI example.org from \[127.0.0.1\]:%d not matched, using default chain`},
		{sni: "bad..name", cn: "localhost",
			log: `postfix/tlsproxy\[\d+\]: warning: TLS SNI from \[127.0.0.1\]:%d is invalid: bad..name`},
		{sni: "broken.sni.test", log: `postfix/tlsproxy\[\d+\]: warning: error loading chain from SNI data for broken.sni.test: key not first\n` +
			`.*postfix/tlsproxy\[\d+\]: warning: error loading private keys and certificates from: SNI data for broken.sni.test: aborting TLS handshake`},
		{sni: "any.name.example", via: 1, cn: "static.sni.test"},
		{sni: "any.name.example", via: 2, log: `postfix/tlsproxy\[\d+\]: warning: fail:sni lookup error for "any.name.example"\n` +
			`.*postfix/tlsproxy\[\d+\]: warning: tls_server_sni_maps: any.name.example map lookup problem`},
	}
	for _, typ := range append([]string{"texthash", "inline", "regexp", "pcre"}, sniIndexed...) {
		sni := typ + ".sni.test"
		if typ == "inline" {
			sni = "INLINE.sni.test"
		}
		cases = append(cases, sniCase{sni: sni, cn: typ + ".sni.test"})
	}
	got := map[string][]string{}
	var order []string
	for _, im := range impls {
		order = append(order, im.name)
		in, extra := sniInstance(t, im.name, im.binary(t), st)
		for _, c := range cases {
			addr := in.addr()
			if c.via > 0 {
				addr = fmt.Sprintf("127.0.0.1:%d", extra[c.via-1])
			}
			off := in.logSize(t)
			o := sniSession(t, addr, c.sni, c.suites)
			outcome := o.cn
			if o.err != "" {
				outcome = "handshake failed"
			}
			got[im.name] = append(got[im.name], outcome)
			want := c.cn
			if want == "" {
				want = "handshake failed"
			}
			if outcome != want {
				t.Errorf("%s: SNI %q (suites %v): %s (%s), want %s", im.name, c.sni, c.suites, outcome, o.err, want)
			}
			if c.log != "" {
				re := c.log
				if strings.Contains(re, "%d") {
					re = fmt.Sprintf(re, o.port)
				}
				in.waitLog(t, off, regexp.MustCompile(re))
			}
		}
		// No warning about the tables or SNI but those of the cases and
		// the TLS library's words for an aborted handshake (other
		// settings' warnings are other tests' business).
		var expected []*regexp.Regexp
		for _, c := range cases {
			for _, part := range strings.Split(c.log, `\n.*`) {
				if part != "" {
					expected = append(expected, regexp.MustCompile(strings.ReplaceAll(part, "%d", `\d+`)))
				}
			}
		}
		data, _ := os.ReadFile(in.log)
	lines:
		for _, l := range strings.Split(string(data), "\n") {
			if !strings.Contains(l, "/tlsproxy") || !(strings.Contains(l, "warning:") || strings.Contains(l, "error:")) ||
				!strings.Contains(strings.ToLower(l), "sni") || strings.Contains(l, "TLS library problem:") {
				continue
			}
			for _, re := range expected {
				if re.MatchString(l) {
					continue lines
				}
			}
			t.Errorf("%s: unexpected line: %s", im.name, l)
		}
	}
	for _, name := range order {
		t.Logf("served (%s): %q", name, got[name])
	}
	if a, b := order[0], order[1]; fmt.Sprint(got[a]) != fmt.Sprint(got[b]) {
		t.Errorf("different certificates served:\n%s %q\n%s %q", a, got[a], b, got[b])
	}
}

// TestSNITableChange: when an indexed table is rebuilt, our process logs
// Postfix's line, finishes and exits; the next process reads the new
// table. (Postfix's own tlsproxy does not check its tables.)
func TestSNITableChange(t *testing.T) {
	requireInterop(t)
	st := makeSNITables(t, "")
	in, _ := sniInstance(t, "ours-change", ourBinary(t), st)
	if o := sniSession(t, in.addr(), "changed.sni.test", nil); o.cn != "localhost" {
		t.Fatalf("before the change: served %q (%s), want the default chain", o.cn, o.err)
	}
	off := in.logSize(t)
	st.postmap(t, "cdb", st.cdbSrc+"changed.sni.test "+st.chain("changed.sni.test")+"\n")
	changedRe := regexp.MustCompile(`postfix/tlsproxy\[\d+\]: table cdb:` + regexp.QuoteMeta(filepath.Join(st.treeDir, "sni-cdb")) +
		`\(0,lock\|fold_fix\|src_rhs_is_file\) has changed - finishing in the background`)
	// The process asks at most once a second, when a session arrives;
	// each session lasts over a second (postscreen_greet_wait).
	var seen bool
	for i := 0; i < 5 && !seen; i++ {
		sniSession(t, in.addr(), "cdb.sni.test", nil)
		data, err := os.ReadFile(in.log)
		if err != nil {
			t.Fatal(err)
		}
		seen = changedRe.Match(data[off:])
	}
	if !seen {
		data, _ := os.ReadFile(in.log)
		t.Fatalf("no %q line after 5 sessions; log:\n%s", changedRe, data[off:])
	}
	if o := sniSession(t, in.addr(), "changed.sni.test", nil); o.cn != "changed.sni.test" {
		t.Errorf("after the change: served %q (%s), want changed.sni.test", o.cn, o.err)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
