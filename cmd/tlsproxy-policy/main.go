// Command tlsproxy-policy prints the TLS policy that tlsproxy (this
// project's replacement for Postfix's tlsproxy(8)) would apply in the
// server role, from the same main.cf and -o overrides the daemon reads,
// and checks it for monitoring:
//
//	tlsproxy-policy [-c config_dir] [-s service] [-w days] [-o name=value ...]
//
// Without -c, $MAIL_CONFIG or /etc/postfix is used. With -s, the -o
// options of that master.cf service ("tlsproxy", or "name/type" as
// postconf -M names it) apply first, then those of the command line. The
// report lists the protocol versions and, for each, the cipher suites a
// client can get (OpenSSL names, in OpenSSL's order; a TLS 1.2 client
// gets its most preferred one, a TLS 1.3 client Go's choice), the
// certificates with key type and expiry, the client certificate settings,
// the warnings the daemon logs at start and every setting this
// implementation cannot honour. It plays the part of "postconf | grep
// tlsproxy_tls" plus "openssl ciphers" for an OpenSSL based Postfix.
//
// The exit status tells a monitoring check what is wrong (the last line
// of the report says it too):
//
//	0  the server role is enabled and no certificate expires within -w days
//	1  tlsproxy would not start (unreadable main.cf or master.cf, a bad
//	   parameter value, an invalid security level)
//	2  usage: a bad option, or -s names no tlsproxy service of master.cf
//	3  the server role is disabled: security level none (or empty), or a
//	   start-up problem other than certificates (see the warnings)
//	4  TLS is wanted but no server certificate loads
//	5  a certificate has expired, is not yet valid, or expires within
//	   -w days (default 0)
package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"tlsproxy/internal/conf"
	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlsconf"
	"tlsproxy/internal/tlspolicy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv("MAIL_CONFIG"), os.Stdout, os.Stderr, time.Now()))
}

// overrides collects repeated -o options.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, " ") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

// run is the whole program; mailConfig is $MAIL_CONFIG, now the time
// against which certificate expiry is shown.
func run(args []string, mailConfig string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("tlsproxy-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("c", "", "Postfix configuration directory (default $MAIL_CONFIG or /etc/postfix)")
	var opts overrides
	fs.Var(&opts, "o", "main.cf override name=value, as in master.cf (repeatable)")
	service := fs.String("s", "", "apply the -o options of this master.cf service first (name or name/type)")
	warnDays := fs.Int("w", 0, "exit 5 when a certificate expires within this many days")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tlsproxy-policy: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *dir == "" {
		*dir = mailConfig
	}
	if *service != "" { // service.go
		svcOpts, desc, err := serviceOverrides(*dir, *service)
		if err != nil {
			fmt.Fprintf(stderr, "tlsproxy-policy: fatal: %v\n", err)
			if errors.Is(err, errNoService) {
				return 2
			}
			return 1
		}
		fmt.Fprintln(stdout, desc)
		opts = append(svcOpts, opts...)
	}
	var warnings []string
	log := logs.Lines(func(w string) { warnings = append(warnings, w) })
	cfg, err := conf.Load(*dir, opts, log)
	if err != nil {
		fmt.Fprintf(stderr, "tlsproxy-policy: fatal: %v\n", err)
		return 1
	}
	if v, err := tlsconf.InstalledRelease(cfg); err == nil {
		tlsconf.UseRelease(cfg, v) // the defaults of the installed Postfix
	}
	settings, err := tlsconf.Load(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlsproxy-policy: fatal: %v\n", err)
		return 1
	}
	srv, err := tlspolicy.NewServer(settings, log)
	if err != nil {
		fmt.Fprintf(stderr, "tlsproxy-policy: fatal: %v\n", err)
		return 1
	}
	report(stdout, settings, srv, warnings, now)
	for _, l := range sniReport(cfg) { // sni.go
		fmt.Fprintln(stdout, l)
	}
	code, why := checkStatus(settings, srv, now, *warnDays) // status.go
	if code != 0 {
		fmt.Fprintf(stdout, "status %d: %s\n", code, why)
	}
	return code
}

// versionNames are OpenSSL's protocol names, newest first.
var versionNames = []struct {
	v    uint16
	name string
}{
	{tls.VersionTLS13, "TLSv1.3"}, {tls.VersionTLS12, "TLSv1.2"}, {tls.VersionTLS11, "TLSv1.1"}, {tls.VersionTLS10, "TLSv1"},
}

func report(w io.Writer, s tlspolicy.ServerSettings, srv *tlspolicy.Server, warnings []string, now time.Time) {
	line := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	level := s.SecurityLevel
	if level == "" {
		level = "(empty: tlsproxy_use_tls / tlsproxy_enforce_tls)"
	}
	if srv.Enabled {
		line("server role: enabled, security level %s", level)
	} else {
		line("server role: DISABLED (every request gets status 0), security level %s", level)
	}
	if srv.Enabled {
		protoParam, gradeParam := "tlsproxy_tls_protocols", "tlsproxy_tls_ciphers"
		if srv.Enforce {
			protoParam, gradeParam = "tlsproxy_tls_mandatory_protocols", "tlsproxy_tls_mandatory_ciphers"
		}
		var protos []string
		for _, v := range srv.Versions() {
			protos = append(protos, tlspolicy.ProtocolName(v))
		}
		line("protocols: %s (%s)", strings.Join(protos, " "), protoParam)
		line("cipher grade: %s (%s), exclusions: %s", srv.CipherGrade, gradeParam, orNone(strings.Join(srv.CipherExclusions, " ")))
		line("cipher list: %s", srv.CipherList)
		for _, vn := range versionNames {
			var names []string
			for _, id := range srv.Offered(vn.v) {
				names = append(names, tlspolicy.OpenSSLCipherName(id))
			}
			if len(names) > 0 || slices.Contains(srv.Versions(), vn.v) {
				line("ciphers %s: %s", vn.name, orNone(strings.Join(names, " ")))
			}
		}
		line("key exchange groups: %s", tlspolicy.DescribeGroups(srv.Options))
		for _, c := range srv.Certificates() {
			line("certificate: %s", describeCert(c, now))
		}
		switch {
		case srv.RequireCert:
			line("client certificates: requested and required (reported only, never enforced by tlsproxy)")
		case srv.AskCert:
			line("client certificates: requested")
		default:
			line("client certificates: not requested")
		}
		if srv.AskCert {
			line("client CAs: CAfile %s, CApath %s, verify depth %d", orNone(s.CAfile), orNone(s.CApath), s.VerifyDepth)
		}
		line("fingerprint digest: %s", srv.Digest)
		line("log level: %s", orNone(s.LogLevel))
	}
	for _, x := range warnings {
		if !slices.Contains(srv.Ignored, x) { // those are listed below
			line("warning: %s", x)
		}
	}
	for _, x := range srv.Ignored {
		line("ignored: %s", x)
	}
}

func describeCert(c tls.Certificate, now time.Time) string {
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return "unparsable: " + err.Error()
		}
	}
	key := "unknown key"
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		key = fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		key = "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		key = "Ed25519"
	}
	state := fmt.Sprintf("%d days left", int(leaf.NotAfter.Sub(now).Hours()/24))
	switch {
	case now.After(leaf.NotAfter):
		state = "EXPIRED"
	case now.Before(leaf.NotBefore):
		state = "NOT YET VALID"
	}
	return fmt.Sprintf("%s, subject %s, issuer %s, expires %s (%s), chain of %d",
		key, leaf.Subject, leaf.Issuer, leaf.NotAfter.UTC().Format(time.RFC3339), state, len(c.Certificate))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
