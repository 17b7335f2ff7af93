// Package tlsmgr is a client of Postfix's tlsmgr(8) service, a crypto/tls
// session-ticket implementation whose keys come from it, and crypto/tls
// session caches kept in tlsmgr's smtpd and smtp session caches.
//
// # The client
//
// Client mirrors what Postfix's TLS library does to reach tlsmgr (tls_mgr.c
// over attr_clnt/auto_clnt): one cached UNIX-stream connection to
// private/$tlsmgr_service_name, named relative to queue_directory, so the
// same relative name works before the chroot (cwd = queue_directory) and
// after it (cwd = "/" = queue_directory); attr0 request/reply lists; the
// connection is closed after IdleLimit (ipc_idle, 5 s) without use or
// TTL (ipc_ttl, 1000 s) after it was opened, and dropped before a request
// when the socket has become readable (the server went away); a request that
// fails on the transport is retried once on a fresh connection after
// RetryDelay (1 s), then reported as "problem talking to server ...".
// Requests from many goroutines are serialized on the one connection, and no
// call blocks longer than Options.Timeout in total (queueing included).
//
// A 3.6+ tlsmgr writes protocol=tlsmgr_protocol on every new connection; a
// ≤3.5 tlsmgr writes nothing. In the default AnnounceAuto mode the client
// does not wait for it: it sends its request at once and, on a connection
// where no announcement was seen yet, skips one leading
// protocol=tlsmgr_protocol list before the reply. That is unambiguous
// (replies start with "status"), costs no delay with either generation, and
// still rejects a wrong protocol name. AnnounceRequired is Postfix 3.6+'s own
// behaviour (read it before the first request); AnnounceNone is ≤3.5's.
//
// Reply lists are scanned like Postfix's non-strict attr_scan: wanted
// attributes in order, others skipped; a missing attribute or a value that
// does not match what tls_mgr.c demands (e.g. a keybuf of the wrong size)
// turns into status -2, TLS_MGR_STAT_FAIL (a *StatusError); a malformed
// number or base64 value is a transport failure (the stream is dropped and
// the request retried once), as attr_scan's -1 is.
//
// # Deliberate differences from Postfix
//
//   - Timeout: Postfix gives each tlsmgr read/write ipc_timeout (3600 s);
//     a hung tlsmgr is then ended by tlsproxy's watchdog
//     (tlsproxy_watchdog_timeout, 10 s), which kills the whole process.
//     Here one call fails after Options.Timeout (default 10 s) instead.
//   - The 1 s pause before the retry does not hold the connection, so other
//     goroutines are not blocked behind it (Postfix's sleep blocks the
//     process).
//   - TicketKey also accepts the 56-byte key of a Postfix 2.11 tlsmgr
//     (16-byte cipher and HMAC keys); a 3.x client would refuse it.
//
// # What happens when tlsmgr is down (Postfix 3.7 tlsproxy)
//
//	moment / request            Postfix tlsproxy                      this package
//	start-up seed               role disabled: "no entropy for TLS    Seed returns an error; the
//	                            key generation: disabling TLS          caller must disable the role
//	                            support", requests get status 0        (Go itself needs no seed)
//	start-up policy             cache timeout taken as 0: no session   Policy returns an error; the
//	                            cache and no tickets for that role     caller must pass Lifetime 0
//	                                                                   (Install then disables tickets)
//	per-session seed            failure ignored                        not needed (crypto/rand)
//	tktkey, issuing a ticket    no ticket for this handshake           an unusable ticket is issued
//	                                                                   (crypto/tls aborts on a Wrap
//	                                                                   error); next time: full handshake
//	tktkey, resuming            ticket not decrypted: full handshake   the same
//	lookup / update / delete    cache miss / not stored / ignored      the same (Tickets, ClientCache);
//	                                                                   Client returns the error
//	policy timeout <= 0         tickets and cache off                  Install sets SessionTicketsDisabled
//
// Postfix retries tlsmgr on every later handshake, paying the 1 s retry
// pause each time; Tickets instead stops asking for Backoff (default 5 s)
// after a failed key fetch.
//
// # Tickets
//
// Tickets implements tls.Config.WrapSession and UnwrapSession. A ticket is
//
//	key name (16 bytes, from tlsmgr) || nonce (12) || AES-256-GCM sealed
//	    (flags (1) || issue time (8, big-endian Unix seconds) || SessionState.Bytes())
//
// with the AES-256-GCM key derived by HKDF-SHA256 from tlsmgr's key
// material: secret = cipher key || HMAC key, salt = key name, info =
// "tlsproxy-go tlsmgr session ticket v1". The additional data binds the key
// name and the caller's scope (server id and TLS policy identity), so a
// session issued under one scope never resumes under another. Because every
// tlsproxy process gets the same keys from tlsmgr, a ticket issued by one
// process resumes in another and after a restart, and stops working once
// tlsmgr has rotated its key out (current key used for issuing until its
// expiry tout, accepted for decryption until tout + Lifetime/2, the tlsmgr
// 3.7 schedule). The format is not OpenSSL's RFC 5077 layout: only our own
// processes read these tickets; tickets from Postfix's own smtpd/tlsproxy are
// simply not resumed (full handshake), and vice versa.
//
// # Session cache (stateful tickets and the client cache)
//
// With tls_session_ticket_cipher empty (tickets off) and an
// smtpd_tls_session_cache_database in tlsmgr (policy cachable=1), OpenSSL
// keeps server sessions in tlsmgr's smtpd cache and, for TLS 1.3, issues
// "stateful" tickets that only name a cache entry. crypto/tls cannot resume
// by session id, so TicketOptions.Cache selects that stateful form for TLS
// 1.2 and 1.3 alike: the ticket is 32 random bytes, the session is stored
// with an update request under ServerCacheID (hex identity "&s=" serverid
// "&l=go1") and found again with lookup; entries that are expired or cannot
// be decoded are deleted. A ClientCache does the same for the client role
// in tlsmgr's smtp or lmtp cache, under ClientCacheID (serverid "&go1-" digest),
// with the ticket crypto/tls received. The "go1" marker stands where
// Postfix has an OpenSSL version number or a hex digest, so Postfix's own
// smtpd and smtp never look our entries up and never try to decode them
// as OpenSSL sessions (docs/tlsmgr.md); the values are our own small format
// (cache.go). A missing entry, a tlsmgr failure (then tlsmgr is left alone
// for Backoff) or an entry for another scope is a full handshake, never a
// failed one.
package tlsmgr
