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
}

// tlsLogs lists the releases where TLSLog changed, oldest first.
var tlsLogs = []struct {
	since Version
	log   TLSLog
}{
	{Version{Major: 2, Minor: 8}, TLSLog{}},
	{Version{Major: 3, Minor: 4}, TLSLog{Details: true}},
	{Version{Major: 3, Minor: 10, Snapshot: 20240923}, TLSLog{Details: true, GroupNames: true}},
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
