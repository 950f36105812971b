package emulator_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func TestAddRegistry(t *testing.T) {
	t.Parallel()
	em, err := emulator.New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = em.Close() })

	// Added before Start: no endpoints yet, served once started.
	before, err := em.AddRegistry(account, region)
	if err != nil {
		t.Fatalf("AddRegistry before Start: %v", err)
	}
	if before.ECREndpoint() != "" || before.Host() != "" || em.STSEndpoint() != "" {
		t.Errorf("endpoints before Start = %q %q %q, want empty", before.ECREndpoint(), before.Host(), em.STSEndpoint())
	}
	tests := []struct {
		name            string
		account, region string
		wantErr         error
	}{
		{"short account", "1234", region, emulator.ErrInvalidAccount},
		{"account with letters", "11112222333a", region, emulator.ErrInvalidAccount},
		{"empty region", account2, "", emulator.ErrInvalidRegion},
		{"region not a region", account2, "Europe", emulator.ErrInvalidRegion},
		{"duplicate", account, region, emulator.ErrRegistryExists},
		{"same account, other region", account, "us-west-2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := em.AddRegistry(tt.account, tt.region)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("AddRegistry(%q, %q) = %v, want %v", tt.account, tt.region, err, tt.wantErr)
			}
		})
	}

	if err := em.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	after := newRegistry(t, em, account2, region)
	for _, r := range []*emulator.Registry{before, after} {
		if _, err := ecrClient(t, r.ECREndpoint(), r.Region()).DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{}); err != nil {
			t.Errorf("registry %s/%s not served: %v", r.Account(), r.Region(), err)
		}
	}
	if got, ok := em.Registry(account2, region); !ok || got != after {
		t.Errorf("Registry(%s, %s) = %v, %v; want the registry added", account2, region, got, ok)
	}
	if n := len(em.Registries()); n != 3 {
		t.Errorf("Registries() has %d, want 3", n)
	}

	if err := em.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := em.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := em.AddRegistry("999988887777", region); !errors.Is(err, emulator.ErrClosed) {
		t.Errorf("AddRegistry after Close = %v, want ErrClosed", err)
	}
	_, err = ecrClient(t, after.ECREndpoint(), region).DescribeRepositories(t.Context(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"app"}})
	if err == nil {
		t.Error("ECR endpoint still answers after Close")
	}
}
