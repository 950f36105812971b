package stacks

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
)

// A pattern that would be longer than EventBridge takes loses its coarse
// repository filter (Validate applies the exact rules); a short one keeps it.
func TestEventPatternsFitEventBridge(t *testing.T) {
	t.Parallel()
	src := config.Source{Account: "111111111111", Region: "us-east-1"}
	rules := func(n int) []config.Rule {
		var out []config.Rule
		for i := range n {
			out = append(out, config.Rule{Name: fmt.Sprintf("r%d", i), Repositories: []string{fmt.Sprintf("team-%03d/service/*", i)}, Tags: []string{"release-*"},
				Destinations: []config.Destination{{Account: "222222222222", Region: "eu-west-1", OnSourceDelete: config.SourceDeleteUntag}}})
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		pattern  map[string]any
		filtered bool
	}{
		{"referrers, 3 rules", ReferrerEventPattern(src, rules(3)), true},
		{"referrers, 80 rules", ReferrerEventPattern(src, rules(80)), false},
		{"deletes, 80 rules", DeleteEventPattern(src, rules(80)), false},
	} {
		b, _ := json.Marshal(tt.pattern)
		if len(b) > MaxEventPatternBytes {
			t.Errorf("%s: pattern is %d bytes, more than EventBridge's %d", tt.name, len(b), MaxEventPatternBytes)
		}
		_, has := tt.pattern["detail"].(map[string]any)["repository-name"]
		if has != tt.filtered {
			t.Errorf("%s: repository filter kept %t, want %t (%d bytes)", tt.name, has, tt.filtered, len(b))
		}
	}
}
