package proxy

import (
	"tlsproxy/internal/attr"
	"tlsproxy/internal/pfversion"
	"tlsproxy/internal/tlspolicy"
)

// The last step before the relay: the TLS context reply, laid out in the
// shape this client's release reads.

// sendContext writes the TLS context when the request's flags ask for it.
func (ss *session) sendContext() bool {
	if ss.flags&FlagSendContext == 0 {
		return true
	}
	if err := ss.writeList(shapeContext(ss.tlsAttrs, ss.contextLen())); err != nil {
		ss.srv.Log.Warnf("cannot send TLS context: %v", describe(err))
		return false
	}
	return true
}

// contextLen is the length of the context reply this client reads.
func (ss *session) contextLen() int {
	var expect pfversion.Version
	if g := ss.srv.Generations; g != nil {
		expect = g.Expect
	}
	switch {
	case ss.props != nil && ss.flags&FlagRoleClient != 0:
		return ss.props.contextLen(ss.announced)
	case ss.gen == pfversion.G5:
		if ss.props != nil && ss.props.trace {
			return 26
		}
		return 25
	case ss.gen == pfversion.G4:
		if expect.Major != 0 && expect.Generation() == pfversion.G4 {
			return expect.ContextLen()
		}
		return 22
	case ss.gen == pfversion.G3:
		return 21
	case ss.gen == pfversion.G2:
		if expect.Major != 0 && expect.Generation() == pfversion.G2 {
			return expect.ContextLen()
		}
		return 21
	}
	return 9
}

// shapeContext lays the 3.6 context attributes out in the shape of an
// n-attribute reply; attributes that 3.6 does not have (raw public keys,
// TLSRPT, trace budget) are 0.
func shapeContext(ctx []tlspolicy.NameValue, n int) attr.List {
	values := make(map[string]string, len(ctx))
	for _, nv := range ctx {
		values[nv.Name] = nv.Value
	}
	var l attr.List
	for _, name := range pfversion.ContextNames(n) {
		v, ok := values[name]
		if !ok {
			v = "0"
		}
		l = append(l, attr.Str(name, v))
	}
	return l
}
