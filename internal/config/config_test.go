package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/match"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// base is a valid configuration; each case below changes it a little, so
// the positions in a case are those of base (destination keys at column 9).
const base = `version: 1
source:
  account: "111111111111"
  region: us-east-1
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - account: "222222222222"
        region: eu-west-1
`

// edit returns base with old replaced by new (which must change it).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("base has no %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

// add returns base with lines appended, from line 12 on.
func add(lines ...string) string { return base + strings.Join(lines, "\n") + "\n" }

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		yaml      func(t *testing.T) string
		wantPos   string // line:column
		wantField string
		wantErr   error
		wantMsg   string // substring
	}{
		{
			name:    "unknown top-level key",
			yaml:    func(*testing.T) string { return add("rulez: []") },
			wantPos: "12:1", wantField: "rulez", wantErr: ErrUnknownField,
			wantMsg: `unknown key "rulez"; allowed keys are version, source, externalId, rules, reconcile (did you mean "rules"?)`,
		},
		{
			name:    "unknown destination key",
			yaml:    func(*testing.T) string { return add("        approvl: required") },
			wantPos: "12:9", wantField: "rules[0].destinations[0].approvl", wantErr: ErrUnknownField,
			wantMsg: `allowed keys are account, region, role, repository, approval, onExistingTag, onSourceDelete, settings, gates (did you mean "approval"?)`,
		},
		{
			name:    "unknown key without a suggestion",
			yaml:    func(*testing.T) string { return add("        frobnicate: true") },
			wantPos: "12:9", wantField: "rules[0].destinations[0].frobnicate", wantErr: ErrUnknownField,
			wantMsg: `unknown key "frobnicate"; allowed keys are account,`,
		},
		{
			name:    "duplicate key",
			yaml:    func(*testing.T) string { return add("        region: eu-west-2") },
			wantPos: "12:9", wantField: "rules[0].destinations[0].region", wantErr: ErrDuplicate,
			wantMsg: `key "region" is given twice (first at line 11)`,
		},
		{
			name: "missing source",
			yaml: func(t *testing.T) string {
				return edit(t, "source:\n  account: \"111111111111\"\n  region: us-east-1\n", "")
			},
			wantPos: "1:1", wantField: "source", wantErr: ErrMissingField,
			wantMsg: "missing; want a mapping with account and region",
		},
		{
			name: "empty source",
			yaml: func(t *testing.T) string {
				return edit(t, "source:\n  account: \"111111111111\"\n  region: us-east-1\n", "source:\n")
			},
			wantPos: "2:1", wantField: "source", wantErr: ErrMissingField,
			wantMsg: "is empty; want a mapping with account and region",
		},
		{
			name:    "version 2",
			yaml:    func(t *testing.T) string { return edit(t, "version: 1", "version: 2") },
			wantPos: "1:10", wantField: "version", wantErr: ErrInvalidValue,
			wantMsg: "the number 2 is not supported; want 1",
		},
		{
			name:    "version as a string",
			yaml:    func(t *testing.T) string { return edit(t, "version: 1", `version: "1"`) },
			wantPos: "1:10", wantField: "version", wantErr: ErrInvalidValue,
			wantMsg: `"1" is a string; want the number 1`,
		},
		{
			name:    "source region",
			yaml:    func(t *testing.T) string { return edit(t, "region: us-east-1", "region: us-east") },
			wantPos: "4:11", wantField: "source.region", wantErr: ErrInvalidValue,
			wantMsg: `"us-east" is not an AWS region`,
		},
		{
			name:    "short account id",
			yaml:    func(t *testing.T) string { return edit(t, `account: "222222222222"`, `account: "12345"`) },
			wantPos: "10:18", wantField: "rules[0].destinations[0].account", wantErr: ErrInvalidValue,
			wantMsg: `"12345" is not an AWS account id (want 12 digits, quoted)`,
		},
		{
			name:    "unquoted account id",
			yaml:    func(t *testing.T) string { return edit(t, `account: "222222222222"`, `account: 222222222222`) },
			wantPos: "10:18", wantField: "rules[0].destinations[0].account", wantErr: ErrInvalidValue,
			wantMsg: `222222222222 is an unquoted YAML number; quote it ("222222222222")`,
		},
		{
			name:    "unquoted account id with a leading zero",
			yaml:    func(t *testing.T) string { return edit(t, `account: "111111111111"`, `account: 012345678901`) },
			wantPos: "3:12", wantField: "source.account", wantErr: ErrInvalidValue,
			wantMsg: `quote it ("012345678901")`,
		},
		{
			name:    "missing region",
			yaml:    func(t *testing.T) string { return edit(t, "        region: eu-west-1\n", "") },
			wantPos: "10:9", wantField: "rules[0].destinations[0].region", wantErr: ErrMissingField,
			wantMsg: `missing; want an AWS region such as "eu-west-1"`,
		},
		{
			name:    "gov region is fine but a made-up shape is not",
			yaml:    func(t *testing.T) string { return edit(t, "region: eu-west-1", "region: eu-west-1a") },
			wantPos: "11:17", wantField: "rules[0].destinations[0].region", wantErr: ErrInvalidValue,
			wantMsg: `"eu-west-1a" is not an AWS region`,
		},
		{
			name: "destination listed twice",
			yaml: func(*testing.T) string {
				return add(`      - account: "222222222222"`, "        region: eu-west-1")
			},
			wantPos: "12:9", wantField: "rules[0].destinations[1]", wantErr: ErrDuplicate,
			wantMsg: "destination 222222222222/eu-west-1 is already listed in this rule at line 10",
		},
		{
			name: "duplicate rule name",
			yaml: func(*testing.T) string {
				return add("  - name: releases", `    repositories: ["x/*"]`, `    tags: ["*"]`, "    destinations:",
					`      - account: "222222222222"`, "        region: eu-west-1")
			},
			wantPos: "12:11", wantField: "rules[1].name", wantErr: ErrDuplicate,
			wantMsg: `rule name "releases" is already used at line 6`,
		},
		{
			name:    "bad rule name",
			yaml:    func(t *testing.T) string { return edit(t, "name: releases", "name: Releases") },
			wantPos: "6:11", wantField: "rules[0].name", wantErr: ErrInvalidValue,
			wantMsg: `"Releases" is not a valid rule name (want 1 to 64 lowercase letters, digits and '-')`,
		},
		{
			name:    "missing rule name",
			yaml:    func(t *testing.T) string { return edit(t, "  - name: releases\n    repositories", "  - repositories") },
			wantPos: "6:5", wantField: "rules[0].name", wantErr: ErrMissingField,
			wantMsg: "missing; want a rule name",
		},
		{
			name:    "no rules",
			yaml:    func(*testing.T) string { return base[:strings.Index(base, "rules:")] + "rules: []\n" },
			wantPos: "5:8", wantField: "rules", wantErr: ErrMissingField,
			wantMsg: "is empty; want at least one rule",
		},
		{
			name:    "bad regular expression",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: ["release-*", "/[a-/"]`) },
			wantPos: "8:25", wantField: "rules[0].tags[1]", wantErr: match.ErrInvalidPattern,
			wantMsg: `pattern "/[a-/": invalid regular expression`,
		},
		{
			name:    "bad semver range",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: ["semver:>>1"]`) },
			wantPos: "8:12", wantField: "rules[0].tags[0]", wantErr: ErrInvalidValue,
			wantMsg: `pattern "semver:>>1": invalid semver range`,
		},
		{
			name:    "empty pattern",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: [""]`) },
			wantPos: "8:12", wantField: "rules[0].tags[0]", wantErr: match.ErrInvalidPattern,
			wantMsg: "empty pattern",
		},
		{
			name:    "no tag patterns",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: []`) },
			wantPos: "8:11", wantField: "rules[0].tags", wantErr: ErrMissingField,
			wantMsg: "is empty; want at least one tag pattern",
		},
		{
			name:    "tags not a list",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: release-*`) },
			wantPos: "8:11", wantField: "rules[0].tags", wantErr: ErrInvalidValue,
			wantMsg: `is "release-*"; want a list of tag patterns`,
		},
		{
			name:    "missing repositories",
			yaml:    func(t *testing.T) string { return edit(t, "    repositories: [\"team/**\"]\n", "") },
			wantPos: "6:5", wantField: "rules[0].repositories", wantErr: ErrMissingField,
			wantMsg: "missing; want a list of repository patterns",
		},
		{
			name:    "semver range for repositories",
			yaml:    func(t *testing.T) string { return edit(t, `repositories: ["team/**"]`, `repositories: ["semver:>=1"]`) },
			wantPos: "7:20", wantField: "rules[0].repositories[0]", wantErr: ErrInvalidValue,
			wantMsg: "only applies to tags",
		},
		{
			name:    "repository glob that can never match",
			yaml:    func(t *testing.T) string { return edit(t, `repositories: ["team/**"]`, `repositories: ["Team/**"]`) },
			wantPos: "7:20", wantField: "rules[0].repositories[0]", wantErr: ErrInvalidValue,
			wantMsg: `pattern "Team/**" can never match`,
		},
		{
			name:    "tag glob that can never match",
			yaml:    func(t *testing.T) string { return edit(t, `tags: ["release-*"]`, `tags: ["release/*"]`) },
			wantPos: "8:12", wantField: "rules[0].tags[0]", wantErr: ErrInvalidValue,
			wantMsg: "tags use only letters, digits",
		},
		{
			name:    "bad exclude pattern",
			yaml:    func(*testing.T) string { return add("    exclude:", `      tags: ["semver:"]`) },
			wantPos: "13:14", wantField: "rules[0].exclude.tags[0]", wantErr: match.ErrInvalidPattern,
			wantMsg: "empty semver range",
		},
		{
			name:    "unknown exclude key",
			yaml:    func(*testing.T) string { return add("    exclude:", `      tag: ["x"]`) },
			wantPos: "13:7", wantField: "rules[0].exclude.tag", wantErr: ErrUnknownField,
			wantMsg: `(did you mean "tags"?)`,
		},
		{
			name: "no destinations",
			yaml: func(t *testing.T) string {
				return edit(t, "    destinations:\n      - account: \"222222222222\"\n        region: eu-west-1\n", "    destinations: []\n")
			},
			wantPos: "9:19", wantField: "rules[0].destinations", wantErr: ErrMissingField,
			wantMsg: "is empty; want at least one destination",
		},
		{
			name: "destination is the source",
			yaml: func(t *testing.T) string {
				return edit(t, "      - account: \"222222222222\"\n        region: eu-west-1", "      - account: \"111111111111\"\n        region: us-east-1")
			},
			wantPos: "10:9", wantField: "rules[0].destinations[0]", wantErr: ErrConflict,
			wantMsg: "destination 111111111111/us-east-1 is the source registry and has no rename, so every image would be copied onto itself",
		},
		{
			name: "destination is the source, renamed to itself",
			yaml: func(t *testing.T) string {
				return edit(t, "      - account: \"222222222222\"\n        region: eu-west-1", "      - account: \"111111111111\"\n        region: us-east-1\n        repository: {prefix: team/, stripPrefix: team/}")
			},
			wantPos: "12:21", wantField: "rules[0].destinations[0]", wantErr: ErrConflict,
			wantMsg: "repository.prefix equals repository.stripPrefix",
		},
		{
			name:    "bad rename prefix",
			yaml:    func(*testing.T) string { return add(`        repository: {prefix: "Mirror/"}`) },
			wantPos: "12:30", wantField: "rules[0].destinations[0].repository.prefix", wantErr: ErrInvalidValue,
			wantMsg: `"Mirror/" cannot start a repository name`,
		},
		{
			name:    "rename prefix with a double separator",
			yaml:    func(*testing.T) string { return add(`        repository: {stripPrefix: "team//"}`) },
			wantPos: "12:35", wantField: "rules[0].destinations[0].repository.stripPrefix", wantErr: ErrInvalidValue,
			wantMsg: `"team//" cannot start a repository name`,
		},
		{
			name:    "strip prefix that ends mid-part",
			yaml:    func(*testing.T) string { return add(`        repository: {stripPrefix: team}`) },
			wantPos: "12:35", wantField: "rules[0].destinations[0].repository.stripPrefix", wantErr: ErrInvalidValue,
			wantMsg: `"team" ends in the middle of a name part, so team/app would become "/app"`,
		},
		{
			name:    "role is an ARN",
			yaml:    func(*testing.T) string { return add("        role: arn:aws:iam::222222222222:role/ferry") },
			wantPos: "12:15", wantField: "rules[0].destinations[0].role", wantErr: ErrInvalidValue,
			wantMsg: "is not an IAM role name",
		},
		{
			name:    "approval value",
			yaml:    func(*testing.T) string { return add("        approval: yes") },
			wantPos: "12:19", wantField: "rules[0].destinations[0].approval", wantErr: ErrInvalidValue,
			wantMsg: `"yes" is not an approval mode (want "required" or "none")`,
		},
		{
			name:    "onExistingTag value",
			yaml:    func(*testing.T) string { return add("        onExistingTag: keep") },
			wantPos: "12:24", wantField: "rules[0].destinations[0].onExistingTag", wantErr: ErrInvalidValue,
			wantMsg: `"keep" is not a valid choice (want "fail"`,
		},
		{
			name:    "onSourceDelete value",
			yaml:    func(*testing.T) string { return add("        onSourceDelete: delete") },
			wantPos: "12:25", wantField: "rules[0].destinations[0].onSourceDelete", wantErr: ErrInvalidValue,
			wantMsg: `"delete" is not a valid choice (want "keep"`,
		},
		{
			name: "untag an immutable tag",
			yaml: func(*testing.T) string {
				return add("        onSourceDelete: untag", "        settings:", "          tagImmutability: true")
			},
			wantPos: "12:25", wantField: "rules[0].destinations[0].onSourceDelete", wantErr: ErrConflict,
			wantMsg: "cannot work with settings.tagImmutability: true",
		},
		{
			name: "overwrite an immutable tag",
			yaml: func(*testing.T) string {
				return add("        onExistingTag: overwrite", "        settings:", "          tagImmutability: true")
			},
			wantPos: "12:24", wantField: "rules[0].destinations[0].onExistingTag", wantErr: ErrConflict,
			wantMsg: "cannot work with settings.tagImmutability: true",
		},
		{
			name:    "ferry: tag key",
			yaml:    func(*testing.T) string { return add("        settings:", `          tags: {"ferry:settings": done}`) },
			wantPos: "13:18", wantField: "rules[0].destinations[0].settings.tags.ferry:settings", wantErr: ErrInvalidValue,
			wantMsg: `uses the prefix "ferry:", which Ferry keeps for its own markers`,
		},
		{
			name: "iamScope not a wildcard",
			yaml: func(t *testing.T) string {
				return edit(t, `    tags: ["release-*"]`, "    tags: [\"release-*\"]\n    iamScope: [\"Svc-*\"]")
			},
			wantPos: "9:16", wantField: "rules[0].iamScope[0]", wantErr: ErrInvalidValue,
			wantMsg: `"Svc-*" is not an IAM wildcard over repository names`,
		},
		{
			name:    "boolean setting as a string",
			yaml:    func(*testing.T) string { return add("        settings:", `          scanOnPush: "yes"`) },
			wantPos: "13:23", wantField: "rules[0].destinations[0].settings.scanOnPush", wantErr: ErrInvalidValue,
			wantMsg: `is "yes"; want true or false`,
		},
		{
			name:    "boolean setting quoted",
			yaml:    func(*testing.T) string { return add("        settings:", `          tagImmutability: "true"`) },
			wantPos: "13:28", wantField: "rules[0].destinations[0].settings.tagImmutability", wantErr: ErrInvalidValue,
			wantMsg: `is the quoted string "true"; want true or false, without quotes`,
		},
		{
			name:    "unknown settings key",
			yaml:    func(*testing.T) string { return add("        settings:", "          immutable: true") },
			wantPos: "13:11", wantField: "rules[0].destinations[0].settings.immutable", wantErr: ErrUnknownField,
			wantMsg: "allowed keys are tagImmutability, scanOnPush, encryption, lifecyclePolicy, repositoryPolicy, tags",
		},
		{
			name:    "encryption type",
			yaml:    func(*testing.T) string { return add("        settings:", "          encryption: {type: SSE}") },
			wantPos: "13:30", wantField: "rules[0].destinations[0].settings.encryption.type", wantErr: ErrInvalidValue,
			wantMsg: `"SSE" is not an encryption type (want "AES256", the default, or "KMS")`,
		},
		{
			name:    "kmsKey without KMS",
			yaml:    func(*testing.T) string { return add("        settings:", "          encryption: {kmsKey: alias/ecr}") },
			wantPos: "13:32", wantField: "rules[0].destinations[0].settings.encryption.kmsKey", wantErr: ErrConflict,
			wantMsg: "kmsKey needs type: KMS",
		},
		{
			name: "kmsKey malformed",
			yaml: func(*testing.T) string {
				return add("        settings:", "          encryption: {type: KMS, kmsKey: my-key}")
			},
			wantPos: "13:43", wantField: "rules[0].destinations[0].settings.encryption.kmsKey", wantErr: ErrInvalidValue,
			wantMsg: `"my-key" is not a KMS key`,
		},
		{
			name: "kmsKey in another region",
			yaml: func(*testing.T) string {
				return add("        settings:", "          encryption:", "            type: KMS",
					"            kmsKey: arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab")
			},
			wantPos: "15:21", wantField: "rules[0].destinations[0].settings.encryption.kmsKey", wantErr: ErrConflict,
			wantMsg: "the key is in us-east-1 but the destination is in eu-west-1",
		},
		{
			name:    "lifecycle policy is not JSON",
			yaml:    func(*testing.T) string { return add("        settings:", `          lifecyclePolicy: '{"rules": [}'`) },
			wantPos: "13:28", wantField: "rules[0].destinations[0].settings.lifecyclePolicy", wantErr: ErrInvalidValue,
			wantMsg: "is not valid JSON (at byte 12 of the text)",
		},
		{
			name: "lifecycle policy as YAML",
			yaml: func(*testing.T) string {
				return add("        settings:", "          lifecyclePolicy:", "            rules: []")
			},
			wantPos: "14:13", wantField: "rules[0].destinations[0].settings.lifecyclePolicy", wantErr: ErrInvalidValue,
			wantMsg: "is a mapping; want JSON text in a string, e.g. a block scalar (lifecyclePolicy: |)",
		},
		{
			name:    "lifecycle policy without rules",
			yaml:    func(*testing.T) string { return add("        settings:", `          lifecyclePolicy: '{"rule": []}'`) },
			wantPos: "13:28", wantField: "rules[0].destinations[0].settings.lifecyclePolicy", wantErr: ErrInvalidValue,
			wantMsg: `the JSON object has no "rules" key`,
		},
		{
			name:    "repository policy is a JSON list",
			yaml:    func(*testing.T) string { return add("        settings:", `          repositoryPolicy: '[]'`) },
			wantPos: "13:29", wantField: "rules[0].destinations[0].settings.repositoryPolicy", wantErr: ErrInvalidValue,
			wantMsg: "is not a JSON object",
		},
		{
			name:    "resource tag with aws: prefix",
			yaml:    func(*testing.T) string { return add("        settings:", "          tags: {AWS:team: platform}") },
			wantPos: "13:18", wantField: "rules[0].destinations[0].settings.tags.AWS:team", wantErr: ErrInvalidValue,
			wantMsg: `uses the reserved prefix "aws:"`,
		},
		{
			name: "resource tag key too long",
			yaml: func(*testing.T) string {
				return add("        settings:", "          tags: {"+strings.Repeat("k", 129)+": v}")
			},
			wantPos: "13:18", wantField: "rules[0].destinations[0].settings.tags." + strings.Repeat("k", 129), wantErr: ErrInvalidValue,
			wantMsg: "tag key is 129 characters; want 1 to 128",
		},
		{
			name: "resource tag value too long",
			yaml: func(*testing.T) string {
				return add("        settings:", "          tags: {team: "+strings.Repeat("v", 257)+"}")
			},
			wantPos: "13:24", wantField: "rules[0].destinations[0].settings.tags.team", wantErr: ErrInvalidValue,
			wantMsg: "tag value is 257 characters; want at most 256",
		},
		{
			name:    "resource tag value with a bad character",
			yaml:    func(*testing.T) string { return add("        settings:", `          tags: {team: "a;b"}`) },
			wantPos: "13:24", wantField: "rules[0].destinations[0].settings.tags.team", wantErr: ErrInvalidValue,
			wantMsg: `tag value "a;b" has a character AWS does not allow`,
		},
		{
			name: "too many resource tags",
			yaml: func(*testing.T) string {
				lines := []string{"        settings:", "          tags:"}
				for i := range 50 {
					lines = append(lines, fmt.Sprintf("            k%d: v", i))
				}
				return add(lines...)
			},
			wantPos: "14:13", wantField: "rules[0].destinations[0].settings.tags", wantErr: ErrInvalidValue,
			wantMsg: "has 50 tags; at most 49 (AWS allows 50 per resource and Ferry uses one, ferry:settings)",
		},
		{
			name:    "external id",
			yaml:    func(*testing.T) string { return add(`externalId: "has space"`) },
			wantPos: "12:13", wantField: "externalId", wantErr: ErrInvalidValue,
			wantMsg: `"has space" is not a valid sts:ExternalId`,
		},
		{
			name:    "unknown reconcile key",
			yaml:    func(*testing.T) string { return add("reconcile:", "  shedule: rate(1 day)") },
			wantPos: "13:3", wantField: "reconcile.shedule", wantErr: ErrUnknownField,
			wantMsg: `unknown key "shedule"; allowed keys are schedule (did you mean "schedule"?)`,
		},
		{
			name:    "reconcile not a mapping",
			yaml:    func(*testing.T) string { return add("reconcile: rate(1 day)") },
			wantPos: "12:12", wantField: "reconcile", wantErr: ErrInvalidValue,
			wantMsg: `is "rate(1 day)"; want a mapping with keys schedule`,
		},
		{
			name:    "bad schedule",
			yaml:    func(*testing.T) string { return add("reconcile:", "  schedule: rate(1 days)") },
			wantPos: "13:13", wantField: "reconcile.schedule", wantErr: ErrInvalidValue,
			wantMsg: `"rate(1 days)": a value of 1 takes the singular unit: rate(1 day)`,
		},
		{
			name:    "schedule as a boolean",
			yaml:    func(*testing.T) string { return add("reconcile: {schedule: false}") },
			wantPos: "12:23", wantField: "reconcile.schedule", wantErr: ErrInvalidValue,
			wantMsg: "is the boolean false; want rate(N minutes|hours|days)",
		},
		{
			name:    "schedule as a list",
			yaml:    func(*testing.T) string { return add("reconcile: {schedule: [rate(1 day)]}") },
			wantPos: "12:23", wantField: "reconcile.schedule", wantErr: ErrInvalidValue,
			wantMsg: "is a list; want a schedule expression such as rate(1 day), or off",
		},
		{
			name:    "YAML syntax",
			yaml:    func(*testing.T) string { return add("        role: a: b") },
			wantPos: "12:0", wantField: "", wantErr: ErrSyntax,
			wantMsg: "invalid YAML:",
		},
		{
			name:    "tab indentation",
			yaml:    func(*testing.T) string { return add("\trole: x") },
			wantPos: "11:0", wantField: "", wantErr: ErrSyntax,
			wantMsg: "(line 12 is indented with a tab; YAML indents with spaces only)",
		},
		{
			name:    "empty file",
			yaml:    func(*testing.T) string { return "" },
			wantPos: "0:0", wantField: "", wantErr: ErrMissingField,
			wantMsg: "empty configuration",
		},
		{
			name:    "not a mapping",
			yaml:    func(*testing.T) string { return "- a\n- b\n" },
			wantPos: "1:1", wantField: "", wantErr: ErrInvalidValue,
			wantMsg: "is a list; want a Ferry configuration with keys version, source, externalId, rules, reconcile",
		},
		{
			name:    "two documents",
			yaml:    func(*testing.T) string { return base + "---\nversion: 1\n" },
			wantPos: "12:1", wantField: "", wantErr: ErrInvalidValue,
			wantMsg: "a second YAML document",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse("ferry.yaml", []byte(tt.yaml(t)))
			if err == nil {
				t.Fatalf("Parse succeeded (%d rules), want %v", len(cfg.Rules), tt.wantErr)
			}
			if cfg != nil {
				t.Errorf("Parse returned a configuration with its error")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v\nwant errors.Is %v", err, tt.wantErr)
			}
			problems := Errors(err)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(problems), err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if pos := fmt.Sprintf("%d:%d", e.Line, e.Column); pos != tt.wantPos {
				t.Errorf("position = %s, want %s (%v)", pos, tt.wantPos, e)
			}
			if e.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", e.Field, tt.wantField, e)
			}
			if e.File != "ferry.yaml" || !strings.HasPrefix(e.Error(), "ferry.yaml:") {
				t.Errorf("error %q does not name the file", e)
			}
			if !strings.Contains(e.Msg, tt.wantMsg) {
				t.Errorf("message = %q\nwant it to contain %q", e.Msg, tt.wantMsg)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"all", Error{File: "f.yaml", Line: 14, Column: 18, Field: "a.b", Msg: "bad"}, "f.yaml:14:18: a.b: bad"},
		{"no column", Error{File: "f.yaml", Line: 3, Msg: "bad"}, "f.yaml:3: bad"},
		{"no position", Error{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseCollectsEveryError(t *testing.T) {
	t.Parallel()
	data := strings.Replace(add("        approval: maybe", "        role: a/b"), "version: 1", "version: 3", 1)
	_, err := Parse("ferry.yaml", []byte(data))
	problems := Errors(err)
	if len(problems) != 3 {
		t.Fatalf("got %d problems, want 3: %v", len(problems), err)
	}
	for i := 1; i < len(problems); i++ {
		if problems[i-1].Line > problems[i].Line {
			t.Errorf("problems not in file order: %v before %v", problems[i-1], problems[i])
		}
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "iamScope",
			yaml: strings.Replace(base, `    tags: ["release-*"]`, "    tags: [\"release-*\"]\n    iamScope: [\"svc-*\", \"team/*\"]", 1),
			check: func(t *testing.T, c *Config) {
				if got := strings.Join(c.Rules[0].IAMScope, ","); got != "svc-*,team/*" {
					t.Errorf("iamScope %q, want svc-*,team/*", got)
				}
			},
		},
		{
			name: "defaults",
			yaml: base,
			check: func(t *testing.T, c *Config) {
				d := c.Rules[0].Destinations[0]
				want := Destination{
					Account: "222222222222", Region: "eu-west-1", Role: DefaultRole,
					Approval: ApprovalNone, OnExistingTag: ExistingTagFail, OnSourceDelete: SourceDeleteKeep,
					Settings: RepositorySettings{Encryption: Encryption{Type: EncryptionAES256}},
				}
				if fmt.Sprint(d) != fmt.Sprint(want) {
					t.Errorf("destination = %+v\nwant %+v", d, want)
				}
				if c.ExternalID != "ferry-111111111111" {
					t.Errorf("ExternalID = %q, want the default", c.ExternalID)
				}
				if c.Version != 1 || c.File != "ferry.yaml" {
					t.Errorf("Version, File = %d, %q", c.Version, c.File)
				}
				if c.Reconcile.Schedule != "rate(1 day)" || !c.Reconcile.Scheduled() {
					t.Errorf("Reconcile = %+v, want the default schedule rate(1 day)", c.Reconcile)
				}
			},
		},
		{
			name: "reconcile without a schedule",
			yaml: add("reconcile: {}"),
			check: func(t *testing.T, c *Config) {
				if c.Reconcile.Schedule != DefaultReconcileSchedule {
					t.Errorf("Reconcile = %+v, want the default schedule", c.Reconcile)
				}
			},
		},
		{
			name: "reconcile schedule",
			yaml: add("reconcile:", "  schedule: cron(0 3 ? * MON-FRI *)"),
			check: func(t *testing.T, c *Config) {
				if c.Reconcile.Schedule != "cron(0 3 ? * MON-FRI *)" || !c.Reconcile.Scheduled() {
					t.Errorf("Reconcile = %+v", c.Reconcile)
				}
			},
		},
		{
			name: "reconcile off",
			yaml: add("reconcile:", "  schedule: off"),
			check: func(t *testing.T, c *Config) {
				if c.Reconcile.Schedule != ScheduleOff || c.Reconcile.Scheduled() {
					t.Errorf("Reconcile = %+v, want no schedule", c.Reconcile)
				}
				b, err := json.Marshal(c)
				if err != nil || !strings.Contains(string(b), `"reconcile":{"schedule":"off"}`) {
					t.Errorf("JSON %s (err %v) lacks the reconcile settings", b, err)
				}
			},
		},
		{
			name: "source registry with a rename",
			yaml: strings.Replace(base, "      - account: \"222222222222\"\n        region: eu-west-1",
				"      - account: \"111111111111\"\n        region: us-east-1\n        repository: {prefix: mirror/}", 1),
			check: func(t *testing.T, c *Config) {
				if got := c.Rules[0].Destinations[0].RepositoryName("team/app"); got != "mirror/team/app" {
					t.Errorf("RepositoryName = %q", got)
				}
			},
		},
		{
			name: "same destination in two rules",
			yaml: add("  - name: other", `    repositories: ["x/*"]`, `    tags: ["*"]`, "    destinations:",
				`      - account: "222222222222"`, "        region: eu-west-1",
				`      - account: "333333333333"`, "        region: us-gov-west-1"),
			check: func(t *testing.T, c *Config) {
				var ids []string
				for _, d := range c.Destinations() {
					ids = append(ids, d.ID())
				}
				if got := strings.Join(ids, " "); got != "222222222222/eu-west-1 333333333333/us-gov-west-1" {
					t.Errorf("Destinations() = %s", got)
				}
			},
		},
		{
			name: "merge keys",
			yaml: `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: a
    repositories: &repos ["team/**"]
    tags: ["v*"]
    destinations:
      - &prod
        account: "222222222222"
        region: eu-west-1
        approval: required
        settings: {tagImmutability: true, tags: {env: production}}
  - name: b
    repositories: *repos
    tags: ["w*"]
    destinations:
      - <<: *prod
        region: us-west-2
        approval: none
`,
			check: func(t *testing.T, c *Config) {
				d := c.Rules[1].Destinations[0]
				if d.Account != "222222222222" || d.Region != "us-west-2" || d.Approval != ApprovalNone ||
					!d.Settings.TagImmutability || d.Settings.Tags["env"] != "production" {
					t.Errorf("merged destination = %+v", d)
				}
				if got := c.Rules[1].Repositories; len(got) != 1 || got[0] != "team/**" {
					t.Errorf("aliased repositories = %v", got)
				}
			},
		},
		{
			name: "resource tag values as written",
			yaml: add("        settings:", "          tags: {cost-center: 0042, empty: , flag: true}"),
			check: func(t *testing.T, c *Config) {
				tags := c.Rules[0].Destinations[0].Settings.Tags
				if tags["cost-center"] != "0042" || tags["empty"] != "" || tags["flag"] != "true" {
					t.Errorf("tags = %v", tags)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("ferry.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestDestination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		d        Destination
		source   string
		wantARN  string
		wantRepo string
	}{
		{
			name:    "commercial",
			d:       Destination{Account: "222222222222", Region: "eu-west-1", Role: "ferry-replication"},
			source:  "team/app",
			wantARN: "arn:aws:iam::222222222222:role/ferry-replication", wantRepo: "team/app",
		},
		{
			name:    "china, default role",
			d:       Destination{Account: "222222222222", Region: "cn-north-1"},
			source:  "team/app",
			wantARN: "arn:aws-cn:iam::222222222222:role/ferry-replication", wantRepo: "team/app",
		},
		{
			name:    "govcloud",
			d:       Destination{Account: "222222222222", Region: "us-gov-west-1", Role: "r"},
			source:  "team/app",
			wantARN: "arn:aws-us-gov:iam::222222222222:role/r", wantRepo: "team/app",
		},
		{
			name:    "iso",
			d:       Destination{Account: "222222222222", Region: "us-isob-east-1", Role: "r"},
			source:  "team/app",
			wantARN: "arn:aws-iso-b:iam::222222222222:role/r", wantRepo: "team/app",
		},
		{
			name:    "strip then prefix",
			d:       Destination{Account: "222222222222", Region: "eu-west-1", Role: "r", Repository: Rename{StripPrefix: "team/", Prefix: "mirror/"}},
			source:  "team/app",
			wantARN: "arn:aws:iam::222222222222:role/r", wantRepo: "mirror/app",
		},
		{
			name:    "strip prefix absent",
			d:       Destination{Account: "222222222222", Region: "eu-west-1", Role: "r", Repository: Rename{StripPrefix: "team/", Prefix: "mirror/"}},
			source:  "other/app",
			wantARN: "arn:aws:iam::222222222222:role/r", wantRepo: "mirror/other/app",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.d.RoleARN(); got != tt.wantARN {
				t.Errorf("RoleARN() = %q, want %q", got, tt.wantARN)
			}
			if got := tt.d.RepositoryName(tt.source); got != tt.wantRepo {
				t.Errorf("RepositoryName(%q) = %q, want %q", tt.source, got, tt.wantRepo)
			}
			if got, want := tt.d.ID(), tt.d.Account+"/"+tt.d.Region; got != want {
				t.Errorf("ID() = %q, want %q", got, want)
			}
		})
	}
}

// exampleFile is ferry.example.yaml at the module root, found from this
// file rather than the working directory.
func exampleFile(t *testing.T) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "ferry.example.yaml")
}

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleFile(t))
	if err != nil {
		t.Fatalf("ferry.example.yaml: %v", err)
	}
	var ids []string
	for _, d := range c.Destinations() {
		ids = append(ids, d.ID())
	}
	if got, want := strings.Join(ids, " "), "222222222222/eu-west-1 333333333333/us-west-2 444444444444/eu-central-1"; got != want {
		t.Errorf("destinations = %s, want %s", got, want)
	}
	if c.Reconcile.Schedule != "rate(1 day)" {
		t.Errorf("reconcile schedule = %q, want rate(1 day)", c.Reconcile.Schedule)
	}
	rel := c.Rules[0]
	if rel.Name != "releases" {
		t.Fatalf("first rule = %q, want releases", rel.Name)
	}
	for _, d := range rel.Destinations {
		if d.Approval != ApprovalRequired || d.OnExistingTag != ExistingTagFail || !d.Settings.TagImmutability || d.Settings.Encryption.Type != EncryptionKMS {
			t.Errorf("production destination %s = %+v", d.ID(), d)
		}
	}
	for _, tc := range []struct {
		repo, tag string
		want      bool
	}{
		{"team/app", "release-1.4", true},
		{"team/app", "1.4.2", true},
		{"team/app", "2.0.0", false},
		{"team/app", "release-1.4-rc1", false},
		{"team/experimental-x", "release-1", false},
	} {
		okRepo, _ := rel.MatchRepository(tc.repo)
		okTag, _ := rel.MatchTag(tc.tag)
		if got := okRepo && okTag; got != tc.want {
			t.Errorf("releases matches %s:%s = %v, want %v", tc.repo, tc.tag, got, tc.want)
		}
	}
}

// TestRuleJSON: a Rule that travelled as JSON (through a Lambda) still
// matches, compiling its patterns on the way.
func TestRuleJSON(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	ok, reason := back.Rules[0].MatchTag("release-7")
	if !ok {
		t.Errorf("decoded rule does not match release-7: %s", reason)
	}
	ok, reason = back.Rules[0].MatchRepository("team/experimental-a")
	if ok || !strings.Contains(reason, "excluded by") {
		t.Errorf("decoded rule: MatchRepository(team/experimental-a) = %v, %q", ok, reason)
	}
	if back.Rules[0].Destinations[0].Settings.Encryption != c.Rules[0].Destinations[0].Settings.Encryption {
		t.Errorf("encryption did not survive JSON")
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

// TestGolden checks the full text of the errors for testdata/bad.yaml
// against testdata/bad.golden; run with -update to rewrite it.
func TestGolden(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join("testdata", "bad.yaml"))
	if err == nil {
		t.Fatal("testdata/bad.yaml loaded without errors")
	}
	got := err.Error() + "\n"
	golden := filepath.Join("testdata", "bad.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("errors for testdata/bad.yaml differ from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestParseHostileYAML: aliases that expand without end are refused, not
// followed.
func TestParseHostileYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
	}{
		{name: "self merge", yaml: "version: 1\nsource: &s\n  <<: *s\n  account: \"111111111111\"\n"},
		{name: "self-referencing list", yaml: "version: 1\nrules: &r [*r]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("ferry.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("Parse error = %v, want ErrInvalidValue", err)
			}
		})
	}
}

func TestScheduleExpressions(t *testing.T) {
	t.Parallel()
	valid := []string{
		"off",
		"rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
		"cron(0 3 * * ? *)",
		"cron(0/15 * ? * MON-FRI *)",
		"cron(*/10 8-18 ? * 2-6 *)",
		"cron(15 10 ? * 6L 2026-2030)",
		"cron(0 0 L * ? *)",
		"cron(0 8 1W * ? *)",
		"cron(0 8 LW * ? *)",
		"cron(0 9 ? * 2#1 *)",
		"cron(0 12 1,15 JAN-MAR ? *)",
		"cron(30 2 ? * sun *)",
	}
	for _, s := range valid {
		if msg := checkSchedule(s); msg != "" {
			t.Errorf("checkSchedule(%q) = %q, want valid", s, msg)
		}
	}
	invalid := []struct{ expr, wantMsg string }{
		{"rate(1 days)", "a value of 1 takes the singular unit: rate(1 day)"},
		{"rate(5 minute)", "a value other than 1 takes the plural unit: rate(5 minutes)"},
		{"rate(0 hours)", `the value "0" is not a positive whole number`},
		{"rate(-1 days)", `the value "-1" is not a positive whole number`},
		{"rate(+2 days)", `the value "+2" is not a positive whole number`},
		{"rate(1 week)", `the unit "week" is not one of minute, minutes, hour, hours, day, days`},
		{"rate(1day)", "want rate(VALUE UNIT), one space between"},
		{"rate(1  day)", "want rate(VALUE UNIT), one space between"},
		{"cron(0 3 * * *)", "has 5 fields; want 6: minutes hours day-of-month month day-of-week year (a Unix crontab has five"},
		{"cron(0 3 * * ? * *)", "has 7 fields; want 6"},
		{"cron(0 3 * * MON *)", "exactly one of day-of-month (*) and day-of-week (MON) must be ?"},
		{"cron(0 3 ? * ? *)", "exactly one of day-of-month (?) and day-of-week (?) must be ?"},
		{"cron(60 3 * * ? *)", `minutes "60" is not valid there; want *, a value 0-59`},
		{"cron(0 24 * * ? *)", `hours "24" is not valid there; want *, a value 0-23`},
		{"cron(0 3 32 * ? *)", `day-of-month "32" is not valid there; want *, a value 1-31`},
		{"cron(0 3 * 13 ? *)", `month "13" is not valid there; want *, a value 1-12 or JAN-DEC`},
		{"cron(0 3 ? * 8 *)", `day-of-week "8" is not valid there; want *, a value 1-7 or SUN-SAT`},
		{"cron(0 3 * * ? 1969)", `year "1969" is not valid there; want *, a value 1970-2199`},
		{"cron(0 3 ? * FRI-MON *)", "has the range FRI-MON, which ends before it starts"},
		{"cron(*/0 3 * * ? *)", `has the step "0"; want a whole number 1-59 after /`},
		{"cron(0 ? * * ? *)", "hours \"?\" cannot be ?; only day-of-month and day-of-week can"},
		{"cron(0 3 * * ? *,)", `year "*," has an empty item in its list`},
		{"cron(0 3 ? * 2#6 *)", "has # other than DAY#N"},
		{"cron(0 3 33W * ? *)", "has W after something other than a day 1-31"},
		{"cron(0 3,61 * * ? *)", `hours "3,61" has the item "61", which is not valid there; want *, a value 0-23`},
		{"0 3 * * *", "looks like a bare cron expression; write it inside cron(...)"},
		{"at(2026-01-01T00:00:00)", "is a one-time schedule; the reconcile recurs"},
		{"OFF", "to run the reconcile only by hand, write off (lowercase)"},
		{"daily", `"daily" is not a schedule expression; want rate(N minutes|hours|days)`},
		{"", "is not a schedule expression"},
	}
	for _, tt := range invalid {
		msg := checkSchedule(tt.expr)
		if !strings.Contains(msg, tt.wantMsg) {
			t.Errorf("checkSchedule(%q) = %q\nwant it to contain %q", tt.expr, msg, tt.wantMsg)
		}
	}
}

// TestScheduleErrorsAtOnce: a bad schedule is reported with the other
// problems of the file, at its own position.
func TestScheduleErrorsAtOnce(t *testing.T) {
	t.Parallel()
	data := strings.Replace(add("reconcile:", "  schedule: cron(0 3 * * *)"), "version: 1", "version: 3", 1)
	_, err := Parse("ferry.yaml", []byte(data))
	problems := Errors(err)
	if len(problems) != 2 {
		t.Fatalf("got %d problems, want 2: %v", len(problems), err)
	}
	if got := problems[1].Error(); !strings.HasPrefix(got, "ferry.yaml:13:13: reconcile.schedule: ") || !errors.Is(problems[1], ErrInvalidValue) {
		t.Errorf("schedule problem = %q, want it at 13:13 and ErrInvalidValue", got)
	}
}
