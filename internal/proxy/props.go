package proxy

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"tlsproxy/internal/attr"
	"tlsproxy/internal/tlsclient"
)

// This file reads the second request list: the TLS properties that smtp(8)
// sends for the client role (3.4+), and that postscreen sends for the
// server role from the 3.12 snapshot 20260423 on (G5). Each Postfix minor
// release changed these lists (docs/protocol.md, "Structure revisions"), and Postfix
// reads them with exact-count scans, so its tlsproxy only serves its own
// release. We read them by name instead: a part that some releases send
// and others do not is optional here, and the parts that are present tell
// us which release is talking, and so which context reply it expects.

// initClientNames is TLS_CLIENT_INIT_PROPS, the same in every release.
var initClientNames = []string{"log_param", "log_level", "verifydepth", "cache_type",
	"chain_files", "cert_file", "key_file", "dcert_file", "dkey_file",
	"eccert_file", "eckey_file", "CAfile", "CApath", "mdalg"}

// initServerNames is TLS_SERVER_INIT_PROPS (sent from 3.12-20260423).
var initServerNames = []string{"log_param", "log_level", "verifydepth", "cache_type",
	"set_sessid", "chain_files", "cert_file", "key_file", "dcert_file", "dkey_file",
	"eccert_file", "eckey_file", "CAfile", "CApath", "protocols", "eecdh_grade",
	"dh1024_param_file", "dh512_param_file", "ask_ccert", "mdalg"}

// props is what a second list says, as far as tlsproxy needs it.
type props struct {
	params attr.List         // TLS_*_PARAMS: global settings of the client, opaque
	init   map[string]string // TLS_*_INIT_PROPS
	start  map[string]string // scalar TLS_*_START_PROPS

	// Client role.
	matchNames []string // ARGV of certificate match patterns
	daneDomain string
	tlsa       []tlsclient.TLSA
	oldDANE    bool // 3.4/3.5 serialization

	// Which optional parts were present: they date the sender.
	enableRPK, forcedFailure, tlsrpt, trace bool
}

// splitParams returns the PARAMS part: everything before the first
// log_param, which opens the INIT part in every release.
func splitParams(l attr.List) (attr.List, attr.List, error) {
	for i, a := range l {
		if a.Name == "log_param" {
			if i == 0 {
				return nil, nil, fmt.Errorf("no TLS parameters before log_param")
			}
			return l[:i], l[i:], nil
		}
	}
	return nil, nil, fmt.Errorf("missing attribute log_param")
}

// readHead reads what both roles' lists begin with: PARAMS (opaque), the
// INIT part with the given names, and the per-peer log settings that
// START repeats first in 3.12 snapshots from 20260429. It returns the
// cursor at the rest of START.
func readHead(l attr.List, initNames []string) (*props, *attr.Cursor, error) {
	p := &props{init: map[string]string{}, start: map[string]string{}}
	params, rest, err := splitParams(l)
	if err != nil {
		return nil, nil, err
	}
	p.params = params
	c := rest.Cursor("plaintext")
	for _, n := range initNames {
		v, err := c.Next(n)
		if err != nil {
			return nil, nil, err
		}
		p.init[n] = v
	}
	for _, n := range []string{"log_param", "log_level"} {
		if v, ok := c.Optional(n); ok {
			p.start[n] = v
		}
	}
	return p, c, nil
}

// parseClientProps reads TLS_CLIENT_PARAMS ⧺ TLS_CLIENT_INIT_PROPS ⧺
// TLS_CLIENT_START_PROPS of any release 3.4 … 3.12.
func parseClientProps(l attr.List) (*props, error) {
	p, c, err := readHead(l, initClientNames)
	if err != nil {
		return nil, err
	}
	if err := p.scalar(c, "timeout", true); err != nil {
		return nil, err
	}
	if v, ok := c.Optional("enable_rpk"); ok { // 3.9+
		p.enableRPK = true
		p.start["enable_rpk"] = v
	}
	if err := p.scalar(c, "tls_level", true); err != nil {
		return nil, err
	}
	for _, n := range []string{"nexthop", "host", "namaddr", "sni", "serverid", "helo",
		"protocols", "cipher_grade", "cipher_exclusions"} {
		if err := p.scalar(c, n, false); err != nil {
			return nil, err
		}
	}
	if p.matchNames, err = readArgv(c); err != nil {
		return nil, err
	}
	if err := p.scalar(c, "mdalg", false); err != nil {
		return nil, err
	}
	if err := p.readDANE(c); err != nil {
		return nil, err
	}
	if name, _ := c.PeekName(); name == "tlsrpt" { // 3.10+ built with TLSRPT
		p.tlsrpt = true
		if err := skipTLSRPT(c); err != nil {
			return nil, err
		}
	}
	if v, ok := c.Optional("forced_failure_type"); ok { // 3.10+
		p.forcedFailure = true
		p.start["forced_failure_type"] = v
	}
	if err := p.readTrace(c); err != nil {
		return nil, err
	}
	if err := c.Done(); err != nil {
		return nil, err
	}
	return p, nil
}

