package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
)

const cfgYAML = `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*", "semver:>=1.2 <2"]
    exclude:
      repositories: ["team/experimental-*"]
      tags: ["*-rc*"]
    destinations:
      - {account: "222222222222", region: eu-west-1, approval: required}
      - {account: "333333333333", region: us-west-2}
  - name: everything-eu
    repositories: ["**"]
    tags: ["release-*"]
    destinations:
      - {account: "222222222222", region: eu-west-1}
      - {account: "222222222222", region: eu-west-2, repository: {prefix: copy/}}
  - name: mirrors
    repositories: ["tools/*"]
    tags: ["*"]
    destinations:
      - {account: "444444444444", region: eu-central-1, repository: {stripPrefix: tools/, prefix: mirror/}}
      - {account: "444444444444", region: eu-north-1, repository: {prefix: "x-"}}
  - name: local-cache
    repositories: ["vendor/**"]
    tags: ["*"]
    destinations:
      - {account: "111111111111", region: us-east-1, repository: {prefix: cache/}}
  - name: local-strip
    repositories: ["vendor**"]
    tags: ["*"]
    destinations:
      - {account: "111111111111", region: us-east-1, repository: {stripPrefix: vendor/}}
  - name: loop
    repositories: ["loop/**"]
    tags: ["*"]
    destinations:
      - {account: "111111111111", region: us-east-1, repository: {prefix: loop/}}
`

func load(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func jobs(p Selection) string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, fmt.Sprintf("%s>%s/%s", j.Rule, j.Destination.ID(), j.Repository))
	}
	return strings.Join(out, " ")
}

func skips(p Selection) string {
	var out []string
	for _, s := range p.Skipped {
		if s.Destination != "" {
			out = append(out, fmt.Sprintf("%s@%s: %s", s.Rule, s.Destination, s.Reason))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", s.Rule, s.Reason))
		}
	}
	return strings.Join(out, "\n")
}

