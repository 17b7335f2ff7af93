package tlspolicy

// Bounded chain building. Like OpenSSL's X509_check_issued, a candidate
// issuer is first judged by cheap comparisons: its subject is the child's
// issuer name, its subject key identifier (when both are present) is the
// child's authority key identifier, and its key type can have made the
// child's signature. Only such candidates cost a signature check; each
// (child, issuer) pair is checked at most once per verification, and one
// verification never makes more than its budget of checks, of which at
// most MaxFailedChecks may fail. A peer that
// sends many certificates with one name and one key identifier, ordered
// so that the real issuer is always tried last, meets the budget, and its
// chain fails to verify.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
)

// SigCheckBudget is how many signature checks one verification may make
// at Postfix's default verify depth (9): a chain at that limit has 11
// certificates, so 10 issuer checks and the root's own signature. A larger
// verify depth raises it (see NewChainBuilder), up to what MaxPeerChain
// certificates need.
const SigCheckBudget = 12

// MaxFailedChecks is how many of those checks may fail: a candidate that
// passes the cheap comparisons and still did not sign is rare in a real
// chain (same name and key identifier, another key), and what a hostile
// peer sends to make the search try every candidate.
const MaxFailedChecks = 4

// MaxPeerChain bounds how many of a peer's certificates verification
// looks at; the rest are ignored.
const MaxPeerChain = 32

// ChainBuilder holds one verification's signature checks.
type ChainBuilder struct {
	budget    int
	Checks    int  // signature checks made
	Exhausted bool // a check was refused: the budget had run out
	failed    int  // checks that failed
	memo      map[sigPair]bool
	keys      map[int]any // parsed DANE trust-anchor keys, by record index
}

// sigPair is one signature check: child signed by parent (nil parent:
// by its own key).
type sigPair struct{ child, parent *x509.Certificate }

// NewChainBuilder returns a builder whose budget fits the verify depth.
func NewChainBuilder(verifyDepth int) *ChainBuilder {
	budget := SigCheckBudget
	if need := verifyDepth + 3; need > budget {
		budget = min(need, MaxPeerChain+2)
	}
	return &ChainBuilder{budget: budget, memo: map[sigPair]bool{}}
}

// check runs one signature check through the memo and the budget.
func (b *ChainBuilder) check(p sigPair, verify func() error) bool {
	if ok, seen := b.memo[p]; seen {
		return ok
	}
	if b.Checks >= b.budget || b.failed >= MaxFailedChecks {
		b.Exhausted = true
		return false
	}
	b.Checks++
	ok := verify() == nil
	if !ok {
		b.failed++
	}
	b.memo[p] = ok
	return ok
}

// IssuedBy reports whether parent issued child: the cheap comparisons,
// then the signature.
func (b *ChainBuilder) IssuedBy(child, parent *x509.Certificate) bool {
	if !likelyIssuer(child, parent) {
		return false
	}
	return b.check(sigPair{child, parent}, func() error { return child.CheckSignatureFrom(parent) })
}

// SelfSigned reports whether c is self-issued and signed by its own key.
func (b *ChainBuilder) SelfSigned(c *x509.Certificate) bool {
	if !likelyIssuer(c, c) {
		return false
	}
	return b.check(sigPair{c, nil}, func() error {
		return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	})
}

// SignedByKey reports whether the bare public key of DANE record idx
// signed c.
func (b *ChainBuilder) SignedByKey(c *x509.Certificate, idx int, spki []byte) bool {
	if b.keys == nil {
		b.keys = map[int]any{}
	}
	pub, ok := b.keys[idx]
	if !ok {
		pub, _ = x509.ParsePKIXPublicKey(spki) // nil on error
		b.keys[idx] = pub
	}
	if pub == nil || !keyFits(c.SignatureAlgorithm, pub) {
		return false
	}
	anchor := &x509.Certificate{PublicKey: pub, Raw: spki}
	return b.check(sigPair{c, anchor}, func() error {
		return anchor.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	})
}

// FindIssuer returns the index of the first unused candidate that issued
// c, or -1.
func (b *ChainBuilder) FindIssuer(c *x509.Certificate, candidates []*x509.Certificate, used []bool) int {
	for i, p := range candidates {
		if used != nil && used[i] {
			continue
		}
		if b.IssuedBy(c, p) {
			return i
		}
	}
	return -1
}

// likelyIssuer is what can be told without a signature check: names,
// key identifiers and key type.
func likelyIssuer(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	if len(child.AuthorityKeyId) > 0 && len(parent.SubjectKeyId) > 0 &&
		!bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId) {
		return false
	}
	return keyFits(child.SignatureAlgorithm, parent.PublicKey)
}

// keyFits reports whether a key of pub's type can make signatures of
// algorithm alg (unknown algorithms are left to the signature check).
func keyFits(alg x509.SignatureAlgorithm, pub any) bool {
	switch alg {
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		_, ok := pub.(*ecdsa.PublicKey)
		return ok
	case x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS, x509.MD5WithRSA, x509.MD2WithRSA:
		_, ok := pub.(*rsa.PublicKey)
		return ok
	case x509.PureEd25519:
		_, ok := pub.(ed25519.PublicKey)
		return ok
	}
	return true
}
