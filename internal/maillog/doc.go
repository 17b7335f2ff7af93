// Package maillog writes log records the way Postfix daemons do, so that
// the existing log readers (pflogsumm, fail2ban filters, grep habits) see
// the same lines from our tlsproxy as from Postfix's own.
//
// It mirrors Postfix's msg(3) family (msg_info, msg_warn, msg_error,
// msg_fatal, msg_panic) with its output channels:
//
//   - syslog (Postfix util/msg_syslog.c): one datagram per record to
//     /dev/log, "<PRI>Mmm dd hh:mm:ss ident[pid]: [severity: ]text" (day padded with a
//     space, "Dec  2", as the C library's syslog(3) writes it), with
//     the facility from syslog_facility and LOG_INFO, LOG_WARNING,
//     LOG_ERR or LOG_CRIT as the level;
//   - postlogd (Postfix global/maillog_client.c, 3.4+, used when
//     maillog_file is set): one datagram per record to the postlog socket,
//     "Mmm dd hh:mm:ss host ident[pid]: [severity: ]text" (day padded with a
//     zero, "Dec 02", as every Postfix daemon writes it there) without a
//     priority and without a newline, where host is the first label of
//     myhostname;
//   - stderr for -V (Postfix util/msg_vstream.c): "ident: [severity: ]text".
//
// Message text has non-printable bytes replaced with '?' and is cut at
// 2000 bytes, as Postfix does before it logs.
//
// Unlike Postfix, a Logger never lets a slow syslogd stall the caller:
// records go through a bounded queue that one goroutine drains with a
// short write deadline. When the queue is full a record is dropped and
// counted, and the count is reported in a later warning record. Fatalf,
// Panicf and Close wait (for a bounded time) until everything queued
// before them has been written. The socket is connected in Open, which
// must therefore run before the process chroots; see Open for what
// happens when the socket goes away later.
package maillog
