package main

import (
	"strconv"
	"strings"

	"tlsproxy/internal/logs"
	"tlsproxy/internal/tlspolicy"
)

// serverInit returns our server settings as a Postfix 3.12 postscreen
// sends them in TLS_SERVER_INIT_PROPS (what Postfix's tlsproxy compares a
// request's with): the tlsproxy_tls_* values, with the effective
// protocols (mandatory ones at level encrypt) and client-certificate
// request. Nil when the server role is off.
func serverInit(s tlspolicy.ServerSettings, srv *tlspolicy.Server) map[string]string {
	if srv == nil || !srv.Enabled {
		return nil
	}
	b := func(v bool) string { return map[bool]string{false: "0", true: "1"}[v] }
	cert := s.CertFile
	if strings.EqualFold(cert, "none") {
		cert = ""
	}
	protocols := s.Protocols
	if srv.Enforce {
		protocols = s.MandatoryProtocols
	}
	return map[string]string{
		"log_param": "tlsproxy_tls_loglevel", "log_level": s.LogLevel,
		"verifydepth": strconv.Itoa(s.VerifyDepth), "cache_type": "smtpd",
		"set_sessid": b(s.AlwaysIssueSessionIDs), "chain_files": s.ChainFiles,
		"cert_file": cert, "key_file": s.KeyFile, "dcert_file": s.DCertFile, "dkey_file": s.DKeyFile,
		"eccert_file": s.ECCertFile, "eckey_file": s.ECKeyFile, "CAfile": s.CAfile, "CApath": s.CApath,
		"protocols": protocols, "eecdh_grade": s.EECDHGrade,
		"dh1024_param_file": s.DH1024ParamFile, "dh512_param_file": s.DH512ParamFile,
		"ask_ccert": b(srv.AskCert), "mdalg": s.FingerprintDigest,
	}
}

// requestServer makes, after the jail, a server context from a 3.12
// request's TLS_SERVER_INIT_PROPS, with our other settings (global tls_*
// ones, cipher lists); the cipher grade, log level and requirecert of
// each session come with its request. Files the jail hides make it fail
// with Postfix's warnings: the request then gets status 0.
func requestServer(s tlspolicy.ServerSettings, log logs.Logger) func(init map[string]string) *tlspolicy.Server {
	return func(init map[string]string) *tlspolicy.Server {
		set := s
		set.SecurityLevel, set.UseTLS, set.EnforceTLS, set.ReqCcert = "may", true, false, false
		set.LogLevel = init["log_level"]
		if n, err := strconv.Atoi(init["verifydepth"]); err == nil {
			set.VerifyDepth = n
		}
		set.ChainFiles, set.CertFile, set.KeyFile = init["chain_files"], init["cert_file"], init["key_file"]
		set.DCertFile, set.DKeyFile = init["dcert_file"], init["dkey_file"]
		set.ECCertFile, set.ECKeyFile = init["eccert_file"], init["eckey_file"]
		set.CAfile, set.CApath = init["CAfile"], init["CApath"]
		set.Protocols, set.MandatoryProtocols = init["protocols"], init["protocols"]
		set.EECDHGrade = init["eecdh_grade"]
		set.DH1024ParamFile, set.DH512ParamFile = init["dh1024_param_file"], init["dh512_param_file"]
		set.AskCcert = init["ask_ccert"] == "1"
		set.AlwaysIssueSessionIDs = init["set_sessid"] == "1"
		set.FingerprintDigest = init["mdalg"]
		srv, err := tlspolicy.NewServer(set, log)
		if err != nil {
			log.Warnf("%v", err)
			return nil
		}
		return srv
	}
}
