package stacks

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ferry-dev/ferry/internal/config"
)

// These tests check that the source functions read, and the destination
// roles write, only where the rules say (issue 14, finding 2).

// scopeConfigs are every test configuration synth accepts.
func scopeConfigs(t *testing.T) []string {
	return []string{exampleConfigPath(t), "testdata/edge.yaml", "testdata/untag.yaml", "testdata/scope.yaml", "testdata/everything.yaml"}
}

func TestRegexpWildcard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr string
		want       string // "" for none
	}{
		{"prefix then a class", `^svc-[a-z]+$`, "svc-*"},
		{"exact name", `^svc-api$`, "svc-api"},
		{"exact name with \\A and \\z", `\Asvc-api\z`, "svc-api"},
		{"literal without $", `^svc-api`, "svc-api*"},
		{"escaped dot", `^team\.app/.+`, "team.app/*"},
		{"group of literals continues the prefix", `^(team/)(app)-[0-9]+$`, "team/app-*"},
		{"repeat written out by Simplify", `^a{3}-x`, "aaa-x*"},
		{"prefix stops at an alternation", `^tools/(go|node)$`, "tools/*"},
		{"common prefix of an alternation", `^(team|tools)/`, "t*"},
		{"prefix stops at an optional part", `^svc(-v2)?-api$`, "svc*"},
		{"case-insensitive letters are lowercase in a name", `(?i)^SVC-`, "svc-*"},
		{"multi-line ^ anchors a name too", `(?m)^svc-`, "svc-*"},
		{"stops at a character no name holds", `^svc\*x`, "svc*"},
		{"$ in multi-line mode is not the end", `(?m)^svc$`, "svc*"},
		{"unanchored", `svc-[a-z]+$`, ""},
		{"anchored with nothing literal", `^[a-z]+-svc$`, ""},
		{"anchored, any name", `^.*$`, ""},
		{"anchor inside a group only", `(^svc)`, ""},
		{"alternation of anchored branches", `^svc-|^api-`, ""},
		{"uppercase, which no name holds", `^Svc-`, ""},
		{"invalid", `^svc-(`, ""},
	}
	for _, tt := range tests {
		got, ok := RegexpWildcard(tt.expr)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: RegexpWildcard(%q) = %q, %t, want %q", tt.name, tt.expr, got, ok, tt.want)
		}
	}
}

// TestRegexpWildcardCovers: every name a regular expression matches is
// covered by its wildcard, on names built to sit on either side of each
// prefix.
func TestRegexpWildcardCovers(t *testing.T) {
	t.Parallel()
	names := []string{
		"svc", "svc-", "svc-api", "svc-api-2", "svc-v2-api", "svcx", "team/app-1", "team.app/x", "aaa-x", "aaa-xy",
		"tools/go", "tools/node", "team/x", "tools/x", "s", "api-svc",
	}
	for _, expr := range []string{`^svc-[a-z]+$`, `^svc-api$`, `^svc-api`, `^(team/)(app)-[0-9]+$`, `^team\.app/.+`,
		`^a{3}-x`, `^tools/(go|node)$`, `^(team|tools)/`, `^svc(-v2)?-api$`, `(?i)^SVC-`} {
		w, ok := RegexpWildcard(expr)
		if !ok {
			t.Fatalf("RegexpWildcard(%q): none", expr)
		}
		re := regexp.MustCompile(expr)
		for _, n := range names {
			if re.MatchString(n) && !iamMatch(w, n) {
				t.Errorf("%q matches %q, which its wildcard %q does not cover", expr, n, w)
			}
		}
	}
}

