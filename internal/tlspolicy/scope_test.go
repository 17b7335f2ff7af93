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
	var leaves func(v reflect.Value, path string, visit func(reflect.Value, string))
	leaves = func(v reflect.Value, path string, visit func(reflect.Value, string)) {
		if v.Kind() != reflect.Struct {
			visit(v, path)
			return
		}
		for i := range v.NumField() {
			leaves(v.Field(i), path+"."+v.Type().Field(i).Name, visit)
		}
	}
	n := 0
	leaves(reflect.ValueOf(base), "ServerSettings", func(reflect.Value, string) { n++ })
	for i := range n {
		changed := base
		j := 0
		leaves(reflect.ValueOf(&changed).Elem(), "ServerSettings", func(v reflect.Value, name string) {
			if j++; j-1 != i {
				return
			}
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Int:
				v.SetInt(v.Int() + 1)
			default:
				t.Errorf("%s is a %s: Scope hashes plain values only", name, v.Type())
				return
			}
			if changed.Scope() == scope {
				t.Errorf("%s does not change Scope(): add it there", name)
			}
		})
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