// parseServerProps reads TLS_SERVER_PARAMS ⧺ TLS_SERVER_INIT_PROPS ⧺
// TLS_SERVER_START_PROPS of a 3.12 snapshot (G5).
func parseServerProps(l attr.List) (*props, error) {
	p, c, err := readHead(l, initServerNames)
	if err != nil {
		return nil, err
	}
	if err := p.scalar(c, "timeout", true); err != nil {
		return nil, err
	}
	if err := p.scalar(c, "enable_rpk", true); err != nil {
		return nil, err
	}
	p.enableRPK = true
	if err := p.scalar(c, "requirecert", true); err != nil {
		return nil, err
	}
	for _, n := range []string{"serverid", "namaddr", "cipher_grade", "cipher_exclusions", "mdalg"} {
		if err := p.scalar(c, n, false); err != nil {
			return nil, err
		}
	}
	if err := p.readTrace(c); err != nil { // from 20260514
		return nil, err
	}
	if err := c.Done(); err != nil {
		return nil, err
	}
	return p, nil
}

// scalar reads one required START attribute; numeric ones are checked.
func (p *props) scalar(c *attr.Cursor, name string, numeric bool) error {
	var v string
	var err error
	if numeric {
		var n int
		n, err = c.NextInt(name)
		v = fmt.Sprint(n)
	} else {
		v, err = c.Next(name)
	}
	if err != nil {
		return err
	}
	p.start[name] = v
	return nil
}

// readTrace reads the optional trace pair of 3.12 from 20260514.
func (p *props) readTrace(c *attr.Cursor) error {
	if name, _ := c.PeekName(); name != "trace_size_limit" {
		return nil
	}
	if err := p.scalar(c, "trace_size_limit", true); err != nil {
		return err
	}
	if err := p.scalar(c, "trace_peer", false); err != nil {
		return err
	}
	p.trace = true
	return nil
}

// maxArgv bounds ARGV and record counts (Postfix: 1024 on receive).
const maxArgv = 1024

