// Package maps reads the Postfix lookup tables of tls_server_sni_maps:
// tables whose values name files (Postfix opens them with its
// "value is a file" flag), searched in the order given, first match wins.
//
// Everything is read when the tables are opened, before the jail:
//
//   - fail: fails every lookup (a way to test that a failed lookup ends
//     the handshake);
//   - texthash:, inline:, static:, regexp:, pcre: are parsed here, as
//     Postfix's own readers do (logical lines, comments, quoting, IF/ENDIF),
//     and the files each value lists are read at once;
//   - cdb: files are read whole and searched by a reader of the cdb format
//     in this package (Postfix cannot list a cdb table, so its tools cannot
//     help);
//   - hash:, btree: and lmdb: tables made with "postmap -F" are listed by
//     the installation's own "postmap -s" (Berkeley DB and LMDB have no
//     reader in the Go standard library); their values are the base64 of
//     the files, decoded at lookup time as Postfix does;
//   - any other type (proxy:, ldap:, mysql:, socketmap:, ...) cannot be
//     consulted from here: it is reported at start-up and never matches,
//     so the names it would serve get the default chain.
//
// A table that cannot be opened behaves as Postfix's stand-in ("surrogate")
// table: the problem is logged at start-up as an error, and every lookup
// logs it again and fails. Fixed-string tables fold the key to lower case;
// regular expression tables see it as given (their default is to ignore
// case). The indexed files (hash, btree, lmdb, cdb) stay open so that
// [Maps.Changed] can tell, as Postfix daemons do, when one has been
// replaced or rewritten.
package maps
