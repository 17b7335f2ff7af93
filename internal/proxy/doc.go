// Package proxy runs one tlsproxy session: the conversation with a Postfix
// client (postscreen(8), or smtp(8) for the client role) on the plaintext UNIX
// socket, the TLS handshake on the remote socket that client passes over,
// and the byte relay between the two until one side ends.
//
// A session runs in the goroutine that calls Server.Start, in the order
// Postfix's tlsproxy runs its steps (tlsproxy.c: tlsp_service,
// tlsp_get_request_event, tlsp_get_fd_event, tlsp_start_tls,
// tlsp_strategy):
//
//  1. announce: write the protocol list "protocol=tlsproxy_protocol" (3.6+);
//  2. request: read remote_endpoint, flags, timeout, timeout, serverid;
//     log "CONNECT from|to|(bogus_direction) <endpoint>";
//  3. status: reply status=1 when TLS for the requested role is available,
//     else status=0 and wait for the client to close;
//  4. fd: receive the remote peer's socket (one data byte + SCM_RIGHTS);
//  5. handshake: TLS on the remote socket, bounded by the first timeout;
//     nothing from the plaintext side is read before it completes, and
//     nothing the remote sent before or during it is passed on;
//  6. context: when flags has bit 4, send the TLS context attributes;
//  7. relay: plaintext <-> TLS until EOF on either side, with the idle limit
//     "second timeout + 10 s". Plaintext EOF: send close_notify, close.
//     Remote EOF: deliver what was decrypted, close.
//
// session.go's run lists these steps, and their functions follow in that
// order in request.go (1 – 3), handshake.go (4 – 5), context.go (6) and
// relay.go (7); docs/design.md, "One session, in run order", walks through
// them.
//
// Start returns once the relay has begun: each relay direction runs in a
// goroutine of its own while it has input and parks in internal/park (no
// goroutine, no buffer) after a second without; the direction that
// finishes last logs the end and closes both sockets (relay.go). Every
// step that waits has a deadline, so no session can hold a goroutine or a
// descriptor forever.
package proxy
