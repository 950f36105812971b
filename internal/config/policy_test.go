package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// at returns the "line:column" (column in characters) of the first marker
// in data, found after the line holding after: where a case expects a
// problem.
func at(t *testing.T, data, after, marker string) string {
	t.Helper()
	start := strings.Index(data, after)
	if start < 0 {
		t.Fatalf("no %q in the configuration", after)
	}
	i := strings.Index(data[start:], marker)
	if i < 0 {
		t.Fatalf("no %q after %q in the configuration", marker, after)
	}
	i += start
	line := strings.Count(data[:i], "\n") + 1
	col := utf8.RuneCountInString(data[strings.LastIndex(data[:i], "\n")+1:i]) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

const (
	lifecycleField  = "rules[0].destinations[0].settings.lifecyclePolicy"
	repositoryField = "rules[0].destinations[0].settings.repositoryPolicy"
)

func TestPolicyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		at      string // the problem is at this text, found after the "settings:" line
		field   string
		wantErr error
		wantMsg string
	}{
		// The four examples, in each way of writing a string.
		{
			name: "lifecycle rule without action, block scalar",
			yaml: add("        settings:", "          lifecyclePolicy: |",
				`            {"rules": [{"rulePriority": 1, "description": "keep ten untagged images",`,
				`                        "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 10}}]}`),
			at: `{"rulePriority"`, field: lifecycleField + ".rules[0].action", wantErr: ErrMissingField,
			wantMsg: `missing; want {"type": "expire"}`,
		},
		{
			name: "tagged selection without tagPrefixList, single-quoted",
			yaml: add("        settings:",
				`          lifecyclePolicy: '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 10}, "action": {"type": "expire"}}]}'`),
			at: `"tagged"`, field: lifecycleField + ".rules[0].selection.tagPatternList", wantErr: ErrMissingField,
			wantMsg: `tagStatus "tagged" needs a tagPatternList (e.g. ["prod*"]) or a tagPrefixList`,
		},
		{
			name: "sinceImagePushed without countUnit, double-quoted",
			yaml: add("        settings:",
				`          lifecyclePolicy: "{\"rules\": [{\"rulePriority\": 1, \"selection\": {\"tagStatus\": \"untagged\", \"countType\": \"sinceImagePushed\", \"countNumber\": 14}, \"action\": {\"type\": \"expire\"}}]}"`),
			at: `{\"tagStatus`, field: lifecycleField + ".rules[0].selection.countUnit", wantErr: ErrMissingField,
			wantMsg: `countType "sinceImagePushed" counts days, so it needs "countUnit": "days"`,
		},
		{
			name: "empty Statement, folded block",
			yaml: add("        settings:", "          repositoryPolicy: >", `            {"Version": "2012-10-17",`, `             "Statement": []}`),
			at:   `[]`, field: repositoryField + ".Statement", wantErr: ErrInvalidValue,
			wantMsg: "is empty; want at least one statement",
		},
		{
			name: "statement without Principal, block scalar",
			yaml: add("        settings:", "          repositoryPolicy: |", `            {"Version": "2012-10-17",`,
				`             "Statement": [`,
				`               {"Sid": "pull", "Effect": "Allow",`,
				`                "Action": ["ecr:BatchGetImage"]}]}`),
			at: `{"Sid"`, field: repositoryField + ".Statement[0].Principal", wantErr: ErrMissingField,
			wantMsg: "missing; a repository policy is a resource-based policy",
		},

		// Positions.
		{
			name: "column in characters, after non-ASCII text",
			yaml: add("        settings:", "          lifecyclePolicy: |",
				`            {"rules": [{"rulePriority": 1, "description": "größte Bilder", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},`,
				`                        "action": {"type": "expire", "targetStorage": "archive"}}]}`),
			at: `"targetStorage"`, field: lifecycleField + ".rules[0].action.targetStorage", wantErr: ErrUnknownField,
			wantMsg: `unknown key "targetStorage"; an action takes type, targetStorageClass (did you mean "targetStorageClass"?)`,
		},
		{
			name: "an escape the position cannot follow: the string's own position",
			yaml: add("        settings:",
				`          lifecyclePolicy: "{\"rules\": [{\"description\": \"caf\u00e9\", \"rulePriority\": 0, \"selection\": {\"tagStatus\": \"any\", \"countType\": \"imageCountMoreThan\", \"countNumber\": 1}, \"action\": {\"type\": \"expire\"}}]}"`),
			at: `"{`, field: lifecycleField + ".rules[0].rulePriority", wantErr: ErrInvalidValue,
			wantMsg: "is 0; want a positive integer",
		},
		{
			name: "a block scalar with an anchor",
			yaml: add("        settings:", "          lifecyclePolicy: &keep |",
				`            {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0}, "action": {"type": "expire"}}]}`),
			at: `0}`, field: lifecycleField + ".rules[0].selection.countNumber", wantErr: ErrInvalidValue,
			wantMsg: "is 0; want a positive integer",
		},

		// Other rules, one of each kind.
		{
			name: "duplicate rulePriority",
			yaml: add("        settings:", "          lifecyclePolicy: |",
				`            {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}},`,
				`                       {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]}`),
			at: `1, "selection": {"tagStatus": "tagged"`, field: lifecycleField + ".rules[1].rulePriority", wantErr: ErrDuplicate,
			wantMsg: "rulePriority 1 is also rules[0]'s",
		},
		{
			name: "both tag lists",
			yaml: add("        settings:", "          lifecyclePolicy: |",
				`            {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["v*"], "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]}`),
			at: `"tagPrefixList"`, field: lifecycleField + ".rules[0].selection.tagPrefixList", wantErr: ErrConflict,
			wantMsg: "cannot be given with tagPatternList",
		},
		{
			name: "a Resource in a repository policy",
			yaml: add("        settings:", `          repositoryPolicy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage", "Resource": "*"}]}'`),
			at:   `"Resource"`, field: repositoryField + ".Statement[0].Resource", wantErr: ErrUnknownField,
			wantMsg: "ECR refuses a statement with Resource",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("ferry.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			problems := Errors(err)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(problems), err)
			}
			e := problems[0]
			if want := at(t, tt.yaml, "settings:", tt.at); fmt.Sprintf("%d:%d", e.Line, e.Column) != want {
				t.Errorf("position = %d:%d, want %s (%q)\n%v", e.Line, e.Column, want, tt.at, e)
			}
			if e.Field != tt.field {
				t.Errorf("field = %q, want %q", e.Field, tt.field)
			}
			if !errors.Is(e, tt.wantErr) || errors.Is(e, ErrWarning) {
				t.Errorf("error %v is not %v", e, tt.wantErr)
			}
			if !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("message = %q\nwant it to contain %q", e.Msg, tt.wantMsg)
			}
		})
	}
}

func TestPolicyWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		at      []string // one per warning
		field   []string
		wantMsg []string
	}{
		{
			name: "everyone may pull",
			yaml: add("        settings:", "          repositoryPolicy: |", `            {"Version": "2012-10-17",`,
				`             "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}`),
			at:    []string{`"*"`},
			field: []string{repositoryField + ".Statement[0].Principal"},
			wantMsg: []string{"is everyone: with Effect Allow and no Condition this grants ecr:BatchGetImage, ecr:GetDownloadUrlForLayer " +
				"on the repository to any AWS account, and to anonymous callers"},
		},
		{
			name: "every AWS principal, no Version, a repeated Sid",
			yaml: add("        settings:", "          repositoryPolicy: |", `            {"Statement": [`,
				`               {"Sid": "all", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:*"},`,
				`               {"Sid": "all", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "ecr:DeleteRepository"}]}`),
			at:    []string{`{"Statement"`, `{"AWS": "*"}, "Action": "ecr:*"`, `"all", "Effect": "Deny"`},
			field: []string{repositoryField + ".Version", repositoryField + ".Statement[0].Principal", repositoryField + ".Statement[1].Sid"},
			wantMsg: []string{`add "Version": "2012-10-17"`, "grants ecr:* on the repository to any AWS account",
				`Sid "all" is also Statement[0]'s`},
		},
		{
			name:  "everyone in the organization: no warning",
			yaml:  add("        settings:", `          repositoryPolicy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}]}'`),
			at:    nil,
			field: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse("ferry.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v (a warning must not make it fail)", err)
			}
			if len(cfg.Warnings) != len(tt.at) {
				t.Fatalf("got %d warnings, want %d: %v", len(cfg.Warnings), len(tt.at), cfg.Warnings)
			}
			for i, w := range cfg.Warnings {
				if want := at(t, tt.yaml, "settings:", tt.at[i]); fmt.Sprintf("%d:%d", w.Line, w.Column) != want {
					t.Errorf("warning %d at %d:%d, want %s (%q)", i, w.Line, w.Column, want, tt.at[i])
				}
				if w.Field != tt.field[i] || !errors.Is(w, ErrWarning) || !strings.Contains(w.Msg, tt.wantMsg[i]) {
					t.Errorf("warning %d = %q %q (%v), want %q with %q, an ErrWarning", i, w.Field, w.Msg, w.Err, tt.field[i], tt.wantMsg[i])
				}
				if want := fmt.Sprintf("ferry.yaml:%d:%d: warning: %s: %s", w.Line, w.Column, w.Field, w.Msg); w.Error() != want {
					t.Errorf("Error() = %q, want %q", w.Error(), want)
				}
			}
		})
	}
}

// TestPolicyWarningsNeedAValidFile: with an error anywhere, Parse fails and
// gives no configuration, so no warnings either; the error is reported,
// not the warning.
func TestPolicyWarningsNeedAValidFile(t *testing.T) {
	t.Parallel()
	data := add("        approval: maybe", "        settings:",
		`          repositoryPolicy: '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]}'`)
	_, err := Parse("ferry.yaml", []byte(data))
	problems := Errors(err)
	if len(problems) != 1 || problems[0].Field != "rules[0].destinations[0].approval" {
		t.Fatalf("problems = %v, want only the approval", err)
	}
	if errors.Is(err, ErrWarning) {
		t.Errorf("the error %v holds a warning", err)
	}
}

// TestExamplePoliciesPassECRChecks: the example's lifecycle and repository
// policies are ones ECR takes, with nothing to warn about.
func TestExamplePoliciesPassECRChecks(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleFile(t))
	if err != nil {
		t.Fatalf("ferry.example.yaml: %v", err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %v, want none", c.Warnings)
	}
	var lifecycle, repository int
	for _, d := range c.Destinations() {
		if d.Settings.LifecyclePolicy != "" {
			lifecycle++
		}
		if d.Settings.RepositoryPolicy != "" {
			repository++
		}
	}
	if lifecycle == 0 || repository == 0 {
		t.Errorf("the example has %d lifecycle and %d repository policies; want at least one of each, so that they are checked", lifecycle, repository)
	}
}
