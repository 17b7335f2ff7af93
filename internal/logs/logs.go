// Package logs names what the program needs from the process logger:
// Postfix-style information lines, warnings, errors and fatal errors (the
// logger adds the "warning: ", "error: " and "fatal: " prefixes). maillog.Logger is the one a running process uses;
// Discard and Lines serve start-up code and tests.
//
// It is a leaf package: the lowest layers (conf, tlspolicy) may import it.
package logs

import "fmt"

// Logger receives log lines. Every package that logs takes one.
type Logger interface {
	Infof(format string, a ...any)
	Warnf(format string, a ...any)
	Errorf(format string, a ...any)
	// Fatalf logs a fatal error; the caller then ends the process.
	Fatalf(format string, a ...any)
}

// Discard drops every line.
var Discard Logger = discard{}

type discard struct{}

func (discard) Infof(string, ...any)  {}
func (discard) Warnf(string, ...any)  {}
func (discard) Errorf(string, ...any) {}
func (discard) Fatalf(string, ...any) {}

// OrDiscard returns l, or Discard when l is nil.
func OrDiscard(l Logger) Logger {
	if l == nil {
		return Discard
	}
	return l
}

// Lines hands every line, whatever its severity, formatted and without
// a prefix, to the function: for code that collects lines before the
// process logger exists, and for tests.
type Lines func(line string)

// Infof formats the line and hands it on.
func (f Lines) Infof(format string, a ...any) { f(fmt.Sprintf(format, a...)) }

// Warnf formats the line and hands it on.
func (f Lines) Warnf(format string, a ...any) { f(fmt.Sprintf(format, a...)) }

// Errorf formats the line and hands it on.
func (f Lines) Errorf(format string, a ...any) { f(fmt.Sprintf(format, a...)) }

// Fatalf formats the line and hands it on.
func (f Lines) Fatalf(format string, a ...any) { f(fmt.Sprintf(format, a...)) }

// Prefixed returns a Logger that writes every line to l after prefix and
// ": " (a session's peer, for instance).
func Prefixed(l Logger, prefix string) Logger { return prefixed{l, prefix} }

type prefixed struct {
	l      Logger
	prefix string
}

func (p prefixed) Infof(format string, a ...any) {
	p.l.Infof("%s: %s", p.prefix, fmt.Sprintf(format, a...))
}
func (p prefixed) Warnf(format string, a ...any) {
	p.l.Warnf("%s: %s", p.prefix, fmt.Sprintf(format, a...))
}
func (p prefixed) Errorf(format string, a ...any) {
	p.l.Errorf("%s: %s", p.prefix, fmt.Sprintf(format, a...))
}
func (p prefixed) Fatalf(format string, a ...any) {
	p.l.Fatalf("%s: %s", p.prefix, fmt.Sprintf(format, a...))
}
