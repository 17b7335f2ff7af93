// Package pfversion holds what differs between Postfix releases on the
// tlsproxy wire: the release number syntax (2.8.0 … 3.11.6, snapshots such
// as 3.12-20260821), the protocol generation each release speaks, and the
// shape of the TLS context reply each release expects.
//
// Generations (the order of the conversation):
//
//	G1  2.8         client speaks first; remote_endpoint, flags, timeout
//	G2  2.9 – 3.3   client speaks first; + server_id
//	G3  3.4 – 3.5   client speaks first; two timeouts, serverid; client role
//	G4  3.6 – 3.11  tlsproxy announces "protocol=tlsproxy_protocol" first
//	G5  3.12 snapshots from 20260423: postscreen also sends its server
//	    TLS properties; flag 8 asks for the status only (probe)
//
// The context reply (sent when the request flags have bit 4) has 9
// attributes up to 3.3.1, 21 from 3.3.2 / 3.4, 22 from 3.6 (level), 24 in
// 3.9 (raw public keys), 25 in 3.10 – 3.11 (TLSRPT) and 26 in 3.12 from
// 20260514 (trace size).
package pfversion

import (
	"fmt"
	"strconv"
	"strings"
)

// Generation is a tlsproxy protocol generation, G1 … G5.
type Generation int

// The generations.
const (
	G1 Generation = 1 + iota
	G2
	G3
	G4
	G5
)

func (g Generation) String() string { return "G" + strconv.Itoa(int(g)) }

// Announces reports whether tlsproxy speaks first in this generation.
func (g Generation) Announces() bool { return g >= G4 }

// Version is a Postfix release: Major.Minor.Patch, or a development
// snapshot Major.Minor-YYYYMMDD (Snapshot set, Patch 0).
type Version struct {
	Major, Minor, Patch int
	Snapshot            int // YYYYMMDD for snapshots, else 0
}

// Parse reads "3.7.11", "2.11", "3.12-20260821" or
// "postfix-3.12-20260821" (an optional leading "postfix-" or "v").
func Parse(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "postfix-"), "v")
	var v Version
	bad := fmt.Errorf("bad Postfix version %q", s)
	if i := strings.IndexByte(t, '-'); i >= 0 {
		snap, err := strconv.Atoi(t[i+1:])
		if err != nil || len(t[i+1:]) != 8 {
			return v, bad
		}
		v.Snapshot, t = snap, t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 || (v.Snapshot != 0 && len(parts) != 2) {
		return v, bad
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || p[0] == '+' {
			return v, bad
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	if v.Major < 2 || (v.Major == 2 && v.Minor < 8) {
		return v, fmt.Errorf("Postfix version %q has no tlsproxy (2.8 or later needed)", s)
	}
	return v, nil
}

// MustParse is Parse for constants; it panics on a bad version.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func (v Version) String() string {
	if v.Snapshot != 0 {
		return fmt.Sprintf("%d.%d-%08d", v.Major, v.Minor, v.Snapshot)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// minor returns v.Major*100 + v.Minor, for range checks.
func (v Version) minor() int { return v.Major*100 + v.Minor }

// atLeast reports v >= major.minor.patch for released versions of that
// minor series (snapshots of the series count as later than any patch).
func (v Version) atLeast(major, minor, patch int) bool {
	switch {
	case v.minor() != major*100+minor:
		return v.minor() > major*100+minor
	case v.Snapshot != 0:
		return true
	}
	return v.Patch >= patch
}

// snapshotAtLeast is true for releases of a later series, final releases
// of this series, and snapshots of this series on or after day.
func (v Version) snapshotAtLeast(major, minor, day int) bool {
	switch {
	case v.minor() != major*100+minor:
		return v.minor() > major*100+minor
	case v.Snapshot == 0:
		return true
	}
	return v.Snapshot >= day
}

// Generation returns the wire generation v speaks.
func (v Version) Generation() Generation {
	switch {
	case v.minor() <= 208:
		return G1
	case v.minor() <= 303:
		return G2
	case v.minor() <= 305:
		return G3
	case v.snapshotAtLeast(3, 12, 20260423):
		return G5
	}
	return G4
}

// ContextLen is the number of attributes in the TLS context reply that a
// client of version v reads.
func (v Version) ContextLen() int {
	switch {
	case v.minor() <= 303:
		// 21 (no level) from 3.0.15, 3.1.15, 3.2.15, 3.3.2; 9 before.
		if v.Major == 3 && ((v.Minor <= 2 && v.atLeast(3, v.Minor, 15)) || v.atLeast(3, 3, 2)) {
			return 21
		}
		return 9
	case v.minor() <= 305:
		return 21
	case v.minor() <= 308:
		return 22
	case v.minor() == 309:
		return 24
	case v.snapshotAtLeast(3, 12, 20260514):
		return 26
	}
	return 25
}

// contextFull is the 26-attribute reply of 3.12; shorter shapes leave
// some of it out.
var contextFull = []string{
	"peer_CN", "issuer_CN", "peer_fingerprint", "peer_pubkey_fingerprint",
	"level", // 3.6+
	"peer_status", "cipher_protocol", "cipher_name", "cipher_usebits", "cipher_algbits",
	"key_exchange", "key_exchange_curve", "key_exchange_bits",
	"ctos_rpk", "stoc_rpk", // 3.9+
	"clnt_signature", "clnt_signature_curve", "clnt_signature_bits", "clnt_signature_digest",
	"srvr_signature", "srvr_signature_curve", "srvr_signature_bits", "srvr_signature_digest",
	"namaddr",
	"rpt_reported",     // 3.10+
	"trace_size_limit", // 3.12-20260514+
}

// ContextNames returns the attribute names, in wire order, of a context
// reply with n attributes (9, 21, 22, 24, 25 or 26); nil for other n.
func ContextNames(n int) []string {
	skip := map[string]bool{}
	switch n {
	case 9:
		return []string{"peer_CN", "issuer_CN", "peer_fingerprint", "peer_pubkey_fingerprint",
			"peer_status", "cipher_protocol", "cipher_name", "cipher_usebits", "cipher_algbits"}
	case 21:
		skip = map[string]bool{"level": true, "ctos_rpk": true, "stoc_rpk": true, "rpt_reported": true, "trace_size_limit": true}
	case 22:
		skip = map[string]bool{"ctos_rpk": true, "stoc_rpk": true, "rpt_reported": true, "trace_size_limit": true}
	case 24:
		skip = map[string]bool{"rpt_reported": true, "trace_size_limit": true}
	case 25:
		skip = map[string]bool{"trace_size_limit": true}
	case 26:
	default:
		return nil
	}
	var names []string
	for _, n := range contextFull {
		if !skip[n] {
			names = append(names, n)
		}
	}
	return names
}
