package interop

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// TestServerRoleIPv6 runs a STARTTLS session from [::1] through a
// postscreen listening on [::1]: postscreen names the client
// "[::1]:port" in its request, and tlsproxy gets an IPv6 socket. The
// log lines of both binaries must carry the IPv6 endpoint.
func TestServerRoleIPv6(t *testing.T) {
	forIPv6Impls(t, "ipv6", func(port6 int) []string {
		return []string{"--master-line", fmt.Sprintf("[::1]:%d inet n - n - 1 postscreen", port6)}
	}, func(t *testing.T, in *instance) {
		offset := in.logSize(t)
		c := dialSMTP(t, fmt.Sprintf("[::1]:%d", in.port6))
		c.greetAndStartTLS()
		st := c.handshake(in.cert)
		c.expect("EHLO client.test", 250, "250 ")
		c.expect("QUIT", 221, "221 ")
		ep := regexp.QuoteMeta(fmt.Sprintf("[::1]:%d", c.port))
		seg := in.waitLog(t, offset, regexp.MustCompile(`(?m)postfix/tlsproxy\[\d+\]: DISCONNECT `+ep+`$`))
		checkLog(t, seg, session{}, []logRule{
			{"CONNECT", `postfix/tlsproxy\[\d+\]: CONNECT from ` + ep + `$`, true},
			{"established", `postfix/tlsproxy\[\d+\]: Anonymous TLS connection established from ` + ep + `: TLSv1\.3 with cipher \S+ \(\d+/\d+ bits\) key-exchange ` + kexOf(st) + ` server-signature RSA-PSS \(2048 bits\) server-digest SHA256$`, true},
			{"no warning", `postfix/tlsproxy\[\d+\]: (warning|fatal|panic):`, false},
		})
		if !strings.Contains(seg, "postfix/postscreen") {
			t.Errorf("postscreen logged nothing for the session:\n%s", seg)
		}
	})
}

// forIPv6Impls runs test, for every implementation in parallel, on its
// instance with IPv6 on (ipv6Instance, key and the implementation's name
// as the key).
func forIPv6Impls(t *testing.T, key string, more func(port6 int) []string, test func(t *testing.T, in *instance)) {
	requireIPv6(t)
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			test(t, ipv6Instance(t, key+":"+im.name, im.binary(t), more))
		})
	}
}

// ipv6Instance starts (once per key) an instance of bin with IPv6 on,
// whose own [::1] port is in.port6; more gives the options that use it.
func ipv6Instance(t *testing.T, key, bin string, more func(port6 int) []string) *instance {
	t.Helper()
	return onceFor(t, key, func() (*instance, error) {
		port6, err := freePort6()
		if err != nil {
			return nil, err
		}
		in, _, err := startWith(bin, append([]string{"--chroot", "n", "--main", "inet_protocols = ipv4, ipv6"}, more(port6)...)...)
		if in != nil {
			in.port6 = port6
		}
		return in, err
	})
}

// requireIPv6 is requireInterop, and skips without an IPv6 loopback.
func requireIPv6(t *testing.T) {
	t.Helper()
	requireInterop(t)
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

// freePort6 returns a port free on both 127.0.0.1 and [::1].
func freePort6() (int, error) {
	for range 50 {
		ports, err := freePorts(1)
		if err != nil {
			return 0, err
		}
		if l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", ports[0])); err == nil {
			l.Close()
			return ports[0], nil
		}
	}
	return 0, fmt.Errorf("no free port on [::1]")
}

// TestClientRoleIPv6 relays a message through smtp(8) with connection
// reuse to a sink smtpd on [::1]: smtp(8) asks tlsproxy for a TLS
// session to "[::1]:port" and passes an IPv6 socket.
func TestClientRoleIPv6(t *testing.T) {
	forIPv6Impls(t, "ipv6-client", func(port6 int) []string {
		return []string{
			"--master-line", fmt.Sprintf("[::1]:%d inet n - n - - smtpd -o syslog_name=postfix/sink6 -o content_filter=discard:sink6", port6),
			"--transport-maps", fmt.Sprintf("inline:{ sink.test=sinkrelay:[ipv6:::1]:%d }", port6)}
	}, func(t *testing.T, in *instance) {
		cr := &crInstance{instance: in, submitPort: in.submitPort}
		offset := cr.logSize(t)
		qid := cr.inject(t, "rcpt@sink.test")[0]
		ep := regexp.QuoteMeta(fmt.Sprintf("[::1]:%d", in.port6))
		seg := cr.waitLog(t, offset, regexp.MustCompile(`(?m)postfix/tlsproxy\[\d+\]: DISCONNECT `+ep+`$`))
		checkLog(t, seg, session{}, []logRule{
			{"sent", `postfix/sinkrelay/smtp\[\d+\]: ` + qid + `: to=<rcpt@sink\.test>, relay=\S+\[::1\]:\d+, .*status=sent `, true},
			{"CONNECT", `postfix/tlsproxy\[\d+\]: CONNECT to ` + ep + `$`, true},
			{"established", `postfix/tlsproxy\[\d+\]: \w+ TLS connection established to \S+\[::1\]:\d+: TLSv1\.3 with cipher `, true},
			{"smtp established", `postfix/sinkrelay/smtp\[\d+\]: \w+ TLS connection established to \S+\[::1\]:\d+: TLSv1\.3 `, true},
			{"sink TLS", `postfix/sink6/smtpd\[\d+\]: Anonymous TLS connection established from \S+\[::1\]: TLSv1\.3 `, true},
			{"no warning", `postfix/tlsproxy\[\d+\]: (warning|fatal|panic):`, false},
		})
	})
}
