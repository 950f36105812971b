package stacks

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
)

// These tests need no CDK: they check how a configuration becomes IAM
// resources, event filters and Lambda assets.

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

func exampleConfigPath(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "ferry.example.yaml")
}

func TestRepositoryWildcard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, want string
		ok            bool
	}{
		{"team/app", "team/app", true},
		{"team/*", "team/*", true},
		{"team/**", "team/*", true},
		{"team/***/x", "team/*/x", true},
		{"team/ap?", "team/ap?", true},
		// The user asked for every repository.
		{"**", "*", true},
		{"*", "*", true},
		// A regular expression: its anchored literal prefix
		// (TestRegexpWildcard has the cases), or none.
		{"/^team/.*$/", "team/*", true},
		{"/^svc-api$/", "svc-api", true},
		{"/team/", "", false},
		{"/^.*-svc$/", "", false},
		{"semver:>=1", "", false},
	}
	for _, tt := range tests {
		if got, ok := RepositoryWildcard(tt.pattern); got != tt.want || ok != tt.ok {
			t.Errorf("RepositoryWildcard(%q) = %q, %t, want %q, %t", tt.pattern, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRenamedWildcard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		w    string
		r    config.Rename
		want string
	}{
		{"no rename", "team/*", config.Rename{}, "team/*"},
		{"prefix only", "team/*", config.Rename{Prefix: "copy/"}, "copy/team/*"},
		{"strip always applies", "tools/*", config.Rename{StripPrefix: "tools/", Prefix: "mirror/"}, "mirror/*"},
		{"strip within the literal part", "tools/go*", config.Rename{StripPrefix: "tools/"}, "go*"},
		{"strip never applies", "apps/*", config.Rename{StripPrefix: "tools/", Prefix: "m/"}, "m/apps/*"},
		{"exact name not stripped", "tool", config.Rename{StripPrefix: "tools/", Prefix: "m/"}, "m/tool"},
		{"wildcard may hold the prefix", "too*", config.Rename{StripPrefix: "tools/", Prefix: "m/"}, "m/*"},
		{"regexp becomes anything", "*", config.Rename{StripPrefix: "tools/", Prefix: "mirror/"}, "mirror/*"},
	}
	for _, tt := range tests {
		if got := RenamedWildcard(tt.w, tt.r); got != tt.want {
			t.Errorf("%s: RenamedWildcard(%q, %+v) = %q, want %q", tt.name, tt.w, tt.r, got, tt.want)
		}
	}
}

func TestCoarseFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		patterns []string
		want     string // JSON; "null" for no filter
	}{
		{"exact", []string{"latest"}, `["latest"]`},
		{"prefix", []string{"release-*"}, `[{"prefix":"release-"}]`},
		{"double star prefix", []string{"team/**"}, `[{"prefix":"team/"}]`},
		{"wildcard in the middle", []string{"apps/*/api"}, `[{"wildcard":"apps/*/api"}]`},
		{"question mark widens to star", []string{"v?.*-final"}, `[{"wildcard":"v*.*-final"}]`},
		{"leading star", []string{"*-final"}, `[{"wildcard":"*-final"}]`},
		{"duplicates once", []string{"team/*", "team/**"}, `[{"prefix":"team/"}]`},
		{"star alone matches all", []string{"latest", "*"}, `null`},
		{"regexp unfiltered", []string{"release-*", "/^v[0-9]+$/"}, `null`},
		{"semver unfiltered", []string{"semver:>=1.2 <2"}, `null`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(CoarseFilter(tt.patterns))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: CoarseFilter(%q) = %s, want %s", tt.name, tt.patterns, got, tt.want)
		}
	}
}

func TestSourceRepositoryARNs(t *testing.T) {
	t.Parallel()
	got := SourceRepositoryARNs(loadConfig(t, exampleConfigPath(t)))
	want := []string{
		"arn:aws:ecr:us-east-1:111111111111:repository/team/*",
		"arn:aws:ecr:us-east-1:111111111111:repository/tools/*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SourceRepositoryARNs = %q, want %q", got, want)
	}
	// A regular expression reads only under its anchored literal prefix.
	got = SourceRepositoryARNs(loadConfig(t, "testdata/edge.yaml"))
	want = []string{
		"arn:aws:ecr:eu-west-1:111111111111:repository/apps/*/api",
		"arn:aws:ecr:eu-west-1:111111111111:repository/apps/web",
		"arn:aws:ecr:eu-west-1:111111111111:repository/tools/*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SourceRepositoryARNs(edge) = %q, want %q", got, want)
	}
}

