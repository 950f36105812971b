package ecrpolicy

import (
	"fmt"
	"strings"
	"testing"
)

// want is one expected problem: at is what the text holds at the
// problem's offset (a prefix), msg a substring of its message.
type want struct {
	sev  Severity
	kind Kind
	path string
	at   string
	msg  string
}

func check(t *testing.T, text string, got []Problem, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(wants), list(got))
		return
	}
	for i, w := range wants {
		p := got[i]
		if p.Severity != w.sev || p.Kind != w.kind || p.Path != w.path || !strings.Contains(p.Msg, w.msg) {
			t.Errorf("problem %d = %v %d %q %q, want %v %d %q with %q", i, p.Severity, p.Kind, p.Path, p.Msg, w.sev, w.kind, w.path, w.msg)
		}
		if p.Offset < 0 || p.Offset > len(text) || !strings.HasPrefix(text[p.Offset:], w.at) {
			t.Errorf("problem %d (%s) is at offset %d, %q; want it at %q", i, p.Path, p.Offset, text[min(max(p.Offset, 0), len(text)):], w.at)
		}
	}
}

func list(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %v %d @%d %s\n", p.Severity, p.Kind, p.Offset, p)
	}
	return b.String()
}

// rule builds a one-rule lifecycle policy from a selection and an action.
func rule(selection, action string) string {
	return `{"rules": [{"rulePriority": 1, "description": "a rule of a test policy", "selection": ` + selection + `, "action": ` + action + `}]}`
}

const expire = `{"type": "expire"}`

func TestLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []want
	}{
		// Valid policies: ECR's examples, the archive storage class.
		{name: "tagged prefix, count", text: `{"rules": [{"rulePriority": 1, "description": "keep the last 200 release images",
			"selection": {"tagStatus": "tagged", "tagPrefixList": ["release-"], "countType": "imageCountMoreThan", "countNumber": 200},
			"action": {"type": "expire"}}]}`},
		{name: "untagged by age", text: rule(`{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}`, expire)},
		{name: "patterns with four wildcards", text: rule(`{"tagStatus": "tagged", "tagPatternList": ["*test*1*2*3", "test*1*2*3*"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire)},
		{name: "archive then expire", text: `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90}, "action": {"type": "transition", "targetStorageClass": "archive"}},
			{"rulePriority": 2, "selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365}, "action": {"type": "expire"}}]}`},
		{name: "any last", text: `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 100}, "action": {"type": "expire"}},
			{"rulePriority": 10, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 500}, "action": {"type": "expire"}}]}`},

		// The examples.
		{name: "rule without action", text: `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 10}}]}`,
			want: []want{{Refused, Missing, "rules[0].action", `{"rulePriority"`, `missing; want {"type": "expire"}`}}},
		{name: "tagged without tagPrefixList", text: rule(`{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 10}`, expire),
			want: []want{{Refused, Missing, "rules[0].selection.tagPatternList", `"tagged"`, `tagStatus "tagged" needs a tagPatternList`}}},
		{name: "sinceImagePushed without countUnit", text: rule(`{"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 14}`, expire),
			want: []want{{Refused, Missing, "rules[0].selection.countUnit", `{"tagStatus"`, `needs "countUnit": "days"`}}},

		// The document.
		{name: "not JSON", text: `{"rules": [` + strings.Repeat(" ", 100),
			want: []want{{Refused, Syntax, "", "", "is not valid JSON"}}},
		{name: "a list", text: `[` + strings.Repeat(" ", 100) + `]`,
			want: []want{{Refused, Syntax, "", "[", "is a list; want a JSON object"}}},
		{name: "text after the object", text: rule(`{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}`, expire) + ` {}`,
			want: []want{{Refused, Syntax, "", "{}", "text after the end of the JSON value"}}},
		{name: "too short", text: `{"rules": []}`,
			want: []want{
				{Refused, Length, "", `{"rules"`, "is 13 characters; ECR takes a lifecycle policy of 100 to 30720 characters"},
				{Refused, Invalid, "rules", "[]", "is empty; want at least one rule"},
			}},
		{name: "too long", text: rule(`{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}`, `{"type": "expire"}`) + strings.Repeat(" ", 30720),
			want: []want{{Refused, Length, "", "", "ECR takes a lifecycle policy of 100 to 30720 characters"}}},
		{name: "rules not a list", text: `{"rules": {"rulePriority": 1}, "description": "` + strings.Repeat("x", 80) + `"}`,
			want: []want{
				{Refused, Unknown, "description", `"description"`, `unknown key "description"; a lifecycle policy takes rules`},
				{Refused, Invalid, "rules", `{"rulePriority"`, "is an object; want a list of rules"},
			}},

		// A rule.
		{name: "unknown key, wrong case", text: `{"rules": [{"RulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{
				{Refused, Unknown, "rules[0].RulePriority", `"RulePriority"`, `(did you mean "rulePriority"?)`},
				{Refused, Missing, "rules[0].rulePriority", `{"RulePriority"`, "missing; want a positive integer"},
			}},
		{name: "priority zero", text: `{"rules": [{"rulePriority": 0, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Invalid, "rules[0].rulePriority", "0,", "is 0; want a positive integer"}}},
		{name: "priority a string", text: `{"rules": [{"rulePriority": "1", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Invalid, "rules[0].rulePriority", `"1"`, `is the string "1"; want a positive integer (a JSON number, without quotes)`}}},
		{name: "priority a fraction", text: `{"rules": [{"rulePriority": 1.5, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Invalid, "rules[0].rulePriority", "1.5", "1.5 is not an integer"}}},
		{name: "any not last", text: `{"rules": [
			{"rulePriority": 5, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 500}, "action": {"type": "expire"}},
			{"rulePriority": 7, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Conflict, "rules[0].rulePriority", "5,", `a rule with tagStatus "any" must have the highest rulePriority (it is evaluated last) and rules[1], which also selects standard images, has 7`}}},
		{name: "duplicate priority", text: `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
			{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Duplicate, "rules[1].rulePriority", "1,", "rulePriority 1 is also rules[0]'s"}}},
		{name: "description not a string", text: `{"rules": [{"rulePriority": 1, "description": 7, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Refused, Invalid, "rules[0].description", "7", "is the number 7; want a string"}}},
		{name: "duplicate key", text: `{"rules": [{"rulePriority": 1, "rulePriority": 2, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			want: []want{{Warning, Duplicate, "rules[0].rulePriority", `"rulePriority": 2`, `key "rulePriority" is given twice`}}},

		// Its selection.
		{name: "tagStatus wrong case", text: rule(`{"tagStatus": "TAGGED", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.tagStatus", `"TAGGED"`, `"TAGGED" is not one of "tagged", "untagged", "any" (did you mean "tagged"?)`}}},
		{name: "selection without anything", text: rule(`{"countNumber": 1, "tagPrefixList": ["abcdefgh"]}`, expire),
			want: []want{
				{Refused, Missing, "rules[0].selection.tagStatus", `{"countNumber"`, "missing"},
				{Refused, Missing, "rules[0].selection.countType", `{"countNumber"`, "missing"},
			}},
		{name: "both tag lists", text: rule(`{"tagStatus": "tagged", "tagPatternList": ["prod*"], "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.tagPrefixList", `"tagPrefixList"`, "cannot be given with tagPatternList"}}},
		{name: "untagged with a prefix list", text: rule(`{"tagStatus": "untagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.tagPrefixList", `"tagPrefixList"`, `is only for tagStatus "tagged"; with "untagged" it must be left out`}}},
		{name: "any with a pattern list", text: rule(`{"tagStatus": "any", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.tagPatternList", `"tagPatternList"`, `with "any" it must be left out`}}},
		{name: "empty tag list", text: rule(`{"tagStatus": "tagged", "tagPrefixList": [], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.tagPrefixList", "[]", "is empty; want at least one tag prefix"}}},
		{name: "empty tag", text: rule(`{"tagStatus": "tagged", "tagPrefixList": [""], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.tagPrefixList[0]", `""`, "is empty; want a tag prefix"}}},
		{name: "five wildcards", text: rule(`{"tagStatus": "tagged", "tagPatternList": ["ok*", "test*1*2*3*4*5"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.tagPatternList[1]", `"test*1`, "has 5 wildcards; ECR allows at most 4"}}},
		{name: "countType unknown", text: rule(`{"tagStatus": "untagged", "countType": "sinceImagePush", "countUnit": "days", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.countType", `"sinceImagePush"`, `(did you mean "sinceImagePushed"?)`}}},
		{name: "countUnit with a count", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 1}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.countUnit", `"countUnit"`, "with imageCountMoreThan, countNumber is a number of images"}}},
		{name: "countUnit hours", text: rule(`{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "hours", "countNumber": 1}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.countUnit", `"hours"`, `"hours" is not one of "days"`}}},
		{name: "countNumber zero", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.countNumber", "0}", "is 0; want a positive integer"}}},
		{name: "countNumber missing", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan"}`, expire),
			want: []want{{Refused, Missing, "rules[0].selection.countNumber", `{"tagStatus"`, "missing"}}},
		{name: "archive storage class by push", text: rule(`{"tagStatus": "untagged", "storageClass": "archive", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.storageClass", `"archive"`, `"archive" goes only with countType sinceImageTransitioned`}}},
		{name: "transitioned without storage class", text: rule(`{"tagStatus": "untagged", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 120}`, expire),
			want: []want{{Refused, Missing, "rules[0].selection.storageClass", `{"tagStatus"`, `needs "storageClass": "archive"`}}},
		{name: "transitioned standard", text: rule(`{"tagStatus": "untagged", "storageClass": "standard", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 120}`, expire),
			want: []want{{Refused, Conflict, "rules[0].selection.storageClass", `"standard"`, `want "archive"`}}},
		{name: "archived for less than 90 days", text: rule(`{"tagStatus": "untagged", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 30}`, expire),
			want: []want{{Refused, Invalid, "rules[0].selection.countNumber", "30}", "is 30; ECR does not let a lifecycle policy delete an image archived for less than 90 days"}}},

		// Its action.
		{name: "action type unknown", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`, `{"type": "delete"}`),
			want: []want{{Refused, Invalid, "rules[0].action.type", `"delete"`, `"delete" is not one of "expire", "transition"`}}},
		{name: "action without type", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`, `{}`),
			want: []want{{Refused, Missing, "rules[0].action.type", `{}`, "missing"}}},
		{name: "transition without target", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`, `{"type": "transition"}`),
			want: []want{{Refused, Missing, "rules[0].action.targetStorageClass", `{"type"`, `needs "targetStorageClass": "archive"`}}},
		{name: "transition to standard", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`, `{"type": "transition", "targetStorageClass": "standard"}`),
			want: []want{{Refused, Invalid, "rules[0].action.targetStorageClass", `"standard"`, `is not one of "archive"`}}},
		{name: "expire with a target", text: rule(`{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`, `{"type": "expire", "targetStorageClass": "archive"}`),
			want: []want{{Warning, Conflict, "rules[0].action.targetStorageClass", `"targetStorageClass"`, `only used by a "transition" action`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, tt.text, Lifecycle(tt.text), tt.want)
		})
	}
}

// statement builds a one-statement repository policy.
func statement(s string) string { return `{"Version": "2012-10-17", "Statement": [` + s + `]}` }

const pull = `"Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]`

func TestRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []want
	}{
		// Valid policies.
		{name: "an account pulls", text: statement(`{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::555555555555:root"}, ` + pull + `}`)},
		{name: "Statement an object", text: `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": ["111111111111", "222222222222"]}, "Action": "ecr:*"}}`},
		{name: "version 2008, Sid with spaces", text: `{"Version": "2008-10-17", "Statement": [{"Sid": "ECR Repository Policy", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "ecr:BatchGetImage"}]}`},
		{name: "everyone, with a condition", text: statement(`{"Effect": "Allow", "Principal": "*", ` + pull + `, "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-abc/r-ab/ou-ab-cd/*"]}, "BoolIfExists": {"aws:SecureTransport": true}}}`)},
		{name: "everyone denied", text: statement(`{"Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteRepository"}`)},
		{name: "NotPrincipal with Deny", text: statement(`{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "NotAction": ["ecr:BatchGetImage"]}`)},

		// The examples.
		{name: "Statement empty", text: `{"Version": "2012-10-17", "Statement": []}`,
			want: []want{{Refused, Invalid, "Statement", "[]", "is empty; want at least one statement"}}},
		{name: "statement without Principal", text: statement(`{"Effect": "Allow", ` + pull + `}`),
			want: []want{{Refused, Missing, "Statement[0].Principal", `{"Effect"`, "missing; a repository policy is a resource-based policy"}}},

		// The document.
		{name: "not JSON", text: `{"Statement": [`, want: []want{{Refused, Syntax, "", "", "is not valid JSON"}}},
		{name: "a string", text: `"policy"`, want: []want{{Refused, Syntax, "", `"policy"`, `is the string "policy"; want a JSON object`}}},
		{name: "too long", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage"}`) + strings.Repeat(" ", 10240),
			want: []want{{Refused, Length, "", "", "ECR takes a repository policy of at most 10240"}}},
		{name: "no Version", text: `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage"}]}`,
			want: []want{{Warning, Missing, "Version", `{"Statement"`, `add "Version": "2012-10-17"`}}},
		{name: "Version unknown", text: `{"Version": "2012-10-18", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage"}]}`,
			want: []want{{Refused, Invalid, "Version", `"2012-10-18"`, `"2012-10-18" is not one of "2012-10-17", "2008-10-17"`}}},
		{name: "Statements", text: `{"Version": "2012-10-17", "Statements": [], "Statement": {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:ListImages"}}`,
			want: []want{{Refused, Unknown, "Statements", `"Statements"`, `(did you mean "Statement"?)`}}},
		{name: "Statement a string", text: `{"Version": "2012-10-17", "Statement": "allow"}`,
			want: []want{{Refused, Invalid, "Statement", `"allow"`, "want a list of statements"}}},

		// A statement.
		{name: "Resource", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage", "Resource": "*"}`),
			want: []want{{Refused, Unknown, "Statement[0].Resource", `"Resource"`, "ECR refuses a statement with Resource"}}},
		{name: "Effect lowercase", text: statement(`{"Effect": "allow", "Principal": {"AWS": "111111111111"}, "Action": "ecr:BatchGetImage"}`),
			want: []want{{Refused, Invalid, "Statement[0].Effect", `"allow"`, `(did you mean "Allow"?)`}}},
		{name: "no Effect, no Action", text: statement(`{"Principal": {"AWS": "111111111111"}}`),
			want: []want{
				{Refused, Missing, "Statement[0].Effect", `{"Principal"`, "missing"},
				{Refused, Missing, "Statement[0].Action", `{"Principal"`, "each statement needs an Action"},
			}},
		{name: "Principal and NotPrincipal", text: statement(`{"Effect": "Deny", "Principal": {"AWS": "1"}, "NotPrincipal": {"AWS": "2"}, "Action": "ecr:*"}`),
			want: []want{{Refused, Conflict, "Statement[0].NotPrincipal", `"NotPrincipal"`, "cannot be given with Principal"}}},
		{name: "Action and NotAction", text: statement(`{"Effect": "Deny", "Principal": {"AWS": "1"}, "Action": "ecr:*", "NotAction": "ecr:ListImages"}`),
			want: []want{{Refused, Conflict, "Statement[0].NotAction", `"NotAction"`, "cannot be given with Action"}}},
		{name: "action without a service", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": ["ecr:ListImages", "BatchGetImage"]}`),
			want: []want{{Refused, Invalid, "Statement[0].Action[1]", `"BatchGetImage"`, `"BatchGetImage" is not an action`}}},
		{name: "action list empty", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": []}`),
			want: []want{{Refused, Invalid, "Statement[0].Action", "[]", "is an empty list"}}},
		{name: "action a number", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": [7]}`),
			want: []want{{Refused, Invalid, "Statement[0].Action[0]", "7", "is the number 7"}}},
		{name: "another service's action", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": ["ecr:ListImages", "s3:GetObject"]}`),
			want: []want{{Warning, Invalid, "Statement[0].Action[1]", `"s3:GetObject"`, "is not an ECR action"}}},
		{name: "Principal an ARN", text: statement(`{"Effect": "Allow", "Principal": "arn:aws:iam::111111111111:root", "Action": "ecr:ListImages"}`),
			want: []want{{Refused, Invalid, "Statement[0].Principal", `"arn:aws`, `{"AWS": "arn:aws:iam::111111111111:root"}`}}},
		{name: "Principal empty", text: statement(`{"Effect": "Allow", "Principal": {}, "Action": "ecr:ListImages"}`),
			want: []want{{Refused, Invalid, "Statement[0].Principal", "{}", "is empty"}}},
		{name: "Principal type wrong case", text: statement(`{"Effect": "Allow", "Principal": {"Aws": "1"}, "Action": "ecr:ListImages"}`),
			want: []want{{Refused, Unknown, "Statement[0].Principal.Aws", `"Aws"`, `(did you mean "AWS"?)`}}},
		{name: "Principal id empty", text: statement(`{"Effect": "Allow", "Principal": {"AWS": [""]}, "Action": "ecr:ListImages"}`),
			want: []want{{Refused, Invalid, "Statement[0].Principal.AWS[0]", `""`, "is empty"}}},
		{name: "condition operator unknown", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "ecr:ListImages", "Condition": {"StringEqual": {"aws:PrincipalOrgID": "o-1"}}}`),
			want: []want{{Refused, Invalid, "Statement[0].Condition.StringEqual", `"StringEqual"`, `(did you mean "StringEquals"?)`}}},
		{name: "NullIfExists", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "ecr:ListImages", "Condition": {"NullIfExists": {"aws:SourceIp": "true"}}}`),
			want: []want{{Refused, Invalid, "Statement[0].Condition.NullIfExists", `"NullIfExists"`, "is not a condition operator"}}},
		{name: "condition value an object", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "ecr:ListImages", "Condition": {"StringEquals": {"aws:PrincipalOrgID": {"a": 1}}}}`),
			want: []want{{Refused, Invalid, "Statement[0].Condition.StringEquals.aws:PrincipalOrgID", `{"a"`, "want a value or a list of values"}}},

		// Warnings.
		{name: "everyone", text: statement(`{"Effect": "Allow", "Principal": "*", ` + pull + `}`),
			want: []want{{Warning, Risk, "Statement[0].Principal", `"*"`, "grants ecr:BatchGetImage, ecr:GetDownloadUrlForLayer on the repository to any AWS account, and to anonymous callers"}}},
		{name: "everyone, an empty Condition", text: statement(`{"Effect": "Allow", "Principal": "*", "Action": "ecr:ListImages", "Condition": {}}`),
			want: []want{{Warning, Risk, "Statement[0].Principal", `"*"`, "grants ecr:ListImages on the repository to any AWS account"}}},
		{name: "every AWS principal", text: statement(`{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}, "Action": "ecr:*"}`),
			want: []want{{Warning, Risk, "Statement[0].Principal", `{"AWS"`, "grants ecr:* on the repository to any AWS account"}}},
		{name: "everyone, every action", text: statement(`{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"}`),
			want: []want{{Warning, Risk, "Statement[0].Principal", `{"AWS"`, "grants every action"}}},
		{name: "NotPrincipal with Allow", text: statement(`{"Effect": "Allow", "NotPrincipal": {"AWS": "1"}, "Action": "ecr:ListImages"}`),
			want: []want{{Warning, Risk, "Statement[0].NotPrincipal", `{"AWS"`, "grants the actions to every principal not listed"}}},
		{name: "duplicate Sid", text: `{"Version": "2012-10-17", "Statement": [
			{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "ecr:BatchGetImage"},
			{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "2"}, "Action": "ecr:BatchGetImage"}]}`,
			want: []want{{Warning, Duplicate, "Statement[1].Sid", `"pull"`, `Sid "pull" is also Statement[0]'s`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, tt.text, Repository(tt.text), tt.want)
		})
	}
}

func TestRefusal(t *testing.T) {
	t.Parallel()
	warn := Problem{Severity: Warning, Msg: "w"}
	refused := Problem{Severity: Refused, Msg: "r"}
	if _, ok := Refusal([]Problem{warn}); ok {
		t.Error("Refusal of a warning alone = true, want false")
	}
	if p, ok := Refusal([]Problem{warn, refused, {Severity: Refused, Msg: "later"}}); !ok || p.Msg != "r" {
		t.Errorf("Refusal = %v, %v; want the first refused problem", p, ok)
	}
}

// FuzzDocuments: any text gives problems (or none) without a panic, each
// at an offset inside the text.
func FuzzDocuments(f *testing.F) {
	f.Add(rule(`{"tagStatus": "tagged", "tagPrefixList": ["a"], "countType": "imageCountMoreThan", "countNumber": 1}`, expire))
	f.Add(statement(`{"Effect": "Allow", "Principal": "*", ` + pull + `}`))
	f.Add(`{"rules": [{"a": [1, {"b": null}]}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		for _, p := range append(Lifecycle(text), Repository(text)...) {
			if p.Offset < 0 || p.Offset > len(text) {
				t.Fatalf("problem %v at offset %d of a %d-byte text", p, p.Offset, len(text))
			}
		}
	})
}
