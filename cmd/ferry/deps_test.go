package main

import (
	"os/exec"
	"strings"
	"testing"
)

// ferry starts in a few milliseconds because it links only the copy engine.
// These packages once cost it: the AWS SDK ~8 ms of package init, the YAML
// and configuration packages ~0.4 ms, go-containerregistry with go-digest,
// docker/cli and logrus ~0.5 ms. They belong in ferry-workflow and the tests.
func TestFerryLinksNoHeavyPackages(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	heavy := []string{
		"github.com/aws/",
		"gopkg.in/yaml",
		"github.com/ferry-dev/ferry/internal/config",
		"github.com/google/go-containerregistry/",
		"github.com/opencontainers/go-digest",
		"github.com/docker/",
		"github.com/sirupsen/logrus",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; cannot judge", len(deps))
	}
	for _, p := range deps {
		for _, h := range heavy {
			if strings.HasPrefix(p, h) {
				t.Errorf("ferry links %s; keep it out of the copy path (see the comment above)", p)
			}
		}
	}
}
