package tlspolicy

// An evaluator of OpenSSL cipher strings ("aNULL:-aNULL:HIGH:@STRENGTH")
// over the TLS 1.0-1.2 cipher suites that Go implements and that OpenSSL
// 3.0, as Debian 12 builds it, also has. It follows the documented
// semantics of ciphers(1):
//
//   - elements are separated by ':', ' ', ',' or ';';
//   - "NAME" adds the matching suites at the end of the list (suites already
//     in the list stay where they are), "-NAME" takes them out but lets a
//     later element add them again, "!NAME" takes them out for good,
//     "+NAME" moves the matching suites that are in the list to its end;
//   - "A+B" matches the suites that match both A and B; a name may be an
//     alias (kRSA, aECDSA, AESGCM, HIGH, ...) or one suite's OpenSSL name;
//     names are case-sensitive and unknown names match nothing;
//   - "@STRENGTH" sorts the list by decreasing cipher key length (stable);
//     "@SECLEVEL=n" (n = 0..5) is accepted and has no effect on the list;
//   - a string that starts with "DEFAULT" starts from OpenSSL's default
//     list (ALL:!COMPLEMENTOFDEFAULT:!eNULL);
//   - a character that cannot start a name, an empty name after an
//     operator or a '+', or an unknown "@" command is an error.
//
// Before any element is applied the suites are in OpenSSL's built-in
// preference order, so the result has the order `openssl ciphers` prints.
// RC4 and 3DES suites, which Go has, are absent from OpenSSL 3.0 builds
// without weak-ssl-ciphers (Debian's): no string selects them, as with
// Postfix on Debian 12. Aliases that only match suites Go lacks (DHE,
// CAMELLIA, ARIA, CCM, PSK, eNULL, aNULL, MEDIUM, LOW, EXPORT, ...) select
// nothing here, exactly like an unknown name.

import (
	"fmt"
	"slices"
	"strings"
)

// Suite attribute bits, one mask per category (OpenSSL's algorithm_mkey,
// _auth, _enc, _mac).
const (
	kxRSA   = 1 << iota // key exchange
	kxECDHE             //

	auRSA   = 1 << 0 // authentication
	auECDSA = 1 << 1

	encAES128    = 1 << 0 // bulk cipher
	encAES256    = 1 << 1
	encAES128GCM = 1 << 2
	encAES256GCM = 1 << 3
	encCHACHA20  = 1 << 4

	macSHA1   = 1 << 0 // record MAC (AEAD suites have none of the hashes)
	macSHA256 = 1 << 1
	macSHA384 = 1 << 2
	macAEAD   = 1 << 3

	strHigh = 1 << 0 // strength class: HIGH and FIPS are exclusive
	strFIPS = 1 << 1 // classes, so "HIGH+FIPS" matches nothing
)

// Minimum protocol versions as OpenSSL lists them (the SSLv3, TLSv1 and
// TLSv1.2 aliases match these exactly).
const (
	minSSL3  = 0x0300
	minTLS1  = 0x0301
	minTLS12 = 0x0303
)

// opensslSuite is what the cipher string language can see of a suite.
type opensslSuite struct {
	id               uint16
	name             string
	kx, au, enc, mac uint8
	minVersion       uint16 // TLS 1.2 suites are usable with TLS 1.2 only
	bits             int    // strength_bits, the @STRENGTH key
	fips             bool   // matched by the FIPS alias (all are HIGH)
}

