package match

import (
	"errors"
	"strings"
	"testing"
)

func TestValidRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{name: "simple", input: "app"},
		{name: "namespaced", input: "team/app"},
		{name: "deep", input: "team/a/b/web"},
		{name: "separators", input: "my_team/app-web.v2"},
		{name: "two chars", input: "ab"},
		{name: "max length", input: strings.Repeat("a", 256)},
		{name: "too long", input: strings.Repeat("a", 257), wantErr: ErrInvalidName},
		{name: "one char", input: "a", wantErr: ErrInvalidName},
		{name: "empty", input: "", wantErr: ErrInvalidName},
		{name: "uppercase", input: "Team/app", wantErr: ErrInvalidName},
		{name: "leading slash", input: "/team", wantErr: ErrInvalidName},
		{name: "trailing slash", input: "team/", wantErr: ErrInvalidName},
		{name: "double slash", input: "team//app", wantErr: ErrInvalidName},
		{name: "double separator", input: "team--app", wantErr: ErrInvalidName},
		{name: "leading separator", input: "-app", wantErr: ErrInvalidName},
		{name: "colon", input: "team/app:1", wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidRepository(tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidRepository(%q) = %v, want %v", tt.input, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "repository name") {
				t.Errorf("error %q does not say it is about a repository name", err)
			}
		})
	}
}

func TestValidTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{name: "simple", input: "latest"},
		{name: "version", input: "v1.2.3-rc.1"},
		{name: "underscore first", input: "_x"},
		{name: "upper", input: "RELEASE_1"},
		{name: "cosign", input: "sha256-" + strings.Repeat("a", 64) + ".sig"},
		{name: "128 chars (OCI limit)", input: strings.Repeat("a", 128)},
		{name: "300 chars (ECR limit)", input: strings.Repeat("a", 300)},
		{name: "301 chars", input: strings.Repeat("a", 301), wantErr: ErrInvalidName},
		{name: "empty", input: "", wantErr: ErrInvalidName},
		{name: "leading dot", input: ".x", wantErr: ErrInvalidName},
		{name: "leading dash", input: "-x", wantErr: ErrInvalidName},
		{name: "slash", input: "a/b", wantErr: ErrInvalidName},
		{name: "plus", input: "1.0.0+build", wantErr: ErrInvalidName},
		{name: "colon", input: "a:b", wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidTag(tt.input); !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidTag(%q) = %v, want %v", tt.input, err, tt.wantErr)
			}
		})
	}
}

func TestValidDigest(t *testing.T) {
	t.Parallel()
	hex := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{name: "valid", input: "sha256:" + hex},
		{name: "upper hex", input: "sha256:" + strings.ToUpper(hex), wantErr: ErrInvalidName},
		{name: "short", input: "sha256:" + hex[:63], wantErr: ErrInvalidName},
		{name: "long", input: "sha256:" + hex + "0", wantErr: ErrInvalidName},
		{name: "sha512", input: "sha512:" + hex + hex, wantErr: ErrInvalidName},
		{name: "no algorithm", input: hex, wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidDigest(tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidDigest(%q) = %v, want %v", tt.input, err, tt.wantErr)
			}
			var ne *NameError
			if err != nil && (!errors.As(err, &ne) || ne.Kind != "digest" || ne.Value != tt.input) {
				t.Errorf("error %v is not a *NameError naming the digest", err)
			}
		})
	}
}
