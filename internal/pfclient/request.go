package pfclient

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlsclient"
)

// Request flag bits (TLS_PROXY_FLAG_*).
const (
	FlagServer  = 1 // tlsproxy is the TLS server (postscreen, smtpd)
	FlagClient  = 2 // tlsproxy is the TLS client (smtp, posttls-finger; 3.4+)
	FlagContext = 4 // send the TLS context reply after the handshake
	FlagProbe   = 8 // only ask whether the role is available (3.12 G5)
)

// Program is the Postfix program a Request emulates; it selects the
// default property values.
type Program int

// The emulated programs. The zero value means "postscreen for server-role
// flags, smtp for client-role flags".
const (
	ProgAuto       Program = iota
	ProgPostscreen         // postscreen(8)
	ProgSMTPD              // smtpd(8) built with -DUSE_TLSPROXY (test mode)
	ProgSMTP               // smtp(8) with connection reuse
	ProgFinger             // posttls-finger -X
)

var programNames = [...]string{"auto", "postscreen", "smtpd", "smtp", "posttls-finger"}

func (p Program) String() string {
	if p >= 0 && int(p) < len(programNames) {
		return programNames[p]
	}
	return "program(" + strconv.Itoa(int(p)) + ")"
}

// DANE is the client-role DANE structure; a nil *DANE is sent as dane=0.
type DANE struct {
	Domain  string           // TLSA base domain
	Records []tlsclient.TLSA // fingerprint level: MType 255, the digest in Data
}

// TLSRPT is the TLSRPT structure that smtp(8) 3.10+ built with
// -DUSE_TLSRPT sends after the DANE structure. A Request with a nil
// *TLSRPT emulates a build without TLSRPT support (the attribute is
// absent); a zero TLSRPT (Enabled false) sends only "tlsrpt 0".
type TLSRPT struct {
	Enabled         bool
	SocketName      string // rpt_socket_name
	PolicyDomain    string // rpt_policy_domain
	PolicyString    string // rpt_policy_string
	PolicyType      int    // tls_policy_type (libtlsrpt enum)
	PolicyStrings   []string
	TLSPolicyDomain string // tls_policy_domain
	MXHostPatterns  []string
	SndMTAAddr      string
	RcvMTAName      string
	RcvMTAAddr      string
	RcvMTAEHLO      string
	SkipReusedHS    int
	Flags           int
}

// Request is what one client of Version sends before it reads the status.
type Request struct {
	Version          pfversion.Version
	Program          Program
	Endpoint         string // remote_endpoint, "[ip]:port"
	Flags            int    // FlagServer, FlagClient, FlagContext, FlagProbe bits
	HandshakeTimeout int    // first timeout (2.8 – 3.3 send only this one)
	SessionTimeout   int    // second timeout (3.4+)
	ServerID         string // 2.9 – 3.3 server_id, 3.4+ serverid; 2.8 sends none

	// NamAddr is the peer name for logging in the second list: client
	// role "host[addr]:port" (host, nexthop and helo default to its
	// host part), smtpd test mode "name[addr]". Empty: derived from
	// Endpoint.
	NamAddr string

	// Props overrides values of the second list by attribute name: "name"
	// replaces every scalar attribute of that name, "params.name",
	// "init.name" or "start.name" only the one in that part. Structural
	// attributes (argv_*, dane, tlsrpt and their members) come from
	// MatchNames, DANE and TLSRPT instead. Keys matching nothing are an
	// error.
	Props map[string]string

	MatchNames []string // client role: certificate match patterns (ARGV)
	DANE       *DANE    // client role: DANE/fingerprint data; nil = none
	TLSRPT     *TLSRPT  // client role 3.10+: nil = built without TLSRPT
}

// ServerRole returns the request of postscreen(8) of version v for a
// remote SMTP client at endpoint, with stock defaults: flags 1, both
// timeouts postscreen_command_time_limit (300), serverid "smtpd" (3.12 G5:
// its master.cf service name, "smtp" in a stock master.cf).
func ServerRole(v pfversion.Version, endpoint string) Request {
	id := "smtpd"
	if v.Generation() == pfversion.G5 {
		id = "smtp"
	}
	return Request{Version: v, Program: ProgPostscreen, Endpoint: endpoint, Flags: FlagServer,
		HandshakeTimeout: 300, SessionTimeout: 300, ServerID: id}
}

// SMTPDTest returns the request of smtpd(8) built with -DUSE_TLSPROXY:
// flags 5 (server role with context), smtpd_timeout (300) twice, its
// service name "smtp"; namaddr is smtpd's "name[addr]" of the client
// (empty: "unknown[ip]").
func SMTPDTest(v pfversion.Version, endpoint, namaddr string) Request {
	return Request{Version: v, Program: ProgSMTPD, Endpoint: endpoint, Flags: FlagServer | FlagContext,
		HandshakeTimeout: 300, SessionTimeout: 300, ServerID: "smtp", NamAddr: namaddr}
}