// iamMatch reports whether an IAM wildcard ("*" any run, "?" one
// character, both crossing "/") matches s.
func iamMatch(wildcard, s string) bool {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range wildcard {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}

func TestCheckRepositoryScopes(t *testing.T) {
	t.Parallel()
	dst := func(account, prefix string) config.Destination {
		return config.Destination{Account: account, Region: "eu-west-1", Repository: config.Rename{Prefix: prefix}}
	}
	tests := []struct {
		name    string
		rule    config.Rule
		wantErr []string // substrings; nil for no error
	}{
		{"globs", config.Rule{Repositories: []string{"team/*", "**"}, Destinations: []config.Destination{dst("222222222222", "")}}, nil},
		{"anchored prefix", config.Rule{Repositories: []string{"/^svc-[a-z]+$/"}, Destinations: []config.Destination{dst("222222222222", "")}}, nil},
		{"iamScope", config.Rule{Repositories: []string{"/svc/"}, IAMScope: []string{"svc-*"}, Destinations: []config.Destination{dst("222222222222", "")}}, nil},
		{"iamScope every repository", config.Rule{Repositories: []string{"/svc/"}, IAMScope: []string{"*"}, Destinations: []config.Destination{dst("222222222222", "")}}, nil},
		{"rename prefix", config.Rule{Repositories: []string{"/svc/"}, Destinations: []config.Destination{dst("222222222222", "mirror/")}}, nil},
		{"a strip that keeps a prefix", config.Rule{Repositories: []string{"tools/go*"}, Destinations: []config.Destination{
			{Account: "222222222222", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "tools/"}}}}, nil},
		{"a strip of every repository", config.Rule{Repositories: []string{"**"}, Destinations: []config.Destination{
			{Account: "222222222222", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "tools/"}}}}, nil},
		{"a strip with iamScope every repository", config.Rule{Repositories: []string{"tools/*"}, IAMScope: []string{"*"}, Destinations: []config.Destination{
			{Account: "222222222222", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "tools/"}}}}, nil},
		{
			name: "unanchored, one destination without a prefix",
			rule: config.Rule{Name: "svc", Repositories: []string{"team/*", "/svc-[a-z]+$/"},
				Destinations: []config.Destination{dst("222222222222", ""), dst("333333333333", "copy/")}},
			wantErr: []string{`rules[0] ("svc")`, `"/svc-[a-z]+$/"`, "repository/*", "222222222222/eu-west-1",
				"glob", "repository.prefix", "iamScope"},
		},
		{
			name: "a strip that leaves any name",
			rule: config.Rule{Name: "mirrors", Repositories: []string{"tools/*"}, Destinations: []config.Destination{
				{Account: "222222222222", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "tools/"}},
				{Account: "333333333333", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "tools/", Prefix: "mirror/"}},
			}},
			wantErr: []string{`rules[0] ("mirrors")`, "222222222222/eu-west-1", `strips "tools/"`, `"tools/*"`, "repository/*", "repository.prefix", `iamScope: ["*"]`},
		},
		{
			name: "a strip of an iamScope that leaves any name",
			rule: config.Rule{Name: "svc", Repositories: []string{"/svc/"}, IAMScope: []string{"svc-*"}, Destinations: []config.Destination{
				{Account: "222222222222", Region: "eu-west-1", Repository: config.Rename{StripPrefix: "svc-"}}}},
			wantErr: []string{`iamScope "svc-*"`, `strips "svc-"`},
		},
		{
			name:    "anchored without a literal",
			rule:    config.Rule{Name: "any", Repositories: []string{"/^.+-svc$/"}, Destinations: []config.Destination{dst("222222222222", "")}},
			wantErr: []string{`"/^.+-svc$/"`, "iamScope"},
		},
	}
	for _, tt := range tests {
		err := CheckRepositoryScopes(&config.Config{Rules: []config.Rule{tt.rule}})
		if tt.wantErr == nil {
			if err != nil {
				t.Errorf("%s: %v, want no error", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error, want one", tt.name)
			continue
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tt.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "333333333333") {
			t.Errorf("%s: error %q names the destination with a rename prefix", tt.name, err)
		}
	}
}

// TestBuildRefusesUnscopedRegexp: synth stops, before any stack is built,
// on a rule that would write every repository without asking for it.
func TestBuildRefusesUnscopedRegexp(t *testing.T) {
	root, _ := ModuleRoot(".")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	_, err := Build(app, AppProps{
		Config:     loadConfig(t, "testdata/unscoped.yaml"),
		ConfigFile: "testdata/unscoped.yaml",
		Root:       root,
		BuildDir:   fakeBuildDir(t, FunctionNames),
		StagingDir: t.TempDir(),
		ASLFile:    aslFile(t),
	})
	want := `rules[0] ("services"): repository pattern "/svc-[a-z]+$/" has no literal prefix after a leading "^", ` +
		`so its IAM grants would cover every repository (repository/*) in 222222222222/eu-west-1; ` +
		`to fix it, write the pattern as a glob ("svc-*"), anchor it with a literal prefix ("/^svc-[a-z]+$/"), ` +
		`give the destination a rename prefix (repository.prefix), ` +
		`or give the rule an iamScope of the repositories it may touch (iamScope: ["svc-*"]; ["*"] for every repository)`
	if err == nil || err.Error() != want {
		t.Errorf("Build error:\n %v\nwant\n %s", err, want)
	}
	if n := len(*app.Node().Children()); n != 0 {
		t.Errorf("Build added %d constructs before refusing", n)
	}
}

// TestIAMScopeVerbatim: a rule's iamScope is what its grants cover, on the
// source as written and in each destination after its rename; nothing is
// derived from the rule's patterns.
func TestIAMScopeVerbatim(t *testing.T) {
	cfg := loadConfig(t, "testdata/scope.yaml")
	got := SourceRepositoryARNs(cfg)
	want := []string{
		"arn:aws:ecr:us-east-1:111111111111:repository/api/*",
		"arn:aws:ecr:us-east-1:111111111111:repository/base",
		"arn:aws:ecr:us-east-1:111111111111:repository/edge-?-api",
		"arn:aws:ecr:us-east-1:111111111111:repository/svc-*",
		"arn:aws:ecr:us-east-1:111111111111:repository/tools/*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SourceRepositoryARNs(scope):\n got %q\nwant %q", got, want)
	}
	access := DestinationAccess(cfg)
	wantAccess := []Access{
		{Account: "222222222222", Region: "us-east-1", Roles: []AccessRole{{
			Name: "ferry-replication",
			Repositories: []string{
				"arn:aws:ecr:us-east-1:222222222222:repository/base",
				"arn:aws:ecr:us-east-1:222222222222:repository/copy/api/*",
				"arn:aws:ecr:us-east-1:222222222222:repository/copy/edge-?-api",
				"arn:aws:ecr:us-east-1:222222222222:repository/svc-*",
				"arn:aws:ecr:us-east-1:222222222222:repository/tools/*",
			},
			TagKeys: []string{"cost-center", "team"},
		}}},
		{Account: "333333333333", Region: "eu-west-1", Roles: []AccessRole{{
			Name: "ferry-replication",
			Repositories: []string{
				"arn:aws:ecr:eu-west-1:333333333333:repository/api/*",
				"arn:aws:ecr:eu-west-1:333333333333:repository/edge-?-api",
			},
		}}},
	}
	if !reflect.DeepEqual(access, wantAccess) {
		t.Errorf("DestinationAccess(scope):\n got %+v\nwant %+v", access, wantAccess)
	}
	// The synthesized roles push exactly there.
	b := build(t, "testdata/scope.yaml")
	for _, a := range wantAccess {
		sts, _ := destinationRole(t, b, "Ferry-Access-"+a.Account, "ferry-replication")
		push := bySid(t, sts, "PushToRuleRepositories")
		if got := strs(push["Resource"]); !reflect.DeepEqual(got, a.Roles[0].Repositories) {
			t.Errorf("%s pushes to %q, want %q", a.Account, got, a.Roles[0].Repositories)
		}
	}
}

