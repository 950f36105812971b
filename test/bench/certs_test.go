package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"
)

// The registries' certificate is for 127.0.0.1, signed by the authority
// the tools are given.
func TestWriteCerts(t *testing.T) {
	f, err := writeCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: f.pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the certificate does not verify for 127.0.0.1 against the authority: %v", err)
	}
}

func TestTLSFlag(t *testing.T) {
	if _, err := parseFlags([]string{"--tls"}, io.Discard); err == nil {
		t.Error("--tls on the loopback profile was accepted")
	}
	o, err := parseFlags([]string{"--profile", "wan", "--tls"}, io.Discard)
	if err != nil || !o.profile.tls || o.profile.plainHTTP() != nil {
		t.Errorf("--profile wan --tls: %v, tls %v, plain-HTTP flag %q; want TLS and no --insecure", err, o.profile.tls, o.profile.plainHTTP())
	}
}