func TestDestinationAccess(t *testing.T) {
	t.Parallel()
	got := DestinationAccess(loadConfig(t, "testdata/edge.yaml"))
	want := []Access{{
		Account: "222222222222",
		Region:  "eu-west-1",
		Roles: []AccessRole{
			{
				Name: "ferry-replication",
				Repositories: []string{
					"arn:aws:ecr:eu-central-1:222222222222:repository/apps/*/api",
					"arn:aws:ecr:eu-central-1:222222222222:repository/apps/web",
					"arn:aws:ecr:eu-west-1:222222222222:repository/apps/*/api",
					"arn:aws:ecr:eu-west-1:222222222222:repository/apps/web",
				},
				KMSKeys:    []string{"arn:aws:kms:eu-central-1:222222222222:key/0123abcd-12ab-34cd-56ef-1234567890ab"},
				KMSAliases: []KMSAlias{{Account: "222222222222", Region: "eu-west-1", Alias: "alias/ecr-images"}},
			},
			{
				Name:         "ferry-tools",
				Repositories: []string{"arn:aws:ecr:eu-west-1:222222222222:repository/mirror/*"},
			},
		},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DestinationAccess:\n got %+v\nwant %+v", got, want)
	}
}

func TestDestinationAccessExample(t *testing.T) {
	t.Parallel()
	got := DestinationAccess(loadConfig(t, exampleConfigPath(t)))
	var summary []string
	for _, a := range got {
		for _, r := range a.Roles {
			summary = append(summary, a.Account+"/"+a.Region+" "+r.Name+" "+strings.Join(r.Repositories, ",")+" "+strings.Join(r.KMSKeys, ","))
		}
	}
	want := []string{
		"222222222222/eu-west-1 ferry-replication arn:aws:ecr:eu-west-1:222222222222:repository/team/* arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		// The AWS managed key needs no IAM grant.
		"333333333333/us-west-2 ferry-replication arn:aws:ecr:us-west-2:333333333333:repository/team/* ",
		"444444444444/eu-central-1 ferry-replication arn:aws:ecr:eu-central-1:444444444444:repository/mirror/* ",
	}
	if !reflect.DeepEqual(summary, want) {
		t.Errorf("DestinationAccess(example):\n got %q\nwant %q", summary, want)
	}
}

func TestCollapseARNs(t *testing.T) {
	t.Parallel()
	got := collapseARNs([]string{
		"arn:aws:ecr:r1:1:repository/b/*",
		"arn:aws:ecr:r1:1:repository/*",
		"arn:aws:ecr:r2:1:repository/a",
		"arn:aws:ecr:r2:1:repository/a",
	})
	want := []string{"arn:aws:ecr:r1:1:repository/*", "arn:aws:ecr:r2:1:repository/a"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("collapseARNs = %q, want %q", got, want)
	}
}

func TestCheckStackName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stack   string
		wantErr string
	}{
		{"default", "Ferry", ""},
		{"empty", "", "empty"},
		{"bad character", "Ferry_1", "letters, digits and hyphens"},
		{"too long for role names", strings.Repeat("x", 40), "too long"},
	}
	for _, tt := range tests {
		err := CheckStackName(tt.stack, "ap-southeast-2")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: CheckStackName(%q) = %v, want error containing %q", tt.name, tt.stack, err, tt.wantErr)
		}
	}
}

func TestCheckSubstitutions(t *testing.T) {
	t.Parallel()
	asl := `{"A": "${One}", "B": ${Two}, "C": "${One}"}`
	if err := CheckSubstitutions(asl, []string{"One", "Two"}); err != nil {
		t.Errorf("all used and filled: %v", err)
	}
	err := CheckSubstitutions(asl, []string{"One", "Three"})
	if err == nil || !strings.Contains(err.Error(), "no substitution for ${Two}") || !strings.Contains(err.Error(), "not used: ${Three}") {
		t.Errorf("missing and unused: got %v", err)
	}
	if err := CheckSubstitutions(`{"A": ${One}`, []string{"One"}); err == nil {
		t.Error("broken JSON: no error")
	}
}