func TestFor(t *testing.T) {
	t.Parallel()
	cfg := load(t)
	tests := []struct {
		name       string
		repository string
		tag        string
		wantJobs   string
		wantSkips  []string // substrings, in order
	}{
		{
			name: "release to both rules, deduplicated", repository: "team/app", tag: "release-1.4",
			wantJobs: "releases>222222222222/eu-west-1/team/app releases>333333333333/us-west-2/team/app everything-eu>222222222222/eu-west-2/copy/team/app",
			wantSkips: []string{
				`everything-eu@222222222222/eu-west-1: already planned by rule "releases" (same destination repository team/app)`,
				`mirrors: repository "team/app" matches no repository pattern (tools/*)`,
				`local-cache: repository "team/app" matches no repository pattern (vendor/**)`,
				`loop: repository "team/app" matches no repository pattern (loop/**)`,
			},
		},
		{
			name: "semver tag", repository: "team/app", tag: "v1.4.0",
			wantJobs: "releases>222222222222/eu-west-1/team/app releases>333333333333/us-west-2/team/app",
			wantSkips: []string{
				`everything-eu: tag "v1.4.0" matches no tag pattern (release-*)`,
			},
		},
		{
			name: "excluded tag", repository: "team/app", tag: "release-2-rc1",
			wantJobs: "everything-eu>222222222222/eu-west-1/team/app everything-eu>222222222222/eu-west-2/copy/team/app",
			wantSkips: []string{
				`releases: tag "release-2-rc1" excluded by "*-rc*"`,
			},
		},
		{
			name: "excluded repository", repository: "team/experimental-x", tag: "1.5.0",
			wantJobs: "",
			wantSkips: []string{
				`releases: repository "team/experimental-x" excluded by "team/experimental-*"`,
			},
		},
		{
			name: "rename", repository: "tools/golang", tag: "latest",
			wantJobs: "mirrors>444444444444/eu-central-1/mirror/golang mirrors>444444444444/eu-north-1/x-tools/golang",
		},
		{
			name: "rename makes an invalid name", repository: "tools/" + strings.Repeat("a", 249), tag: "latest",
			wantJobs: "mirrors>444444444444/eu-central-1/mirror/" + strings.Repeat("a", 249),
			wantSkips: []string{
				`mirrors@444444444444/eu-north-1: renamed repository is not valid: invalid repository name "x-tools/aaa`,
			},
		},
		{
			name: "same registry, renamed", repository: "vendor/lib", tag: "1",
			wantJobs: "local-cache>111111111111/us-east-1/cache/vendor/lib local-strip>111111111111/us-east-1/lib",
		},
		{
			name: "same registry, name unchanged by the rename", repository: "vendorx", tag: "1",
			wantJobs: "",
			wantSkips: []string{
				`local-strip@111111111111/us-east-1: destination is the source registry and the rename leaves vendorx unchanged, so the image would be copied onto itself`,
			},
		},
		{
			name: "loop within the source registry", repository: "loop/app", tag: "1",
			wantJobs: "",
			wantSkips: []string{
				`loop@111111111111/us-east-1: destination is the source registry, and a push of loop/loop/app:1 there would be replicated within it again (a loop)`,
			},
		},
		{
			name: "nothing matches", repository: "other/app", tag: "dev-1",
			wantJobs: "",
			wantSkips: []string{
				`releases: repository "other/app" matches no repository pattern (team/**)`,
				`everything-eu: tag "dev-1" matches no tag pattern (release-*)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := For(cfg, tt.repository, tt.tag)
			if err != nil {
				t.Fatal(err)
			}
			if got := jobs(p); got != tt.wantJobs {
				t.Errorf("jobs:\n got %s\nwant %s", got, tt.wantJobs)
			}
			got := skips(p)
			rest := got
			for _, want := range tt.wantSkips {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("skipped does not contain, in order, %q:\n%s", want, got)
					break
				}
				rest = rest[i+len(want):]
			}
			if p.Repository != tt.repository || p.Tag != tt.tag {
				t.Errorf("plan is for %s:%s", p.Repository, p.Tag)
			}
			for _, j := range p.Jobs {
				if j.SourceRepository != tt.repository || j.Tag != tt.tag {
					t.Errorf("job %+v does not carry the source %s:%s", j, tt.repository, tt.tag)
				}
			}
			// Every rule is accounted for: it planned a job or has a reason.
			for _, r := range cfg.Rules {
				if !strings.Contains(jobs(p), r.Name+">") && !strings.Contains(got, r.Name) {
					t.Errorf("rule %s neither planned nor skipped", r.Name)
				}
			}
		})
	}
}

func TestForDeterministic(t *testing.T) {
	t.Parallel()
	cfg := load(t)
	first, err := For(cfg, "team/app", "release-1")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(first)
	for range 20 {
		p, _ := For(cfg, "team/app", "release-1")
		if got, _ := json.Marshal(p); string(got) != string(want) {
			t.Fatalf("plans differ between runs:\n%s\n%s", got, want)
		}
	}
}

func TestForInvalidNames(t *testing.T) {
	t.Parallel()
	cfg := load(t)
	tests := []struct {
		name       string
		repository string
		tag        string
		wantErr    error
	}{
		{name: "valid", repository: "team/app", tag: "v1"},
		{name: "uppercase repository", repository: "Team/app", tag: "v1", wantErr: match.ErrInvalidName},
		{name: "empty tag", repository: "team/app", tag: "", wantErr: match.ErrInvalidName},
		{name: "tag with slash", repository: "team/app", tag: "a/b", wantErr: match.ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := For(cfg, tt.repository, tt.tag)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("For(%q, %q) error = %v, want %v", tt.repository, tt.tag, err, tt.wantErr)
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	t.Parallel()
	p, err := For(load(t), "other/app", "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// No jobs is an empty list, not null, for scripts.
	if !strings.Contains(string(data), `"jobs":[]`) {
		t.Errorf("JSON = %s, want \"jobs\":[]", data)
	}
}
