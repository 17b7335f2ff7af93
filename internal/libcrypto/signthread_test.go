//go:build cgo && libcrypto

package libcrypto

import (
	"crypto"
	"crypto/rsa"
	"runtime"
	"testing"
)

// TestSigningThreads checks that RSA signatures are made on signing
// threads, that no more threads start than GOMAXPROCS however many
// signatures run at once, and that every signature verifies.
func TestSigningThreads(t *testing.T) {
	k, priv := newKey(t, "rsa2048.pem")
	if !k.c.thread {
		t.Fatal("an RSA key does not sign on signing threads")
	}
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		signConcurrently(t, func(g, i int) error {
			opts := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
			d := digest(crypto.SHA256, []byte{byte(g), byte(i), byte(procs)})
			sig, err := k.Sign(nil, d, opts)
			if err == nil {
				err = verify(&priv.PublicKey, d, sig, opts)
			}
			return err
		})
		runtime.GOMAXPROCS(prev)
		workers.mu.Lock()
		n := workers.n
		workers.mu.Unlock()
		// Threads live as long as the process: earlier tests may have
		// started up to their GOMAXPROCS.
		if n < 1 || n > max(procs, prev) {
			t.Errorf("GOMAXPROCS %d: %d signing threads", procs, n)
		}
	}
}

// BenchmarkSignPath compares an RSA-2048 signature made on a signing
// thread with one made by a cgo call of the caller (RSA-PSS, SHA-256).
func BenchmarkSignPath(b *testing.B) {
	k, _ := newKey(b, "rsa2048.pem")
	d := digest(crypto.SHA256, []byte("benchmark"))
	opts := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	for _, thread := range []bool{true, false} {
		name := map[bool]string{true: "thread", false: "cgo-call"}[thread]
		b.Run(name, func(b *testing.B) {
			k.c.thread = thread
			defer func() { k.c.thread = true }()
			for b.Loop() {
				if _, err := k.Sign(nil, d, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
