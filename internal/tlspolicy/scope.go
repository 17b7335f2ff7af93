package tlspolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
)

// Scope names the server policy these settings make, for session tickets:
// a ticket issued under one policy never resumes under another, and every
// process with the same settings must get the same name, or tickets stop
// resuming across processes. Each setting is hashed by name and value; a
// field added to ServerSettings must be added here too
// (TestScopeCoversEverySetting fails until it is). Nothing whose printed
// form differs between processes (a function, a pointer) may be hashed.
func (s ServerSettings) Scope() string {
	h := sha256.New()
	str := func(name, v string) { scopeField(h, name, v) }
	flag := func(name string, v bool) { scopeField(h, name, strconv.FormatBool(v)) }
	str("SecurityLevel", s.SecurityLevel)
	flag("UseTLS", s.UseTLS)
	flag("EnforceTLS", s.EnforceTLS)
	flag("AskCcert", s.AskCcert)
	flag("ReqCcert", s.ReqCcert)
	str("VerifyDepth", strconv.Itoa(s.VerifyDepth))
	str("ChainFiles", s.ChainFiles)
	str("CertFile", s.CertFile)
	str("KeyFile", s.KeyFile)
	str("DCertFile", s.DCertFile)
	str("DKeyFile", s.DKeyFile)
	str("ECCertFile", s.ECCertFile)
	str("ECKeyFile", s.ECKeyFile)
	str("CAfile", s.CAfile)
	str("CApath", s.CApath)
	str("Protocols", s.Protocols)
	str("MandatoryProtocols", s.MandatoryProtocols)
	str("Ciphers", s.Ciphers)
	str("MandatoryCiphers", s.MandatoryCiphers)
	str("ExcludeCiphers", s.ExcludeCiphers)
	str("MandatoryExcludeCiphers", s.MandatoryExcludeCiphers)
	str("FingerprintDigest", s.FingerprintDigest)
	str("EECDHGrade", s.EECDHGrade)
	str("LogLevel", s.LogLevel)
	str("DH1024ParamFile", s.DH1024ParamFile)
	str("DH512ParamFile", s.DH512ParamFile)
	flag("AlwaysIssueSessionIDs", s.AlwaysIssueSessionIDs)
	str("HighCipherlist", s.HighCipherlist)
	str("MediumCipherlist", s.MediumCipherlist)
	str("LowCipherlist", s.LowCipherlist)
	str("ExportCipherlist", s.ExportCipherlist)
	str("NullCipherlist", s.NullCipherlist)
	flag("PreemptCipherlist", s.PreemptCipherlist)
	str("Global", fmt.Sprintf("%+v", s.Global)) // plain values only (TestScopeCoversEverySetting)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:8])
}

// scopeField writes one setting, length-prefixed so that no two lists of
// values hash alike.
func scopeField(h hash.Hash, name, value string) {
	fmt.Fprintf(h, "%d:%s=%d:%s;", len(name), name, len(value), value)
}
