package pfversion

import "testing"

func TestTLSLog(t *testing.T) {
	brief := TLSLog{PeerCert: PeerCert28}
	older := TLSLog{}
	details := TLSLog{Details: true, ResumedSignatures: true}
	fixed := TLSLog{Details: true}
	words := TLSLog{Details: true, ResumedSignatures: true, PeerCert: PeerCert39}
	wordsFixed := TLSLog{Details: true, PeerCert: PeerCert39}
	groups := TLSLog{Details: true, GroupNames: true, ResumedSignatures: true, PeerCert: PeerCert39}
	groupsFixed := TLSLog{Details: true, GroupNames: true, PeerCert: PeerCert39}
	for _, tc := range []struct {
		v    string
		want TLSLog
	}{
		{"2.8.0", brief},
		{"2.8.20", brief},
		{"2.9.0", older},
		{"2.11.11", older},
		{"3.3.22", older},
		{"3.4.0", details},
		{"3.5.20", details},
		{"3.6.16", details},
		{"3.6.17", fixed},
		{"3.7.11", details},
		{"3.7.12", details},
		{"3.7.13", fixed},
		{"3.8.7", details},
		{"3.8.8", fixed},
		{"3.9-20230801", details},
		{"3.9-20230807", words},
		{"3.9.1", words},
		{"3.9.2", wordsFixed},
		{"3.9.14", wordsFixed},
		{"3.10-20240901", words},
		{"3.10-20240923", groups},
		{"3.10-20250215", groupsFixed},
		{"3.10.0", groupsFixed},
		{"3.10.13", groupsFixed},
		{"3.11.6", groupsFixed},
		{"3.12-20260821", groupsFixed},
	} {
		if got := MustParse(tc.v).TLSLog(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.v, got, tc.want)
		}
	}
	if got := (Version{}).TLSLog(); got != details {
		t.Errorf("unknown release: %+v, want 3.7's", got)
	}
}
