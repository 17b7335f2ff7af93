//go:build cgo && libcrypto

package libcrypto

import (
	"crypto"
	"crypto/rsa"
	"sync"
	"testing"
)

// BenchmarkRSAContext compares a signature with a context made for it
// (fresh) with one from the key's pool of prepared contexts (pooled), for
// RSA-PSS with SHA-256, the TLS 1.3 signature of an RSA certificate.
func BenchmarkRSAContext(b *testing.B) {
	priv := loadPKCS8[*rsa.PrivateKey](b, "rsa2048.pem")
	c, err := newCKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	d := digest(crypto.SHA256, []byte("benchmark"))
	p := signParams{hash: crypto.SHA256, pss: true, salt: rsa.PSSSaltLengthEqualsHash}
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.signFresh(p, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pooled", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.sign(p, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestContextPool signs from many goroutines at once with every
// parameter set and checks each signature, so that a context used by two
// signatures at a time, or one left in a wrong state, shows; and that the
// pool keeps no more than maxIdleCtx contexts per parameter set.
func TestContextPool(t *testing.T) {
	k, priv := newKey(t, "rsa2048.pem")
	opts := []crypto.SignerOpts{
		crypto.SHA256, crypto.SHA384, crypto.MD5SHA1,
		&rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash},
		&rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthAuto},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				o := opts[(g+i)%len(opts)]
				d := digest(o.HashFunc(), []byte{byte(g), byte(i)})
				sig, err := k.Sign(nil, d, o)
				if err == nil {
					err = verify(&priv.PublicKey, d, sig, o)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p := k.c.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		t.Error("no context was kept for reuse")
	}
	for params, l := range p.idle {
		if len(l) > maxIdleCtx {
			t.Errorf("%+v: %d idle contexts, more than %d", params, len(l), maxIdleCtx)
		}
	}
}
