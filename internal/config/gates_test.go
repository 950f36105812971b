package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gateDir writes the keys named in files (name to PEM) into a fresh
// directory and returns the path its ferry.yaml would have.
func gateDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "ferry.yaml")
}

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func publicPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PUBLIC KEY", der)
}

// withGates is base with a gates section (its lines indented as under the
// destination) from line 12 on.
func withGates(lines ...string) string {
	return add(append([]string{"        gates:"}, lines...)...)
}

func TestGatesValid(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string][]byte{
		"keys/ec.pub":  publicPEM(t, &ec.PublicKey),
		"keys/rsa.pub": publicPEM(t, &rs.PublicKey),
		"ed.pub":       publicPEM(t, edPub),
	}
	path := gateDir(t, keys)
	const arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	data := withGates(
		"          scan:",
		"            maxSeverity: MEDIUM",
		"            wait: 45m",
		"            ignore: [CVE-2024-0001, GHSA-abcd-efgh-ijkl]",
		"          signature:",
		"            keys:",
		"              - file: keys/ec.pub",
		"              - file: keys/rsa.pub",
		"              - file: ed.pub",
		"              - kms: "+arn,
		"            wait: 2m",
	)
	c, err := Parse(path, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Rules[0].Destinations[0].Gates
	if !g.Any() || g.Scan == nil || g.Signature == nil {
		t.Fatalf("gates = %+v, want scan and signature", g)
	}
	if g.Scan.MaxSeverity != SeverityMedium || time.Duration(g.Scan.Wait) != 45*time.Minute || strings.Join(g.Scan.Ignore, " ") != "CVE-2024-0001 GHSA-abcd-efgh-ijkl" {
		t.Errorf("scan gate = %+v", g.Scan)
	}
	var names []string
	for _, k := range g.Signature.Keys {
		names = append(names, k.Name())
		if k.File != "" && string(k.PEM) != string(keys[k.File]) {
			t.Errorf("key %s: PEM is not the file's contents", k.File)
		}
	}
	if got, want := strings.Join(names, " "), "keys/ec.pub keys/rsa.pub ed.pub "+arn; got != want {
		t.Errorf("keys = %s, want %s", got, want)
	}
	if time.Duration(g.Signature.Wait) != 2*time.Minute {
		t.Errorf("signature wait = %s, want 2m", g.Signature.Wait)
	}
	if got, want := strings.Join(c.KeyFiles(), " "), "keys/ec.pub keys/rsa.pub ed.pub"; got != want {
		t.Errorf("KeyFiles() = %s, want %s", got, want)
	}

	// The gates travel through JSON (a Lambda's input) with their keys and
	// a readable wait.
	b, err := json.Marshal(c.Rules[0].Destinations[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"wait":"45m0s"`) {
		t.Errorf("JSON %s has no readable wait", b)
	}
	var back Destination
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if time.Duration(back.Gates.Scan.Wait) != 45*time.Minute || len(back.Gates.Signature.Keys) != 4 || string(back.Gates.Signature.Keys[0].PEM) != string(keys["keys/ec.pub"]) {
		t.Errorf("gates after JSON = %+v %+v", back.Gates.Scan, back.Gates.Signature)
	}
}

func TestGatesDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("ferry.yaml", []byte(withGates("          scan: {maxSeverity: HIGH}")))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Rules[0].Destinations[0].Gates
	if g.Signature != nil || g.Scan == nil || time.Duration(g.Scan.Wait) != DefaultScanWait || g.Scan.Ignore != nil {
		t.Errorf("gates = %+v %+v, want a scan gate with the default wait", g.Scan, g.Signature)
	}
	c, err = Parse("ferry.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules[0].Destinations[0].Gates.Any() {
		t.Errorf("a destination without gates has %+v", c.Rules[0].Destinations[0].Gates)
	}
}

func TestSeverityRank(t *testing.T) {
	t.Parallel()
	for i := 1; i < len(Severities); i++ {
		if Severities[i-1].Rank() >= Severities[i].Rank() {
			t.Errorf("%s ranks at or above %s", Severities[i-1], Severities[i])
		}
	}
	if SeverityUndefined.Rank() <= SeverityCritical.Rank() {
		t.Errorf("UNDEFINED ranks below CRITICAL")
	}
	for _, s := range []Severity{"UNTRIAGED", "SOMETHING_NEW"} {
		if s.Rank() != SeverityUndefined.Rank() {
			t.Errorf("%s ranks %d, want UNDEFINED's %d", s, s.Rank(), SeverityUndefined.Rank())
		}
	}
	if Severity("high").Rank() != SeverityHigh.Rank() {
		t.Errorf("severity case matters in Rank")
	}
}

func TestGatesErrors(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	good := publicPEM(t, &ec.PublicKey)
	files := map[string][]byte{
		"good.pub":    good,
		"text.pub":    []byte("not a key\n"),
		"private.pem": pemOf(t, "EC PRIVATE KEY", ecDER),
		"cert.pem":    pemOf(t, "CERTIFICATE", []byte{1, 2, 3}),
		"garbage.pub": pemOf(t, "PUBLIC KEY", []byte{1, 2, 3}),
		"p224.pub":    publicPEM(t, &ec224.PublicKey),
		"rsa1024.pub": publicPEM(t, &small.PublicKey),
		"two.pub":     append(append([]byte{}, good...), good...),
	}
	path := gateDir(t, files)
	const arn = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name      string
		lines     []string
		wantPos   string
		wantField string
		wantErr   error
		wantMsg   string
	}{
		{
			name:    "empty gates",
			lines:   []string{"          {}"},
			wantPos: "13:11", wantField: "rules[0].destinations[0].gates", wantErr: ErrMissingField,
			wantMsg: "has no gate; want scan, signature or both",
		},
		{
			name:    "unknown gate",
			lines:   []string{"          scna: {}"},
			wantPos: "13:11", wantField: "rules[0].destinations[0].gates.scna", wantErr: ErrUnknownField,
			wantMsg: `(did you mean "scan"?)`,
		},
		{
			name:    "missing maxSeverity",
			lines:   []string{"          scan: {wait: 10m}"},
			wantPos: "13:17", wantField: "rules[0].destinations[0].gates.scan.maxSeverity", wantErr: ErrMissingField,
			wantMsg: "want the highest severity allowed, one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, UNDEFINED",
		},
		{
			name:    "lower-case severity",
			lines:   []string{"          scan: {maxSeverity: high}"},
			wantPos: "13:31", wantField: "rules[0].destinations[0].gates.scan.maxSeverity", wantErr: ErrInvalidValue,
			wantMsg: `"high" is not an ECR severity; severities are upper case: HIGH`,
		},
		{
			name:    "unknown severity",
			lines:   []string{"          scan: {maxSeverity: SEVERE}"},
			wantPos: "13:31", wantField: "rules[0].destinations[0].gates.scan.maxSeverity", wantErr: ErrInvalidValue,
			wantMsg: `"SEVERE" is not an ECR severity (want one of INFORMATIONAL,`,
		},
		{
			name:    "bad wait",
			lines:   []string{"          scan: {maxSeverity: LOW, wait: 30 minutes}"},
			wantPos: "13:42", wantField: "rules[0].destinations[0].gates.scan.wait", wantErr: ErrInvalidValue,
			wantMsg: `"30 minutes" is not a duration`,
		},
		{
			name:    "negative wait",
			lines:   []string{"          scan: {maxSeverity: LOW, wait: -1m}"},
			wantPos: "13:42", wantField: "rules[0].destinations[0].gates.scan.wait", wantErr: ErrInvalidValue,
			wantMsg: "-1m is negative",
		},
		{
			name:    "wait too long",
			lines:   []string{"          scan: {maxSeverity: LOW, wait: 48h}"},
			wantPos: "13:42", wantField: "rules[0].destinations[0].gates.scan.wait", wantErr: ErrInvalidValue,
			wantMsg: "48h is longer than 24h0m0s",
		},
		{
			name:    "signature wait too long",
			lines:   []string{"          signature: {keys: [{kms: \"arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab\"}], wait: 25h}"},
			wantPos: "13:123", wantField: "rules[0].destinations[0].gates.signature.wait", wantErr: ErrInvalidValue,
			wantMsg: "25h is longer than 24h0m0s; a pipeline signs minutes after it pushes",
		},
		{
			name:    "duplicate ignore",
			lines:   []string{"          scan: {maxSeverity: LOW, ignore: [CVE-1, CVE-1]}"},
			wantPos: "13:52", wantField: "rules[0].destinations[0].gates.scan.ignore[1]", wantErr: ErrDuplicate,
			wantMsg: `"CVE-1" is already listed at line 13`,
		},
		{
			name:    "no keys",
			lines:   []string{"          signature: {keys: []}"},
			wantPos: "13:29", wantField: "rules[0].destinations[0].gates.signature.keys", wantErr: ErrMissingField,
			wantMsg: "is empty; want at least one key",
		},
		{
			name:    "key with neither",
			lines:   []string{"          signature: {keys: [{}]}"},
			wantPos: "13:30", wantField: "rules[0].destinations[0].gates.signature.keys[0]", wantErr: ErrMissingField,
			wantMsg: "names no key; want file: PATH.pub",
		},
		{
			name:    "key with both",
			lines:   []string{"          signature: {keys: [{file: good.pub, kms: " + arn + "}]}"},
			wantPos: "13:52", wantField: "rules[0].destinations[0].gates.signature.keys[0]", wantErr: ErrConflict,
			wantMsg: "has both file and kms",
		},
		{
			name:    "kms alias",
			lines:   []string{"          signature: {keys: [{kms: alias/release}]}"},
			wantPos: "13:36", wantField: "rules[0].destinations[0].gates.signature.keys[0].kms", wantErr: ErrInvalidValue,
			wantMsg: `"alias/release" is not a KMS key ARN`,
		},
		{
			name:    "missing file",
			lines:   []string{"          signature: {keys: [{file: keys/missing.pub}]}"},
			wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue,
			wantMsg: "missing.pub does not exist (paths are relative to the configuration file's directory)",
		},
		{
			name:    "file outside",
			lines:   []string{"          signature: {keys: [{file: ../good.pub}]}"},
			wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue,
			wantMsg: `"../good.pub" is not a path inside the configuration's directory`,
		},
		{name: "not PEM", lines: []string{"          signature: {keys: [{file: text.pub}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "text.pub: is not PEM"},
		{name: "private key", lines: []string{"          signature: {keys: [{file: private.pem}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "is a EC PRIVATE KEY; want the PUBLIC KEY only"},
		{name: "certificate", lines: []string{"          signature: {keys: [{file: cert.pem}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: `is a PEM "CERTIFICATE" block; want a PUBLIC KEY block`},
		{name: "garbage", lines: []string{"          signature: {keys: [{file: garbage.pub}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "does not parse as a PKIX public key"},
		{name: "P-224", lines: []string{"          signature: {keys: [{file: p224.pub}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "is an ECDSA key on P-224; want P-256, P-384 or P-521"},
		{name: "RSA 1024", lines: []string{"          signature: {keys: [{file: rsa1024.pub}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "is a 1024-bit RSA key; want 2048 bits or more"},
		{name: "two keys in a file", lines: []string{"          signature: {keys: [{file: two.pub}]}"}, wantPos: "13:37", wantField: "rules[0].destinations[0].gates.signature.keys[0].file", wantErr: ErrInvalidValue, wantMsg: "holds more than one PEM block"},
		{
			name:    "duplicate key",
			lines:   []string{"          signature: {keys: [{file: good.pub}, {file: good.pub}]}"},
			wantPos: "13:48", wantField: "rules[0].destinations[0].gates.signature.keys[1]", wantErr: ErrDuplicate,
			wantMsg: "key good.pub is already listed at line 13",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(path, []byte(withGates(tt.lines...)))
			problems := Errors(err)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(problems), err)
			}
			e := problems[0]
			if !errors.Is(e, tt.wantErr) {
				t.Errorf("error %v is not %v", e, tt.wantErr)
			}
			if pos := fmt.Sprintf("%d:%d", e.Line, e.Column); pos != tt.wantPos {
				t.Errorf("position = %s, want %s (%v)", pos, tt.wantPos, e)
			}
			if e.Field != tt.wantField {
				t.Errorf("field = %q, want %q", e.Field, tt.wantField)
			}
			if !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("message = %q\nwant it to contain %q", e.Msg, tt.wantMsg)
			}
		})
	}
}

func TestGatesString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		g    Gates
		want string
	}{
		{Gates{}, "none"},
		{Gates{Scan: &ScanGate{MaxSeverity: SeverityHigh, Wait: Duration(30 * time.Minute)}}, "scan: nothing above HIGH, waiting up to 30m0s for the scan"},
		{Gates{Scan: &ScanGate{MaxSeverity: SeverityLow, Ignore: []string{"CVE-1", "CVE-2"}}}, "scan: nothing above LOW (ignoring CVE-1, CVE-2), not waiting for the scan"},
		{Gates{Signature: &SignatureGate{Keys: []Key{{File: "a.pub"}, {KMS: "arn:aws:kms:us-east-1:111111111111:key/k"}}}}, "signature: by a.pub or arn:aws:kms:us-east-1:111111111111:key/k"},
		{Gates{Signature: &SignatureGate{Keys: []Key{{File: "a.pub"}}, Wait: Duration(10 * time.Minute)}}, "signature: by a.pub, waiting up to 10m0s for one"},
	} {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