// TestNoWriteOnEveryRepository: no destination role may do anything but
// read on repository/* unless a rule asked for every repository (the glob
// "**" or iamScope "*"); everything.yaml, which asks, shows the check can
// fail.
func TestNoWriteOnEveryRepository(t *testing.T) {
	everyRepository := regexp.MustCompile(`^arn:aws:ecr:[a-z0-9-]+:[0-9]{12}:repository/\*$`)
	writesOnStar := func(cfg string) []string {
		var out []string
		b := build(t, cfg)
		for _, d := range b.stacks.Destinations {
			name := *d.StackName()
			for where, sts := range statements(b.json[name]) {
				for _, s := range sts {
					for _, res := range strs(s["Resource"]) {
						if !everyRepository.MatchString(res) {
							continue
						}
						for _, a := range strs(s["Action"]) {
							if !slices.Contains(DestinationReadActions, a) {
								out = append(out, name+" "+where+" "+a+" on "+res)
							}
						}
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, cfg := range []string{exampleConfigPath(t), "testdata/edge.yaml", "testdata/untag.yaml", "testdata/scope.yaml"} {
		if got := writesOnStar(cfg); len(got) > 0 {
			t.Errorf("%s: write actions on every repository:\n%s", cfg, strings.Join(got, "\n"))
		}
	}
	// The rules "**" (in 222222222222) and iamScope "*" (in 333333333333)
	// get every repository; the rename prefix keeps 444444444444's writes
	// under mirror/*.
	got := writesOnStar("testdata/everything.yaml")
	accounts := map[string]bool{}
	for _, g := range got {
		accounts[strings.Fields(g)[0]] = true
	}
	if want := map[string]bool{"Ferry-Access-222222222222": true, "Ferry-Access-333333333333": true}; !reflect.DeepEqual(accounts, want) {
		t.Errorf("everything.yaml: write actions on every repository in %v, want %v:\n%s", sortedKeys(accounts), sortedKeys(want), strings.Join(got, "\n"))
	}
	sts, _ := destinationRole(t, build(t, "testdata/everything.yaml"), "Ferry-Access-444444444444", "ferry-replication")
	if got := strs(bySid(t, sts, "PushToRuleRepositories")["Resource"]); !reflect.DeepEqual(got, []string{"arn:aws:ecr:us-east-1:444444444444:repository/mirror/*"}) {
		t.Errorf("444444444444 pushes to %q, want only mirror/*", got)
	}
}

// destinationRole returns the inline policy statements and the trust
// policy of the role named role in a destination stack.
func destinationRole(t *testing.T, b *built, stack, role string) ([]map[string]any, map[string]any) {
	t.Helper()
	tmpl, ok := b.json[stack]
	if !ok {
		t.Fatalf("no stack %s", stack)
	}
	for _, r := range resources(tmpl, "AWS::IAM::Role") {
		p := props(r)
		if p["RoleName"] != role {
			continue
		}
		var out []map[string]any
		for _, pol := range p["Policies"].([]any) {
			for _, s := range pol.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				out = append(out, s.(map[string]any))
			}
		}
		return out, p["AssumeRolePolicyDocument"].(map[string]any)
	}
	t.Fatalf("no role %s in %s", role, stack)
	return nil, nil
}

func bySid(t *testing.T, sts []map[string]any, sid string) map[string]any {
	t.Helper()
	for _, s := range sts {
		if s["Sid"] == sid {
			return s
		}
	}
	t.Fatalf("no statement %s", sid)
	return nil
}

// TestNagScopes: the configurations of this file pass cdk-nag too.
func TestNagScopes(t *testing.T) {
	for _, cfg := range []string{"testdata/scope.yaml", "testdata/everything.yaml"} {
		b := build(t, cfg)
		for _, st := range append([]awscdk.Stack{b.stacks.Source.Stack}, b.stacks.Destinations...) {
			a := assertions.Annotations_FromStack(st)
			any := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for _, m := range append(*a.FindError(jsii.String("*"), any), *a.FindWarning(jsii.String("*"), any)...) {
				t.Errorf("%s %s: %s: %v", cfg, *st.StackName(), *m.Id, m.Entry.Data)
			}
		}
	}
}
