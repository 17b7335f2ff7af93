// Package attr implements Postfix's local IPC attribute-stream codec, as
// spoken between tlsproxy(8) and its clients (postscreen, smtp,
// posttls-finger) and between tlsproxy and tlsmgr(8).
//
// # Encodings
//
// attr0 is the wire format: every attribute is its name, a NUL byte, its
// value, a NUL byte; a list ends with one more NUL where the next name would
// start. Integers travel as unsigned decimal text and binary data as padded
// standard base64. There is no type information and no framing of nested
// structures on the wire: a receiver knows the expected sequence of names.
// This package therefore reads a whole list into an ordered [List] of raw
// (name, value) pairs and leaves interpretation to the caller, who can use
// [List.Expect] (Postfix's STRICT scan: exact names, exact order, nothing
// more, nothing less) or a [Cursor] (for inline sub-structures) together with
// [ParseInt], [ParseLong] and [ParseData], which follow Postfix's value rules.
//
// The plain encoding (name=value LF ... LF) is what Postfix uses for
// in-memory serialization, e.g. tlsproxy's cache keys; see [AppendPlain],
// [Reader.ReadPlainList] and [ParsePlain]. The base64 "attr64" encoding is
// not used on any tlsproxy path and is not implemented.
//
// # Reading
//
// [Reader] buffers like Postfix's VSTREAM (reads of at most 4096 bytes) and
// finds list boundaries with a name/value state machine, never by looking for
// two consecutive NULs (an empty value followed by a name is common).
// [Reader.Buffered] tells how many bytes were read from the socket but not
// yet consumed; a caller that is about to receive a file descriptor on the
// same socket must make sure it is zero.
//
// Memory is bounded by the Reader's limit fields (name, value and list size,
// attribute count); exceeding one yields a [*LimitError] (errors.Is
// [ErrTooLong]) after consuming at most the limit. Postfix itself enforces no
// such limits; the defaults are generous for every known tlsproxy request.
//
// # Deliberate differences from Postfix
//
//   - Multi-attribute (HASH) groups, introduced in Postfix 3.1, are opened and
//     closed by the value-less names "{" and "}". No tlsproxy, postscreen,
//     smtp or tlsmgr message uses them, and treating them as ordinary names
//     would silently desynchronize the stream, so the readers reject them
//     with [ErrHashUnsupported].
//   - Numbers that do not fit the target width (e.g. "4294967296" for an int)
//     are rejected as malformed; glibc's sscanf would silently wrap or
//     saturate them. Postfix only ever sends values it printed itself.
//   - The encoders cannot represent a NUL inside a name or value; like the
//     C printer, which writes C strings, they cut such text at the first NUL.
//     [List.Validate] reports lists that cannot be encoded faithfully.
package attr