// opensslSuites are the suites both Go and OpenSSL 3.0 implement, in
// OpenSSL's built-in order (what "openssl ciphers ALL" prints).
var opensslSuites = []opensslSuite{
	{id: 0xc02c, name: "ECDHE-ECDSA-AES256-GCM-SHA384", kx: kxECDHE, au: auECDSA, enc: encAES256GCM, mac: macAEAD, minVersion: minTLS12, bits: 256, fips: true},
	{id: 0xc030, name: "ECDHE-RSA-AES256-GCM-SHA384", kx: kxECDHE, au: auRSA, enc: encAES256GCM, mac: macAEAD, minVersion: minTLS12, bits: 256, fips: true},
	{id: 0xcca9, name: "ECDHE-ECDSA-CHACHA20-POLY1305", kx: kxECDHE, au: auECDSA, enc: encCHACHA20, mac: macAEAD, minVersion: minTLS12, bits: 256},
	{id: 0xcca8, name: "ECDHE-RSA-CHACHA20-POLY1305", kx: kxECDHE, au: auRSA, enc: encCHACHA20, mac: macAEAD, minVersion: minTLS12, bits: 256},
	{id: 0xc02b, name: "ECDHE-ECDSA-AES128-GCM-SHA256", kx: kxECDHE, au: auECDSA, enc: encAES128GCM, mac: macAEAD, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0xc02f, name: "ECDHE-RSA-AES128-GCM-SHA256", kx: kxECDHE, au: auRSA, enc: encAES128GCM, mac: macAEAD, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0xc023, name: "ECDHE-ECDSA-AES128-SHA256", kx: kxECDHE, au: auECDSA, enc: encAES128, mac: macSHA256, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0xc027, name: "ECDHE-RSA-AES128-SHA256", kx: kxECDHE, au: auRSA, enc: encAES128, mac: macSHA256, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0xc00a, name: "ECDHE-ECDSA-AES256-SHA", kx: kxECDHE, au: auECDSA, enc: encAES256, mac: macSHA1, minVersion: minTLS1, bits: 256, fips: true},
	{id: 0xc014, name: "ECDHE-RSA-AES256-SHA", kx: kxECDHE, au: auRSA, enc: encAES256, mac: macSHA1, minVersion: minTLS1, bits: 256, fips: true},
	{id: 0xc009, name: "ECDHE-ECDSA-AES128-SHA", kx: kxECDHE, au: auECDSA, enc: encAES128, mac: macSHA1, minVersion: minTLS1, bits: 128, fips: true},
	{id: 0xc013, name: "ECDHE-RSA-AES128-SHA", kx: kxECDHE, au: auRSA, enc: encAES128, mac: macSHA1, minVersion: minTLS1, bits: 128, fips: true},
	{id: 0x009d, name: "AES256-GCM-SHA384", kx: kxRSA, au: auRSA, enc: encAES256GCM, mac: macAEAD, minVersion: minTLS12, bits: 256, fips: true},
	{id: 0x009c, name: "AES128-GCM-SHA256", kx: kxRSA, au: auRSA, enc: encAES128GCM, mac: macAEAD, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0x003c, name: "AES128-SHA256", kx: kxRSA, au: auRSA, enc: encAES128, mac: macSHA256, minVersion: minTLS12, bits: 128, fips: true},
	{id: 0x0035, name: "AES256-SHA", kx: kxRSA, au: auRSA, enc: encAES256, mac: macSHA1, minVersion: minSSL3, bits: 256, fips: true},
	{id: 0x002f, name: "AES128-SHA", kx: kxRSA, au: auRSA, enc: encAES128, mac: macSHA1, minVersion: minSSL3, bits: 128, fips: true},
}

// selector is one cipher string element: a mask per category (0 = any),
// an exact minimum version, and possibly one suite.
type selector struct {
	kx, au, enc, mac, str uint8
	version               uint16
	suite                 int // index+1 into opensslSuites; 0 = by attributes
}

const allEnc = encAES128 | encAES256 | encAES128GCM | encAES256GCM | encCHACHA20

