// Package pftest holds test helpers that emulate the Postfix side of
// tlsproxy(8)'s environment: a fake master(8) that starts a daemon with
// master's descriptors and environment and reads its status records
// (FakeMaster), and a fake postscreen(8)/smtp(8) client that speaks the
// tlsproxy request protocol and passes a descriptor (fakeclient.go), test
// certificates (certs.go, forge.go), a socket pair and golden files
// (helpers.go), loopback listeners and servers (listen.go), a Go
// client's ClientHello (hello.go).
//
// It is a test-support package: import it only from _test.go files.
package pftest
