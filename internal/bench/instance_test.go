package bench

import (
	"bufio"
	"maps"
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"pfinstance", "# written by scripts/pfinstance.sh start\nPF_DIR=/tmp/x\nPF_MASTER_PID=123\n\n",
			map[string]string{"PF_DIR": "/tmp/x", "PF_MASTER_PID": "123"}, false},
		{"empty value and equals in value", "A=\nB=x=y\n", map[string]string{"A": "", "B": "x=y"}, false},
		{"empty", "", map[string]string{}, false},
		{"no equals", "PF_DIR\n", nil, true},
		{"no name", "=x\n", nil, true},
		{"space in name", "A B=x\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnv([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseEnv(f *testing.F) {
	f.Add([]byte("PF_DIR=/tmp/x\nPF_MASTER_PID=123\n"))
	f.Add([]byte("# c\n\nA=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnv(b)
		if err != nil {
			return
		}
		for k := range env {
			if k == "" {
				t.Errorf("empty name accepted")
			}
		}
	})
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(20000, 3)
	if err != nil {
		t.Skip(err)
	}
	if len(ports) != 3 || ports[0] >= ports[1] || ports[1] >= ports[2] {
		t.Errorf("FreePorts = %v", ports)
	}
}

func TestTLSProxyPIDs(t *testing.T) {
	tests := []struct {
		name, log string
		want      []int
	}{
		{"none", "", nil},
		{"one process, three lines", "Dec  3 11:24:50 h postfix/tlsproxy[10]: CONNECT from [127.0.0.1]:1\n" +
			"Dec  3 11:24:50 h postfix/tlsproxy[10]: Anonymous TLS connection established from [127.0.0.1]:1: TLSv1.3\n" +
			"Dec  3 11:24:50 h postfix/tlsproxy[10]: DISCONNECT [127.0.0.1]:1\n", []int{10}},
		{"two processes and others", "x postfix/tlsproxy[10]: CONNECT\nx postfix/master[3]: daemon started\n" +
			"x postfix/tlsproxy-once/tlsproxy[11]: CONNECT\nx postfix/tlsmgr[4]: ok\n", []int{10, 11}},
		{"not a pid", "x postfix/tlsproxy[]: y\nx postfix/tlsproxy[1a]: y\nx tlsproxy[12] no colon\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tlsproxyPIDs(bufio.NewScanner(strings.NewReader(tc.log)))
			if len(got) != len(tc.want) {
				t.Fatalf("pids %v, want %v", got, tc.want)
			}
			for _, p := range tc.want {
				if !got[p] {
					t.Errorf("pids %v, want %v", got, tc.want)
				}
			}
		})
	}
}