// readArgv reads an ARGV sub-structure: argv_size, then that many
// argv_value.
func readArgv(c *attr.Cursor) ([]string, error) {
	n, err := c.NextInt("argv_size")
	if err != nil {
		return nil, err
	}
	if n < 0 || n > maxArgv {
		return nil, fmt.Errorf("bad argv_size %d", n)
	}
	var out []string
	for range n {
		v, err := c.Next("argv_value")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// readDANE reads the DANE structure: "dane" 0/1, then (3.6+) domain,
// count and count TLSA records, or (3.4/3.5) the older form, which starts
// with the trust-anchor list's count.
func (p *props) readDANE(c *attr.Cursor) error {
	present, err := c.NextInt("dane")
	if err != nil {
		return err
	}
	if present == 0 {
		return nil
	}
	if name, _ := c.PeekName(); name != "domain" {
		p.oldDANE = true
		return p.readOldDANE(c)
	}
	if p.daneDomain, err = c.Next("domain"); err != nil {
		return err
	}
	n, err := c.NextInt("count")
	if err != nil {
		return err
	}
	if n < 0 || n > maxArgv {
		return fmt.Errorf("bad TLSA record count %d", n)
	}
	for range n {
		var r tlsclient.TLSA
		if r.Usage, err = c.NextInt("usage"); err != nil {
			return err
		}
		if r.Selector, err = c.NextInt("selector"); err != nil {
			return err
		}
		if r.MType, err = c.NextInt("mtype"); err != nil {
			return err
		}
		if r.Data, err = c.NextData("data"); err != nil {
			return err
		}
		p.tlsa = append(p.tlsa, r)
	}
	return nil
}

// readOldDANE reads the 3.4/3.5 form: ta and ee digest lists (count, then
// per entry mdalg, ARGV of certificate digests, ARGV of key digests),
// certs (count + cert), pkeys (count + pkey), domain, flags, exp.
func (p *props) readOldDANE(c *attr.Cursor) error {
	mdalg := p.start["mdalg"]
	for _, usage := range []int{2, 3} { // ta, then ee
		n, err := c.NextInt("count")
		if err != nil {
			return err
		}
		if n < 0 || n > maxArgv {
			return fmt.Errorf("bad DANE digest list count %d", n)
		}
		for range n {
			alg, err := c.Next("mdalg")
			if err != nil {
				return err
			}
			for selector := range 2 { // certificate digests, then key digests
				digests, err := readArgv(c)
				if err != nil {
					return err
				}
				for _, d := range digests {
					p.tlsa = append(p.tlsa, oldDigestRecord(usage, selector, alg, mdalg, d))
				}
			}
		}
	}
	for selector, item := range []string{"cert", "pkey"} { // full trust anchors
		n, err := c.NextInt("count")
		if err != nil {
			return err
		}
		if n < 0 || n > maxArgv {
			return fmt.Errorf("bad DANE %s count %d", item, n)
		}
		for range n {
			der, err := c.NextData(item)
			if err != nil {
				return err
			}
			p.tlsa = append(p.tlsa, tlsclient.TLSA{Usage: 2, Selector: selector, MType: 0, Data: der})
		}
	}
	var err error
	if p.daneDomain, err = c.Next("domain"); err != nil {
		return err
	}
	if _, err := c.NextInt("flags"); err != nil {
		return err
	}
	_, err = c.NextLong("exp")
	return err
}

// oldDigestRecord turns a 3.4/3.5 digest entry (hex, colons allowed) into
// the TLSA record the 3.6+ form would carry: SHA-256/512 as matching types
// 1/2, the request's fingerprint digest as the private type 255. Anything
// else gets a record the client side finds unusable (and says so), so a
// policy never silently loses a record.
func oldDigestRecord(usage, selector int, alg, mdalg, digest string) tlsclient.TLSA {
	r := tlsclient.TLSA{Usage: usage, Selector: selector, MType: -1}
	data, err := hex.DecodeString(strings.ReplaceAll(digest, ":", ""))
	if err != nil {
		return r
	}
	r.Data = data
	switch a := strings.ToLower(alg); {
	case a == "sha256":
		r.MType = 1
	case a == "sha512":
		r.MType = 2
	case a == strings.ToLower(mdalg):
		r.MType = 255
	}
	return r
}

// skipTLSRPT reads the 3.10+ TLSRPT structure (tlsrpt 0, or 1 and its
// body). tlsproxy does not report to TLSRPT; it answers rpt_reported=0,
// so smtp(8) reports for itself.
func skipTLSRPT(c *attr.Cursor) error {
	on, err := c.NextInt("tlsrpt")
	if err != nil || on == 0 {
		return err
	}
	steps := []string{"rpt_socket_name", "rpt_policy_domain", "rpt_policy_string", "#tls_policy_type",
		"argv", "tls_policy_domain", "argv", "snd_mta_addr", "rcv_mta_name", "rcv_mta_addr",
		"rcv_mta_ehlo", "#skip_reused_hs", "#flags"}
	for _, s := range steps {
		switch {
		case s == "argv":
			_, err = readArgv(c)
		case s[0] == '#':
			_, err = c.NextInt(s[1:])
		default:
			_, err = c.Next(s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// clientStart turns client-role properties into a tlsclient.Start.
func (p *props) clientStart() tlsclient.Start {
	num := func(m map[string]string, k string) int {
		n, _ := strconv.Atoi(m[k])
		return n
	}
	st := tlsclient.Start{
		Level: num(p.start, "tls_level"), NextHop: p.start["nexthop"], Host: p.start["host"],
		NamAddr: p.start["namaddr"], SNI: p.start["sni"], ServerID: p.start["serverid"], CacheType: p.init["cache_type"],
		Helo: p.start["helo"], Protocols: p.start["protocols"], CipherGrade: p.start["cipher_grade"],
		CipherExclusions: p.start["cipher_exclusions"], MDAlg: p.start["mdalg"],
		MatchNames: p.matchNames, DANEDomain: p.daneDomain,
		LogParam: p.init["log_param"], LogLevel: p.init["log_level"], VerifyDepth: num(p.init, "verifydepth"),
	}
	// 3.12 repeats the log settings in START, per peer.
	if v, ok := p.start["log_param"]; ok {
		st.LogParam = v
	}
	if v, ok := p.start["log_level"]; ok {
		st.LogLevel = v
	}
	st.TLSA = append(st.TLSA, p.tlsa...)
	return st
}

// contextLen is the length of context reply the sender of these client
// properties reads: trace → 26 (3.12),
// forced_failure_type → 25 (3.10, 3.11), enable_rpk → 24 (3.9), else 22
// (3.6 – 3.8) or, without the announcement, 21 (3.4/3.5).
func (p *props) contextLen(announced bool) int {
	switch {
	case p.trace:
		return 26
	case p.forcedFailure:
		return 25
	case p.enableRPK:
		return 24
	case announced:
		return 22
	}
	return 21
}
