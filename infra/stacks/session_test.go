package stacks

import (
	"reflect"
	"slices"
	"testing"

	"github.com/ferry-dev/ferry/internal/ecr"
)

// These tests check that only EnsureRepository's admin sessions create,
// tag and set up repositories, each call held to Ferry's marker and the
// configured tags (issue 14, finding 3), and that kms:CreateGrant is held
// to grants for ECR (finding 8).

// TestAdminOnly: in the example's production role, reads need any Ferry
// session, pushes a write session, and creating, tagging and setting up
// repositories an admin session, each with its tag conditions: the
// marker values Ferry sets, and only the marker and the configured tag
// keys (team, environment).
func TestAdminOnly(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	sts, _ := destinationRole(t, b, "Ferry-Access-222222222222", "ferry-replication")
	repo := "arn:aws:ecr:eu-west-1:222222222222:repository/team/*"
	keys := []any{"ferry:settings", "environment", "team"}
	want := map[string]map[string]any{
		"ReadRuleRepositories": {"Action": toAny(DestinationReadActions), "Resource": repo},
		"PushToRuleRepositories": {"Action": toAny(DestinationPushActions), "Resource": repo,
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "write"}}},
		"CreateRuleRepositories": {"Action": "ecr:CreateRepository", "Resource": repo,
			"Condition": map[string]any{
				"StringEquals":              map[string]any{"aws:PrincipalTag/ferry-access": "admin", "aws:RequestTag/ferry:settings": "pending"},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": keys},
			}},
		"TagCreatedRepositories": {"Action": "ecr:TagResource", "Resource": repo,
			"Condition": map[string]any{
				"StringEquals":              map[string]any{"aws:PrincipalTag/ferry-access": "admin", "aws:RequestTag/ferry:settings": "pending"},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": keys},
			}},
		"SetUpCreatedRepositories": {"Action": toAny(DestinationSetUpActions), "Resource": repo,
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "admin", "aws:ResourceTag/ferry:settings": "pending"}}},
		"MarkCreatedRepositoriesApplied": {"Action": "ecr:TagResource", "Resource": repo,
			"Condition": map[string]any{
				"StringEquals": map[string]any{"aws:PrincipalTag/ferry-access": "admin",
					"aws:RequestTag/ferry:settings": "applied", "aws:ResourceTag/ferry:settings": "pending"},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"ferry:settings"}},
			}},
	}
	for sid, w := range want {
		w["Sid"], w["Effect"] = sid, "Allow"
		if got := bySid(t, sts, sid); !reflect.DeepEqual(normalized(t, got), normalized(t, w)) {
			t.Errorf("%s:\n got %v\nwant %v", sid, got, w)
		}
	}

	// In every role of every configuration: who may do what.
	admin := append(append(slices.Clone(DestinationCreateActions), DestinationTagActions...), DestinationSetUpActions...)
	write := append(slices.Clone(DestinationPushActions), DestinationUntagActions...)
	for _, cfg := range scopeConfigs(t) {
		b := build(t, cfg)
		for _, d := range b.stacks.Destinations {
			for where, sts := range statements(b.json[*d.StackName()]) {
				for _, s := range sts {
					cond, _ := s["Condition"].(map[string]any)
					eq, _ := cond["StringEquals"].(map[string]any)
					session := eq["aws:PrincipalTag/ferry-access"]
					for _, a := range strs(s["Action"]) {
						switch {
						case slices.Contains(admin, a) && session != "admin":
							t.Errorf("%s %s %s: %s with session %v, want admin only", cfg, *d.StackName(), where, a, session)
						case slices.Contains(write, a) && session != "write":
							t.Errorf("%s %s %s: %s with session %v, want write only", cfg, *d.StackName(), where, a, session)
						case a == "ecr:TagResource" || a == "ecr:CreateRepository":
							all, _ := cond["ForAllValues:StringEquals"].(map[string]any)
							if eq["aws:RequestTag/ferry:settings"] == nil || all["aws:TagKeys"] == nil {
								t.Errorf("%s %s %s: %s without the marker's value or the tag keys held: %v", cfg, *d.StackName(), where, a, s["Condition"])
							}
						}
					}
				}
			}
		}
	}
}

// request is one ECR call to check against a role's statements.
type request struct {
	action, resource, session string
	requestTags, resourceTags map[string]string
}