// cipherAliases are the OpenSSL 3.0 aliases that match at least one suite
// of opensslSuites.
var cipherAliases = map[string]selector{
	"ALL":      {enc: allEnc},
	"HIGH":     {str: strHigh},
	"FIPS":     {str: strFIPS},
	"kRSA":     {kx: kxRSA},
	"RSA":      {kx: kxRSA},
	"aRSA":     {au: auRSA},
	"kECDHE":   {kx: kxECDHE},
	"kEECDH":   {kx: kxECDHE},
	"ECDH":     {kx: kxECDHE},
	"ECDHE":    {kx: kxECDHE, au: auRSA | auECDSA},
	"EECDH":    {kx: kxECDHE, au: auRSA | auECDSA},
	"aECDSA":   {au: auECDSA},
	"ECDSA":    {au: auECDSA},
	"AES":      {enc: encAES128 | encAES256 | encAES128GCM | encAES256GCM},
	"AES128":   {enc: encAES128 | encAES128GCM},
	"AES256":   {enc: encAES256 | encAES256GCM},
	"AESGCM":   {enc: encAES128GCM | encAES256GCM},
	"CHACHA20": {enc: encCHACHA20},
	"CBC":      {enc: encAES128 | encAES256},
	"SHA1":     {mac: macSHA1},
	"SHA":      {mac: macSHA1},
	"SHA256":   {mac: macSHA256},
	"SHA384":   {mac: macSHA384},
	"SSLv3":    {version: minSSL3},
	"TLSv1":    {version: minTLS1},
	"TLSv1.0":  {version: minTLS1},
	"TLSv1.2":  {version: minTLS12},
}

// defaultCipherString is what a leading "DEFAULT" stands for in OpenSSL 3.0.
const defaultCipherString = "ALL:!COMPLEMENTOFDEFAULT:!eNULL"

// CipherStringError reports a cipher string that OpenSSL refuses as
// malformed (as opposed to one that merely selects nothing).
type CipherStringError struct {
	String string
	Offset int // byte offset of the problem
	Reason string
}

func (e *CipherStringError) Error() string {
	return fmt.Sprintf("invalid cipher string %q at offset %d: %s", e.String, e.Offset, e.Reason)
}

// EvalCipherString evaluates an OpenSSL cipher string and returns the
// selected TLS 1.0-1.2 suites (Go/IANA IDs) in OpenSSL's order. An empty
// result without error is what OpenSSL reports as "no cipher match" (or a
// list of suites that Go does not implement). TLS 1.3 suites are not
// affected by cipher strings, in OpenSSL as in Go.
func EvalCipherString(s string) ([]uint16, error) {
	l := newCipherListState()
	rest := s
	if strings.HasPrefix(s, "DEFAULT") {
		if err := l.apply(defaultCipherString); err != nil {
			return nil, err
		}
		rest = strings.TrimPrefix(s[len("DEFAULT"):], ":")
	}
	if err := l.apply(rest); err != nil {
		err.(*CipherStringError).String = s
		err.(*CipherStringError).Offset += len(s) - len(rest)
		return nil, err
	}
	var out []uint16
	for _, i := range l.order {
		if l.active[i] {
			out = append(out, opensslSuites[i].id)
		}
	}
	return out, nil
}

// cipherListState is OpenSSL's working list: every suite not yet killed,
// in list order, each active (selected) or not.
type cipherListState struct {
	order  []int // indices into opensslSuites
	active []bool
}

func newCipherListState() *cipherListState {
	l := &cipherListState{active: make([]bool, len(opensslSuites))}
	for i := range opensslSuites {
		l.order = append(l.order, i)
	}
	return l
}

func isCipherSep(c byte) bool { return c == ':' || c == ' ' || c == ',' || c == ';' }

func isCipherWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '='
}

type cipherOp byte

const (
	opAdd     cipherOp = 0
	opDel     cipherOp = '-'
	opOrd     cipherOp = '+'
	opKill    cipherOp = '!'
	opSpecial cipherOp = '@'
)

