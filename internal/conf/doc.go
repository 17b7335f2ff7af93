// Package conf reads Postfix main.cf files and answers parameter lookups for
// the tlsproxy replacement.
//
// It mirrors what a Postfix 3.7 daemon does with its configuration:
//
//   - main.cf is read as logical lines (a line that starts with whitespace
//     continues the previous one; blank lines and lines whose first non-blank
//     character is '#' are skipped, also between continuation lines), each of
//     the form "name = value". A repeated name wins and is reported with
//     "overriding earlier entry"; a malformed line is fatal.
//   - master.cf "-o name=value" overrides are stored raw on top of main.cf.
//   - Values are expanded lazily, when a parameter is used: $name, ${name},
//     $(name), $$, ${name?text}, ${name:text}, ${name?{a}:{b}} and the
//     relational form ${{a} op {b} ? {c} : {d}}, including the "<level"
//     family of operators that compare compatibility levels. Expansion is
//     recursive with a nesting bound; unknown names expand to nothing.
//   - Parameters that are not set take the built-in default of the Defaults
//     table, written exactly as "postconf -d" of Postfix 3.7.11 prints it, so
//     that tlsproxy_tls_* follows $smtpd_tls_* and tlsproxy_client_* follows
//     $smtp_tls_* like the real daemon. myhostname, mydomain and process_name
//     have run-time defaults.
//   - Typed getters convert values the way Postfix does (yes/no booleans,
//     strtol integers, times with a one-letter unit) and return errors worded
//     like Postfix's fatal messages.
//
// Warnings (non-fatal) go to a caller-supplied logs.Logger (Warnf), which
// adds the "warning: " prefix.
package conf
