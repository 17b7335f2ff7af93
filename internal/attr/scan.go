package attr

import "fmt"

// ListTerminator is what Postfix names as "expected" when a list should have
// ended but another attribute followed.
const ListTerminator = "(list terminator)"

// ScanKind classifies a ScanError.
type ScanKind int

const (
	// Unexpected: attribute Name arrived where Expecting was wanted.
	Unexpected ScanKind = iota
	// Missing: the list ended before attribute Name.
	Missing
	// MalformedNumber: the value of Name is not a valid INT/LONG.
	MalformedNumber
	// MalformedData: the value of Name is not valid base64.
	MalformedData
)

// ScanError is a mismatch between a received list and the sequence of
// attributes a Postfix STRICT scan expects. Error returns the text Postfix
// logs as a warning in the same situation.
type ScanError struct {
	Kind      ScanKind
	Peer      string // stream name in the message, e.g. "plaintext"
	Name      string // received (Unexpected, Malformed*) or wanted (Missing) name
	Expecting string // Unexpected only: wanted name or ListTerminator
	Value     string // Malformed* only: the offending value
}

func (e *ScanError) Error() string {
	switch e.Kind {
	case Missing:
		return fmt.Sprintf("missing attribute %s in input from %s", e.Name, e.Peer)
	case MalformedNumber, MalformedData:
		what := "numerical"
		if e.Kind == MalformedData {
			what = "base64"
		}
		v := e.Value
		if len(v) > 100 {
			v = v[:100]
		}
		return fmt.Sprintf("malformed %s data from %s while reading %s: %s", what, e.Peer, e.Name, v)
	}
	return fmt.Sprintf("unexpected attribute %s from %s (expecting: %s)", e.Name, e.Peer, e.Expecting)
}

// Unwrap returns ErrMalformedNumber or ErrMalformedData for those kinds.
func (e *ScanError) Unwrap() error {
	switch e.Kind {
	case MalformedNumber:
		return ErrMalformedNumber
	case MalformedData:
		return ErrMalformedData
	}
	return nil
}

// Expect checks that l holds exactly the given names in exactly this order
// (duplicates allowed), nothing more and nothing less, and reports the first
// difference as Postfix's STRICT scan would.
func (l List) Expect(peer string, names ...string) error {
	c := l.Cursor(peer)
	for _, n := range names {
		if _, err := c.Next(n); err != nil {
			return err
		}
	}
	return c.Done()
}

// Cursor walks a List in order. It is meant for the inline sub-structures
// (Postfix FUNC items) of a list, which have no framing on the wire.
type Cursor struct {
	list List
	pos  int
	peer string
}

// Cursor returns a Cursor at the start of l; peer names the stream in
// error messages.
func (l List) Cursor(peer string) *Cursor { return &Cursor{list: l, peer: peer} }

// Next consumes the next attribute, which must be called name.
func (c *Cursor) Next(name string) (string, error) {
	if c.pos >= len(c.list) {
		return "", &ScanError{Kind: Missing, Peer: c.peer, Name: name}
	}
	a := c.list[c.pos]
	if a.Name != name {
		return "", &ScanError{Kind: Unexpected, Peer: c.peer, Name: a.Name, Expecting: name}
	}
	c.pos++
	return a.Value, nil
}

// NextInt consumes the next attribute, which must be an INT called name.
func (c *Cursor) NextInt(name string) (int, error) { return nextNumber(c, name, ParseInt) }

// NextLong consumes the next attribute, which must be a LONG called name.
func (c *Cursor) NextLong(name string) (int64, error) { return nextNumber(c, name, ParseLong) }

// nextNumber consumes the next attribute, which must be called name and
// hold a number that parse reads.
func nextNumber[T int | int64](c *Cursor, name string, parse func(string) (T, error)) (T, error) {
	v, err := c.Next(name)
	if err != nil {
		return 0, err
	}
	n, err := parse(v)
	if err != nil {
		return 0, &ScanError{Kind: MalformedNumber, Peer: c.peer, Name: name, Value: v}
	}
	return n, nil
}

// NextData consumes the next attribute, which must be DATA called name.
func (c *Cursor) NextData(name string) ([]byte, error) {
	v, err := c.Next(name)
	if err != nil {
		return nil, err
	}
	b, err := ParseData(v)
	if err != nil {
		return nil, &ScanError{Kind: MalformedData, Peer: c.peer, Name: name, Value: v}
	}
	return b, nil
}

// Optional consumes the next attribute only if it is called name.
func (c *Cursor) Optional(name string) (string, bool) {
	if n, ok := c.PeekName(); !ok || n != name {
		return "", false
	}
	v, _ := c.Next(name)
	return v, true
}

// PeekName returns the name of the next attribute without consuming it;
// false at the end of the list.
func (c *Cursor) PeekName() (string, bool) {
	if c.pos >= len(c.list) {
		return "", false
	}
	return c.list[c.pos].Name, true
}

// Done returns an error naming the first remaining attribute, if any.
func (c *Cursor) Done() error {
	if n, ok := c.PeekName(); ok {
		return &ScanError{Kind: Unexpected, Peer: c.peer, Name: n, Expecting: ListTerminator}
	}
	return nil
}

// Rest returns the attributes not yet consumed.
func (c *Cursor) Rest() List { return c.list[c.pos:] }
