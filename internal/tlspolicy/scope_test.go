package tlspolicy

import (
	"reflect"
	"testing"
)

// TestScopeCoversEverySetting: changing any one setting changes the
// scope, so every field of ServerSettings is hashed; a field of a kind
// that cannot be hashed the same way in every process (a function, a
// pointer) fails the test.
func TestScopeCoversEverySetting(t *testing.T) {
	base := ServerSettings{SecurityLevel: "may", VerifyDepth: 9, LogLevel: "1"}
	scope := base.Scope()
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int:
			v.SetInt(v.Int() + 1)
		default:
			t.Errorf("ServerSettings.%s is a %s: Scope hashes plain values only", f.Name, f.Type)
			continue
		}
		if changed.Scope() == scope {
			t.Errorf("ServerSettings.%s does not change Scope(): add it there", f.Name)
		}
	}
}

// TestScopeStable: equal settings made apart get the same scope; values
// cannot run into each other.
func TestScopeStable(t *testing.T) {
	a := ServerSettings{SecurityLevel: "may", CertFile: "/etc/cert.pem", Protocols: ">=TLSv1"}
	b := ServerSettings{Protocols: ">=TLSv1", CertFile: "/etc/cert.pem", SecurityLevel: "may"}
	if a.Scope() != b.Scope() {
		t.Errorf("equal settings, scopes %s and %s", a.Scope(), b.Scope())
	}
	if len(a.Scope()) != 16 {
		t.Errorf("scope %q, want 16 hex digits", a.Scope())
	}
	// Values that would run together without the length prefixes.
	c := ServerSettings{CertFile: "a", KeyFile: "bc"}
	d := ServerSettings{CertFile: "ab", KeyFile: "c"}
	if c.Scope() == d.Scope() {
		t.Error("CertFile a + KeyFile bc has the scope of ab + c")
	}
}
