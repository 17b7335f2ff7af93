// Package pfclient emulates the client side of the tlsproxy(8) protocol
// as every Postfix release from 2.8 to the 3.12 snapshots speaks it:
// postscreen(8) (server role, flags 1), smtpd(8) built for tlsproxy load
// tests (flags 5, and the 3.12 probe, flags 9), and smtp(8) or
// posttls-finger -X (client role, flags 6).
//
// A [Request] describes what one client of a given [pfversion.Version]
// sends before it reads the status reply; [Request.Bytes] returns exactly
// the bytes that client writes in its single write: the first list and,
// when that version sends one, the second list of TLS properties (client
// role from 3.4, server role in the 3.12 generation G5 except for probes).
// The constructors ([ServerRole], [SMTPDTest], [Probe], [ClientRole],
// [Finger]) fill in the values a stock Debian-like installation of that
// release would send; [Request.Props] overrides single values by
// attribute name.
//
// A [Conn] then plays the conversation on the tlsproxy socket the way
// that release does: read the protocol announcement first (3.6 and
// later, 10 s limit) or nothing (2.8 – 3.5), send the request, read the
// status, pass the remote socket (one 0x00 byte with SCM_RIGHTS), read
// the TLS context reply when the request asked for it, then plain text.
// Every list is read byte by byte so that nothing after it (a descriptor
// message, plaintext) is ever consumed early. [Open] does all of that in
// one call (pftest.RemotePair makes a loopback TCP pair to hand over).
//
// The package is used by the tests of the daemon and by the benchmark
// tool; it is not test-only. Shapes follow the specification
// (docs/protocol.md, "Generations"); the header comment of shapes.go
// lists the few default values that are this package's choice.
package pfclient