// fakeBuildDir is a TEST FIXTURE standing in for `make build` output: one
// dummy bootstrap per function (not a program; never run).
func fakeBuildDir(t *testing.T, names []string) string {
	t.Helper()
	return fakeBuildDirIn(t, t.TempDir(), names)
}

func fakeBuildDirIn(t *testing.T, dir string, names []string) string {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "bootstrap"), []byte("dummy bootstrap for "+n+" (test fixture)\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStageFunctionAssets(t *testing.T) {
	t.Parallel()
	build := fakeBuildDir(t, []string{FnValidate, FnCopyImage})
	cfg := exampleConfigPath(t)
	staging := t.TempDir()
	dirs, err := StageFunctionAssets(build, cfg, staging, []string{FnValidate, FnCopyImage})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(cfg)
	for _, n := range []string{FnValidate, FnCopyImage} {
		fi, err := os.Stat(filepath.Join(dirs[n], "bootstrap"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s bootstrap mode %v, want executable", n, fi.Mode())
		}
		got, err := os.ReadFile(filepath.Join(dirs[n], ConfigFileName))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: %s is not the configuration (err %v)", n, ConfigFileName, err)
		}
	}

	_, err = StageFunctionAssets(build, cfg, t.TempDir(), []string{FnValidate, FnVerify, FnSummarize})
	if err == nil || !strings.Contains(err.Error(), "make build") ||
		!strings.Contains(err.Error(), filepath.Join(FnVerify, "bootstrap")) || !strings.Contains(err.Error(), filepath.Join(FnSummarize, "bootstrap")) {
		t.Errorf("missing bootstraps: got %v, want both named and 'make build'", err)
	}
	_, err = StageFunctionAssets(build, filepath.Join(t.TempDir(), "nope.yaml"), t.TempDir(), []string{FnValidate})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config: got %v, want fs.ErrNotExist", err)
	}
}

func TestModuleRoot(t *testing.T) {
	t.Parallel()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "stacks", "access.go")); err != nil {
		t.Errorf("ModuleRoot = %s, which does not hold infra/stacks: %v", root, err)
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Error("ModuleRoot(temp dir) found a module")
	}
}

// TestDestinationAccessUntag: only the destination with onSourceDelete:
// untag gets untag repositories, its own after renaming; the role it
// shares with a destination that keeps deleted tags writes both.
func TestDestinationAccessUntag(t *testing.T) {
	t.Parallel()
	got := DestinationAccess(loadConfig(t, "testdata/untag.yaml"))
	want := []Access{
		{Account: "222222222222", Region: "us-east-1", Roles: []AccessRole{{
			Name: "ferry-replication",
			Repositories: []string{
				"arn:aws:ecr:us-east-1:222222222222:repository/copy/apps/*",
				"arn:aws:ecr:us-east-1:222222222222:repository/copy/web",
			},
		}}},
		{Account: "333333333333", Region: "eu-west-1", Roles: []AccessRole{{
			Name: "ferry-replication",
			Repositories: []string{
				"arn:aws:ecr:eu-west-1:333333333333:repository/copy/apps/*",
				"arn:aws:ecr:eu-west-1:333333333333:repository/copy/web",
				"arn:aws:ecr:eu-west-1:333333333333:repository/tools/*",
			},
			UntagRepositories: []string{
				"arn:aws:ecr:eu-west-1:333333333333:repository/copy/apps/*",
				"arn:aws:ecr:eu-west-1:333333333333:repository/copy/web",
			},
		}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DestinationAccess(untag):\n got %+v\nwant %+v", got, want)
	}
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml"} {
		for _, a := range DestinationAccess(loadConfig(t, cfg)) {
			for _, r := range a.Roles {
				if len(r.UntagRepositories) > 0 {
					t.Errorf("%s: %s/%s may untag %q; no destination has onSourceDelete: untag", cfg, a.Account, r.Name, r.UntagRepositories)
				}
			}
		}
	}
}

// TestUntagRepositoriesCollapse: an untag destination whose rule matches
// every repository ("**") may untag anywhere in its region, and a keep
// destination's repository/* in the same region does not widen another's
// untag repositories.
func TestUntagRepositoriesCollapse(t *testing.T) {
	t.Parallel()
	dst := func(region string, untag bool) config.Destination {
		d := config.Destination{Account: "222222222222", Region: region, OnSourceDelete: config.SourceDeleteKeep}
		if untag {
			d.OnSourceDelete = config.SourceDeleteUntag
		}
		return d
	}
	cfg := &config.Config{Rules: []config.Rule{
		{Name: "any", Repositories: []string{"**"}, Destinations: []config.Destination{dst("eu-west-1", false), dst("us-east-1", true)}},
		{Name: "apps", Repositories: []string{"apps/*"}, Destinations: []config.Destination{dst("eu-west-1", true), dst("us-east-1", true)}},
	}}
	got := DestinationAccess(cfg)[0].Roles[0].UntagRepositories
	want := []string{
		"arn:aws:ecr:eu-west-1:222222222222:repository/apps/*",
		"arn:aws:ecr:us-east-1:222222222222:repository/*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UntagRepositories = %q, want %q", got, want)
	}
}