// apply runs the elements of s in order.
func (l *cipherListState) apply(s string) error {
	fail := func(i int, reason string) error { return &CipherStringError{String: s, Offset: i, Reason: reason} }
	i := 0
	for i < len(s) {
		if isCipherSep(s[i]) {
			i++
			continue
		}
		op := opAdd
		switch c := cipherOp(s[i]); c {
		case opDel, opOrd, opKill, opSpecial:
			op = c
			i++
		}
		var (
			sel   selector
			found = true
		)
		for {
			start := i
			for i < len(s) && isCipherWordChar(s[i]) {
				i++
			}
			if i == start {
				return fail(i, "expected a cipher name or alias")
			}
			word := s[start:i]
			if op == opSpecial {
				switch {
				case word == "STRENGTH":
					l.sortByStrength()
				case len(word) == len("SECLEVEL=n") && strings.HasPrefix(word, "SECLEVEL=") && word[9] >= '0' && word[9] <= '5':
				default:
					return fail(start, fmt.Sprintf("unknown command @%s", word))
				}
				found = false // the rest of the element is ignored
				break
			}
			if !sel.and(word) {
				found = false
				break
			}
			if i < len(s) && s[i] == '+' {
				i++
				continue
			}
			break
		}
		if found {
			l.run(op, sel)
		}
		for i < len(s) && !isCipherSep(s[i]) { // skip what was not understood
			i++
		}
	}
	return nil
}

// and narrows sel by one word; false if the word is unknown or the
// combination can match nothing.
func (sel *selector) and(word string) bool {
	if a, ok := cipherAliases[word]; ok {
		for _, p := range []struct{ dst, src *uint8 }{
			{&sel.kx, &a.kx}, {&sel.au, &a.au}, {&sel.enc, &a.enc}, {&sel.mac, &a.mac}, {&sel.str, &a.str},
		} {
			if *p.src == 0 {
				continue
			}
			if *p.dst == 0 {
				*p.dst = *p.src
			} else if *p.dst &= *p.src; *p.dst == 0 {
				return false
			}
		}
		if a.version != 0 {
			if sel.version != 0 && sel.version != a.version {
				return false
			}
			sel.version = a.version
		}
		return true
	}
	for i := range opensslSuites {
		if opensslSuites[i].name == word {
			if sel.suite != 0 && sel.suite != i+1 {
				return false // two different suites
			}
			sel.suite = i + 1
			return true
		}
	}
	return false
}

func (sel selector) matches(i int) bool {
	c := &opensslSuites[i]
	switch {
	case sel.suite != 0 && sel.suite != i+1,
		sel.kx != 0 && sel.kx&c.kx == 0,
		sel.au != 0 && sel.au&c.au == 0,
		sel.enc != 0 && sel.enc&c.enc == 0,
		sel.mac != 0 && sel.mac&c.mac == 0,
		sel.str != 0 && sel.str&c.strength() == 0,
		sel.version != 0 && sel.version != c.minVersion:
		return false
	}
	return true
}

func (c *opensslSuite) strength() uint8 {
	if c.fips {
		return strHigh | strFIPS
	}
	return strHigh
}

// run applies one element. Moves keep the relative order of the suites
// moved and of those left in place.
func (l *cipherListState) run(op cipherOp, sel selector) {
	var moved, stay []int
	for _, i := range l.order {
		m := sel.matches(i)
		switch {
		case op == opAdd && m && !l.active[i]:
			l.active[i] = true
			moved = append(moved, i)
		case op == opOrd && m && l.active[i]:
			moved = append(moved, i)
		case op == opDel && m && l.active[i]:
			l.active[i] = false
			moved = append(moved, i)
		case op == opKill && m:
			l.active[i] = false // dropped from the list
		default:
			stay = append(stay, i)
		}
	}
	if op == opDel { // taken-out suites go to the front
		l.order = append(moved, stay...)
	} else {
		l.order = append(stay, moved...)
	}
}

// sortByStrength moves the active suites to the end, strongest first,
// keeping the order among equals.
func (l *cipherListState) sortByStrength() {
	var inactive, active []int
	for _, i := range l.order {
		if l.active[i] {
			active = append(active, i)
		} else {
			inactive = append(inactive, i)
		}
	}
	slices.SortStableFunc(active, func(a, b int) int { return opensslSuites[b].bits - opensslSuites[a].bits })
	l.order = append(inactive, active...)
}
