package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// startTLSRegistry is a registry speaking HTTPS on 127.0.0.1 with a
// certificate of httptest's own authority, whose PEM it writes to a file.
func startTLSRegistry(t *testing.T) (host, caFile string) {
	t.Helper()
	s := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the test fails on purpose
	s.StartTLS()
	t.Cleanup(s.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(s.URL, "https://"), caFile
}

// From a plain-HTTP registry to an HTTPS one, both on loopback, with no
// flag but --ca-file: each is spoken to as it speaks. Without --ca-file
// the certificate is refused with what to do; with the HTTPS registry
// named plain HTTP, its 400 says to drop that.
func TestCopyPlainHTTPToTLS(t *testing.T) {
	t.Parallel()
	src := startRegistry(t)
	dst, caFile := startTLSRegistry(t)
	pushImage(t, src+"/app:v1", 21)

	code, stdout, stderr := runFerry(t, "copy", "--ca-file", caFile, src+"/app:v1", dst+"/app:v1")
	if code != exitOK || !strings.Contains(stdout, "✓ "+dst+"/app:v1  copied in ") {
		t.Fatalf("copy with --ca-file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"untrusted", []string{"copy", src + "/app:v1", dst + "/app:v2"},
			"x509: certificate signed by unknown authority (the registry's TLS certificate is not trusted)\n  hint: pass --ca-file FILE, the PEM certificate of the authority that signed " + dst + "'s, or --insecure-registry " + dst + " if it also serves plain HTTP"},
		{"plain HTTP to an HTTPS port", []string{"copy", "--insecure-registry", dst, src + "/app:v1", dst + "/app:v3"},
			"400 Bad Request — the registry speaks HTTPS on that port, not plain HTTP\n  hint: drop --insecure-registry " + dst + " (or --src-insecure, --dst-insecure, --insecure) for it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != exitFailed || !strings.Contains(unwrap(stdout), tc.want) {
				t.Errorf("exit %d, stdout %q; want 1 and %q", code, stdout, tc.want)
			}
			assertSaidOnce(t, stdout, stderr)
		})
	}
}

// assertSaidOnce checks that a failure is on its result line only: no
// "ferry:" line repeats it, and no hint comes twice.
func assertSaidOnce(t *testing.T, stdout, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "ferry:") {
		t.Errorf("the failure is said again on stderr: %q", stderr)
	}
	if n := strings.Count(stdout, "hint:"); n > 2 || strings.Count(stdout, "✗") != 1 {
		t.Errorf("want one failure line and its hints, got:\n%s", stdout)
	}
}

func TestCopyErrorsWithANextStep(t *testing.T) {
	t.Parallel()
	src, dst := startRegistry(t), startRegistry(t)
	pushImage(t, src+"/app:v1", 22)
	pushImage(t, src+"/app:v2", 23)
	pushImage(t, dst+"/mirror:v9", 24)
	longTag := strings.Repeat("x", 300) + "-toolong"
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"missing tag: the tags there are", []string{"copy", src + "/app:v3", dst + "/app"}, exitFailed,
			[]string{"✗ " + src + "/app:v3  cannot be read: get manifest v3", "hint: " + src + "/app has no tag v3; it has v1, v2", "nothing was written to " + dst + "/app:v3"}},
		{"no tag means latest", []string{"copy", src + "/app", dst + "/app"}, exitFailed,
			[]string{"hint: no tag means :latest, which " + src + "/app does not have; it has v1, v2"}},
		{"arguments swapped", []string{"copy", src + "/mirror:v9", dst + "/mirror:v9"}, exitFailed,
			[]string{"hint: the destination " + dst + "/mirror:v9 exists and the source does not: SRC comes first (ferry copy SRC DST); did you mean ferry copy " + dst + "/mirror:v9 " + src + "/mirror:v9?"}},
		{"a URL", []string{"copy", "http://" + src + "/app:v1", dst + "/app"}, exitUsage,
			[]string{`ferry: source "http://` + src + `/app:v1": drop "http://": an image reference has no scheme (REGISTRY/REPOSITORY:TAG); plain HTTP is the default for localhost`}},
		{"a registry without repository", []string{"copy", src + "/app:v1", dst}, exitUsage,
			[]string{`ferry: destination "` + dst + `" names no repository: give REGISTRY/REPOSITORY[:TAG], e.g. ` + dst + "/app"}},
		{"a name without registry", []string{"copy", src + "/app:v1", "app"}, exitUsage,
			[]string{`destination "app" would be Docker Hub's official image index.docker.io/library/app, which only Docker publishes`}},
		{"a long tag, said once", []string{"copy", src + "/app:v1", dst + "/app:" + longTag}, exitUsage,
			[]string{"… (", "characters): tag is 308 characters long; at most 128 are allowed"}},
		{"--ca-file without certificates", []string{"copy", "--ca-file", os.DevNull, src + "/app:v1", dst + "/app"}, exitUsage,
			[]string{"--ca-file " + os.DevNull + ": no PEM certificate in it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runFerry(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(unwrap(stdout+stderr), w) {
					t.Errorf("output does not say %q:\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if tc.wantCode == exitFailed {
				assertSaidOnce(t, stdout, stderr)
			}
			if tc.wantCode == exitUsage && (strings.Count(stderr, "\n") != 1 || strings.Count(stderr, "x") > 60) {
				t.Errorf("a usage error should be one line on stderr, naming a long name once: %q", stderr)
			}
			for _, l := range strings.Split(stdout, "\n") {
				if n := len([]rune(l)); n > 100 {
					t.Errorf("a line of %d columns: %s", n, l)
				}
			}
		})
	}
}