// TestTriggerPatternUnions: the referrers and deletes patterns filter on
// the union of their rules' filters, each once, and drop a field that any
// rule cannot filter.
func TestTriggerPatternUnions(t *testing.T) {
	t.Parallel()
	src := config.Source{Account: "111111111111", Region: "us-east-1"}
	rule := func(repos, tags []string, onDelete ...config.SourceDelete) config.Rule {
		r := config.Rule{Name: "r", Repositories: repos, Tags: tags}
		for _, o := range onDelete {
			r.Destinations = append(r.Destinations, config.Destination{OnSourceDelete: o})
		}
		return r
	}
	keep, untag := config.SourceDeleteKeep, config.SourceDeleteUntag
	detail := func(p map[string]any, key string) string {
		b, _ := json.Marshal(p["detail"].(map[string]any)[key])
		return string(b)
	}
	tests := []struct {
		name                 string
		rules                []config.Rule
		referrerRepos        string
		deleteRepos, delTags string // "" for no deletes rule
	}{
		{
			name: "union without duplicates",
			rules: []config.Rule{
				rule([]string{"team/**", "web"}, []string{"release-*"}, keep, untag),
				rule([]string{"team/*", "tools/*"}, []string{"latest", "release-*"}, untag),
			},
			referrerRepos: `[{"prefix":"team/"},"web",{"prefix":"tools/"}]`,
			deleteRepos:   `[{"prefix":"team/"},"web",{"prefix":"tools/"}]`,
			delTags:       `[{"prefix":"release-"},"latest"]`,
		},
		{
			name: "an unfilterable rule without untag leaves the deletes filtered",
			rules: []config.Rule{
				rule([]string{"/^x/"}, []string{"**"}, keep),
				rule([]string{"apps/*/api"}, []string{"v?"}, untag),
			},
			referrerRepos: `null`,
			deleteRepos:   `[{"wildcard":"apps/*/api"}]`,
			delTags:       `[{"prefix":"v"}]`,
		},
		{
			name: "an unfilterable untag rule unfilters the deletes",
			rules: []config.Rule{
				rule([]string{"apps/*"}, []string{"semver:>=1"}, untag),
				rule([]string{"**"}, []string{"latest"}, untag),
			},
			referrerRepos: `null`,
			deleteRepos:   `null`,
			delTags:       `null`,
		},
		{
			name:          "no untag destination, no deletes rule",
			rules:         []config.Rule{rule([]string{"apps/*"}, []string{"latest"}, keep, keep)},
			referrerRepos: `[{"prefix":"apps/"}]`,
		},
	}
	for _, tt := range tests {
		if got := detail(ReferrerEventPattern(src, tt.rules), "repository-name"); got != tt.referrerRepos {
			t.Errorf("%s: referrers repository-name %s, want %s", tt.name, got, tt.referrerRepos)
		}
		untagRules := UntagRules(tt.rules)
		if tt.deleteRepos == "" {
			if len(untagRules) != 0 {
				t.Errorf("%s: %d untag rules, want none", tt.name, len(untagRules))
			}
			continue
		}
		p := DeleteEventPattern(src, untagRules)
		if got := detail(p, "repository-name"); got != tt.deleteRepos {
			t.Errorf("%s: deletes repository-name %s, want %s", tt.name, got, tt.deleteRepos)
		}
		if got := detail(p, "image-tag"); got != tt.delTags {
			t.Errorf("%s: deletes image-tag %s, want %s", tt.name, got, tt.delTags)
		}
		if got := detail(p, "action-type"); got != `["DELETE"]` {
			t.Errorf("%s: deletes action-type %s", tt.name, got)
		}
	}
}