// allows evaluates the role's Allow statements for req, with the
// condition operators Ferry's policies use. It is deliberately small: an
// operator it does not know fails the test.
func allows(t *testing.T, sts []map[string]any, req request) bool {
	t.Helper()
	ctx := map[string][]string{"aws:PrincipalTag/" + ecr.TagAccess: {req.session}}
	for k, v := range req.requestTags {
		ctx["aws:RequestTag/"+k] = []string{v}
		ctx["aws:TagKeys"] = append(ctx["aws:TagKeys"], k)
	}
	for k, v := range req.resourceTags {
		ctx["aws:ResourceTag/"+k] = []string{v}
	}
	for _, s := range sts {
		if s["Effect"] != "Allow" {
			t.Fatalf("statement %v: only Allow is evaluated", s)
		}
		if !slices.Contains(strs(s["Action"]), req.action) ||
			!slices.ContainsFunc(strs(s["Resource"]), func(r string) bool { return iamMatch(r, req.resource) }) {
			continue
		}
		ok := true
		cond, _ := s["Condition"].(map[string]any)
		for op, kv := range cond {
			for key, want := range kv.(map[string]any) {
				got, present := ctx[key]
				wants := strs(want)
				switch op {
				case "StringEquals":
					ok = ok && present && slices.ContainsFunc(got, func(g string) bool { return slices.Contains(wants, g) })
				case "ForAllValues:StringEquals":
					for _, g := range got {
						ok = ok && slices.Contains(wants, g)
					}
				default:
					t.Fatalf("condition operator %s: not evaluated here", op)
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestEnsureRepositoryCallsAllowed: every call EnsureRepository makes
// (internal/workflow/steps.go: CreateRepository with the configured tags
// and the pending marker, which ECR also checks as TagResource; the
// policies on the pending repository; TagResource to mark it applied) is
// allowed in its admin session, and none of them in CopyImage's write
// session or a read session; CopyImage's pushes are allowed only in write
// sessions. A tag outside the configuration, a marker set by hand on a
// repository, or a policy on a repository Ferry did not create, are
// refused.
func TestEnsureRepositoryCallsAllowed(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	sts, _ := destinationRole(t, b, "Ferry-Access-222222222222", "ferry-replication")
	repo := "arn:aws:ecr:eu-west-1:222222222222:repository/team/app"
	created := map[string]string{"team": "platform", "environment": "production", ecr.SettingsTag: ecr.SettingsPending}
	pending := map[string]string{"team": "platform", "environment": "production", ecr.SettingsTag: ecr.SettingsPending}
	ensure := []request{
		{action: "ecr:DescribeRepositories", resource: repo},
		{action: "ecr:CreateRepository", resource: repo, requestTags: created},
		{action: "ecr:TagResource", resource: repo, requestTags: created},
		{action: "ecr:ListTagsForResource", resource: repo, resourceTags: pending},
		{action: "ecr:PutLifecyclePolicy", resource: repo, resourceTags: pending},
		{action: "ecr:SetRepositoryPolicy", resource: repo, resourceTags: pending},
		{action: "ecr:TagResource", resource: repo, resourceTags: pending, requestTags: map[string]string{ecr.SettingsTag: ecr.SettingsApplied}},
	}
	for _, r := range ensure {
		r.session = ecr.AccessAdmin
		if !allows(t, sts, r) {
			t.Errorf("EnsureRepository's %s (request tags %v, resource tags %v) is denied in an admin session", r.action, r.requestTags, r.resourceTags)
		}
		if r.action == "ecr:DescribeRepositories" || r.action == "ecr:ListTagsForResource" {
			continue
		}
		for _, other := range []string{ecr.AccessWrite, ecr.AccessRead} {
			r.session = other
			if allows(t, sts, r) {
				t.Errorf("%s (request tags %v) is allowed in a ferry-access=%s session", r.action, r.requestTags, other)
			}
		}
	}
	for _, a := range DestinationPushActions {
		for _, s := range []string{ecr.AccessWrite, ecr.AccessAdmin, ecr.AccessRead} {
			if got := allows(t, sts, request{action: a, resource: repo, session: s}); got != (s == ecr.AccessWrite) {
				t.Errorf("%s in a ferry-access=%s session: allowed %t", a, s, got)
			}
		}
	}
	refused := []request{
		{action: "ecr:CreateRepository", resource: repo, requestTags: map[string]string{"team": "platform"}},
		{action: "ecr:CreateRepository", resource: repo, requestTags: map[string]string{"owner": "x", ecr.SettingsTag: ecr.SettingsPending}},
		{action: "ecr:TagResource", resource: repo, requestTags: map[string]string{"owner": "x"}},
		{action: "ecr:TagResource", resource: repo, requestTags: map[string]string{ecr.SettingsTag: ecr.SettingsApplied}},
		{action: "ecr:TagResource", resource: repo, resourceTags: pending, requestTags: map[string]string{ecr.SettingsTag: ecr.SettingsApplied, "team": "x"}},
		{action: "ecr:SetRepositoryPolicy", resource: repo},
		{action: "ecr:SetRepositoryPolicy", resource: repo, resourceTags: map[string]string{ecr.SettingsTag: ecr.SettingsApplied}},
		{action: "ecr:PutImage", resource: "arn:aws:ecr:eu-west-1:222222222222:repository/other/app", session: ecr.AccessWrite},
	}
	for _, r := range refused {
		if r.session == "" {
			r.session = ecr.AccessAdmin
		}
		if allows(t, sts, r) {
			t.Errorf("%s on %s (request tags %v, resource tags %v) is allowed in a ferry-access=%s session", r.action, r.resource, r.requestTags, r.resourceTags, r.session)
		}
	}
}

// TestAdminTrust: in every destination role, only EnsureRepository's
// role may start an admin session, and it may start no other.
func TestAdminTrust(t *testing.T) {
	for _, cfg := range scopeConfigs(t) {
		b := build(t, cfg)
		want := []string{SourceRoleARN(loadConfig(t, cfg).Source, "Ferry", FnEnsureRepository)}
		checked := 0
		for _, d := range b.stacks.Destinations {
			for _, r := range resources(b.json[*d.StackName()], "AWS::IAM::Role") {
				checked++
				var admins []string
				for _, s := range props(r)["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any) {
					s := s.(map[string]any)
					eq := s["Condition"].(map[string]any)["StringEquals"].(map[string]any)
					principals := strs(s["Principal"].(map[string]any)["AWS"])
					switch eq["aws:RequestTag/ferry-access"] {
					case ecr.AccessAdmin:
						admins = append(admins, principals...)
					default:
						if slices.Contains(principals, want[0]) {
							t.Errorf("%s %s: ensurerepo may also start a %v session", cfg, *d.StackName(), eq["aws:RequestTag/ferry-access"])
						}
					}
				}
				if !reflect.DeepEqual(admins, want) {
					t.Errorf("%s %s: admin sessions for %q, want only %q", cfg, *d.StackName(), admins, want)
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no destination role", cfg)
		}
	}
}

// TestCreateGrantForECROnly: kms:CreateGrant is allowed only for a grant
// to an AWS resource (ECR's own), through ECR, on the configured keys;
// the other key actions keep their statements without it.
func TestCreateGrantForECROnly(t *testing.T) {
	b := build(t, "testdata/edge.yaml")
	sts, _ := destinationRole(t, b, "Ferry-Access-222222222222", "ferry-replication")
	want := map[string]map[string]any{
		"GrantRepositoryKeysToECR": {
			"Action":   "kms:CreateGrant",
			"Resource": "arn:aws:kms:eu-central-1:222222222222:key/0123abcd-12ab-34cd-56ef-1234567890ab",
			"Condition": map[string]any{
				"StringLike": map[string]any{"kms:ViaService": "ecr.*.amazonaws.com"},
				"Bool":       map[string]any{"kms:GrantIsForAWSResource": "true"},
			},
		},
		"GrantRepositoryKeyByAliasToECR0": {
			"Action":   "kms:CreateGrant",
			"Resource": "arn:aws:kms:eu-west-1:222222222222:key/*",
			"Condition": map[string]any{
				"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": "alias/ecr-images"},
				"StringLike":               map[string]any{"kms:ViaService": "ecr.*.amazonaws.com"},
				"Bool":                     map[string]any{"kms:GrantIsForAWSResource": "true"},
			},
		},
	}
	for sid, w := range want {
		w["Sid"], w["Effect"] = sid, "Allow"
		if got := bySid(t, sts, sid); !reflect.DeepEqual(normalized(t, got), normalized(t, w)) {
			t.Errorf("%s:\n got %v\nwant %v", sid, got, w)
		}
	}
	for _, cfg := range scopeConfigs(t) {
		b := build(t, cfg)
		for stack, tmpl := range b.json {
			for where, sts := range statements(tmpl) {
				for _, s := range sts {
					if !slices.Contains(strs(s["Action"]), "kms:CreateGrant") {
						continue
					}
					cond, _ := s["Condition"].(map[string]any)
					bools, _ := cond["Bool"].(map[string]any)
					if bools["kms:GrantIsForAWSResource"] != "true" || len(strs(s["Action"])) != 1 {
						t.Errorf("%s %s %s: kms:CreateGrant %v with %v, want alone and only with kms:GrantIsForAWSResource true", cfg, stack, where, s["Action"], cond)
					}
				}
			}
		}
	}
}
