package proxy

import "tlsproxy/internal/tlspolicy"

// logLibraryProblem logs a TLS failure on the remote side as Postfix's
// "TLS library problem" warnings: one per OpenSSL error-queue entry, in
// OpenSSL's reason words where crypto/tls's error has a counterpart
// (tlspolicy.LibraryProblems), so that log rules written for Postfix's
// tlsproxy keep matching.
func (ss *session) logLibraryProblem(err error) {
	var vers, suite uint16
	if ss.tconn != nil {
		st := ss.tconn.ConnectionState()
		vers, suite = st.Version, st.CipherSuite
	}
	// A TLS 1.3 client's plaintext alert: OpenSSL reports the alert.
	err = ss.watch.PlainAlert(err, vers)
	for _, text := range tlspolicy.LibraryProblems(err, vers, suite) {
		ss.srv.Log.Warnf("TLS library problem: %s", text)
	}
}