// Probe returns the status-only request smtpd(8) test mode of 3.12 sends
// before it answers STARTTLS: flags 9, timeouts 0, serverid
// "unused_server", no second list.
func Probe(v pfversion.Version, endpoint string) Request {
	return Request{Version: v, Program: ProgSMTPD, Endpoint: endpoint, Flags: FlagServer | FlagProbe,
		ServerID: "unused_server"}
}

// ClientRole returns the request of smtp(8) of version v (client role,
// connection reuse) to the server at endpoint, namaddr "host[addr]:port"
// (empty: derived from endpoint), with postconf -d defaults and
// security level may: flags 6, smtp_starttls_timeout (300),
// smtp_data_done_timeout (600), serverid = the service name "smtp".
func ClientRole(v pfversion.Version, endpoint, namaddr string) Request {
	return Request{Version: v, Program: ProgSMTP, Endpoint: endpoint, Flags: FlagClient | FlagContext,
		HandshakeTimeout: 300, SessionTimeout: 600, ServerID: "smtp", NamAddr: namaddr}
}

// Finger returns the request of posttls-finger -X -l may of version v to
// endpoint: flags 6, both timeouts 30 (-w), serverid = endpoint (3.12:
// "posttls-finger"), log level "routine,certmatch" (-L).
func Finger(v pfversion.Version, endpoint string) Request {
	id := endpoint
	if v.Generation() == pfversion.G5 {
		id = "posttls-finger"
	}
	return Request{Version: v, Program: ProgFinger, Endpoint: endpoint, Flags: FlagClient | FlagContext,
		HandshakeTimeout: 30, SessionTimeout: 30, ServerID: id}
}

// program resolves ProgAuto.
func (r Request) program() Program {
	switch {
	case r.Program != ProgAuto:
		return r.Program
	case r.Flags&FlagClient != 0:
		return ProgSMTP
	}
	return ProgPostscreen
}

// First returns the first request list.
func (r Request) First() attr.List {
	l := attr.List{
		attr.Str("remote_endpoint", r.Endpoint),
		attr.Int("flags", r.Flags),
		attr.Int("timeout", r.HandshakeTimeout),
	}
	switch r.Version.Generation() {
	case pfversion.G1:
	case pfversion.G2:
		l = append(l, attr.Str("server_id", r.ServerID))
	default:
		l = append(l, attr.Int("timeout", r.SessionTimeout), attr.Str("serverid", r.ServerID))
	}
	return l
}

// Second returns the second list this client sends in the same write as
// the first, and false when it sends none: the client role from 3.4,
// the server role in G5 unless the request is a probe.
func (r Request) Second() (attr.List, bool, error) {
	var parts []part
	g := r.Version.Generation()
	switch {
	case g <= pfversion.G2, g == pfversion.G5 && r.Flags&FlagProbe != 0:
	case r.Flags&FlagClient != 0:
		parts = r.clientParts()
	case g == pfversion.G5 && r.Flags&FlagServer != 0:
		parts = r.serverParts()
	}
	if parts == nil {
		if len(r.Props) > 0 {
			return nil, false, fmt.Errorf("pfclient: %v %s request with flags %d sends no second list, but Props are set",
				r.Version, r.program(), r.Flags)
		}
		return nil, false, nil
	}
	used := map[string]bool{}
	var l attr.List
	for _, p := range parts {
		for _, it := range p.items {
			if it.scalar {
				for _, key := range []string{p.name + "." + it.Name, it.Name} {
					if v, ok := r.Props[key]; ok {
						it.Value, used[key] = v, true
						break
					}
				}
			}
			l = append(l, it.Attr)
		}
	}
	var unused []string
	for k := range r.Props {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, false, fmt.Errorf("pfclient: %v %s request has no attribute for Props %q",
			r.Version, r.program(), unused)
	}
	return l, true, nil
}

// Bytes returns exactly what the client writes: the first list, plus the
// second list in the same write when the version sends one.
func (r Request) Bytes() ([]byte, error) {
	b := attr.AppendList(nil, r.First())
	second, ok, err := r.Second()
	if err != nil {
		return nil, err
	}
	if ok {
		b = attr.AppendList(b, second)
	}
	return b, nil
}

// ContextLen is the number of context attributes a client of r.Version
// reads when it asks for the context (3.10/3.11 with or without TLSRPT
// support alike: 25).
func ContextLen(r Request) int { return r.Version.ContextLen() }

// endpointIP returns the address inside "[ip]:port" (or the host part of
// "host:port"), or endpoint itself if it has neither form.
func endpointIP(endpoint string) string {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return strings.Trim(endpoint, "[]")
	}
	return host
}

// namaddrHost returns the "host" of "host[addr]:port".
func namaddrHost(namaddr string) string {
	if i := strings.IndexByte(namaddr, '['); i >= 0 {
		return namaddr[:i]
	}
	return namaddr
}
