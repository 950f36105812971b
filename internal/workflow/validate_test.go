package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferry-dev/ferry/internal/ecr"
	"slices"
	"strings"
	"testing"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
)

func pushEvent(account, region, repo, tag, digest string) string {
	return fmt.Sprintf(`{"version":"0","id":"e1","detail-type":"ECR Image Action","source":"aws.ecr","account":%q,"region":%q,
		"detail":{"result":"SUCCESS","repository-name":%q,"image-digest":%q,"action-type":"PUSH","image-tag":%q}}`, account, region, repo, digest, tag)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	tests := []struct {
		name      string
		input     string
		fail      error // DescribeImages' error
		wantErr   any
		wantDests []string // jobs' destinations
		wantSkip  bool
		wantQuery bool   // the source was asked
		wantIn    string // in the error or the skip reason
	}{
		{name: "push event", input: pushEvent("111111111111", "us-east-1", "team/app", "release-1.0", digestA),
			wantDests: []string{prodID, mirrorID}, wantQuery: true},
		{name: "manual tag", input: `{"repository":"team/app","tag":"release-1.0"}`, wantDests: []string{prodID, mirrorID}, wantQuery: true},
		{name: "manual digest", input: `{"repository":"team/app","digest":"` + digestA + `"}`, wantDests: []string{prodID, mirrorID}, wantQuery: true},
		{name: "manual narrowed to one destination", input: `{"repository":"team/app","tag":"release-1.0","destinations":["` + mirrorID + `"]}`,
			wantDests: []string{mirrorID}, wantQuery: true},
		{name: "manual naming a destination outside the configuration", input: `{"repository":"team/app","tag":"release-1.0","destinations":["999999999999/eu-west-1"]}`,
			wantErr: new(*ValidationError)},
		{name: "invalid repository", input: `{"repository":"Team/App!","tag":"release-1.0"}`, wantErr: new(*ValidationError)},
		{name: "invalid tag", input: `{"repository":"team/app","tag":"-bad tag"}`, wantErr: new(*ValidationError)},
		{name: "invalid digest", input: `{"repository":"team/app","digest":"sha256:xyz"}`, wantErr: new(*ValidationError)},
		{name: "neither tag nor digest", input: `{"repository":"team/app"}`, wantErr: new(*ValidationError)},
		{name: "unknown field", input: `{"repository":"team/app","tag":"release-1.0","to":["x"]}`, wantErr: new(*ValidationError)},
		{name: "not an object", input: `["team/app"]`, wantErr: new(*ValidationError)},
		{name: "not JSON", input: `{"repository":`, wantErr: new(*ValidationError)},
		{name: "event of another source", input: `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}`, wantErr: new(*ValidationError)},
		{name: "push no rule takes: skipped before the source is asked", input: pushEvent("111111111111", "us-east-1", "team/app", "dev-123", digestA), wantSkip: true},
		{name: "push in another account: rejected, not skipped", input: pushEvent("999999999999", "us-east-1", "team/app", "release-1.0", digestA),
			wantErr: new(*ValidationError), wantIn: "forged or misrouted"},
		{name: "push in another region of the source account: skipped", input: pushEvent("111111111111", "eu-west-1", "team/app", "release-1.0", digestA),
			wantSkip: true, wantIn: "region eu-west-1 of the source account"},
		{name: "manual tag and digest that agree", input: `{"repository":"team/app","tag":"release-1.0","digest":"` + digestA + `"}`, wantDests: []string{prodID, mirrorID}, wantQuery: true},
		{name: "manual tag and digest that disagree", input: `{"repository":"team/app","tag":"release-1.0","digest":"` + digestB + `"}`, wantErr: new(*ValidationError), wantQuery: true},
		{name: "push whose tag has moved on: skipped", input: pushEvent("111111111111", "us-east-1", "team/app", "release-1.0", digestB), wantSkip: true, wantQuery: true},
		{name: "push event without account or region", input: pushEvent("", "", "team/app", "release-1.0", digestA), wantErr: new(*ValidationError)},
		{name: "image not in the source", input: `{"repository":"team/app","tag":"release-9.9"}`, wantErr: new(*ValidationError), wantQuery: true},
		{name: "source throttled", input: `{"repository":"team/app","tag":"release-1.0"}`, fail: apiErr("ThrottlingException"), wantErr: new(*RetryableError), wantQuery: true},
		{name: "source 500", input: `{"repository":"team/app","tag":"release-1.0"}`, fail: apiErr("ServerException"), wantErr: new(*RetryableError), wantQuery: true},
		{name: "source denied", input: `{"repository":"team/app","tag":"release-1.0"}`, fail: apiErr("AccessDeniedException"), wantErr: new(*AccessDeniedError), wantQuery: true},
		{name: "source repository gone", input: `{"repository":"team/app","tag":"release-1.0"}`, fail: &ecrtypes.RepositoryNotFoundException{}, wantErr: new(*ValidationError), wantQuery: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newFakeECR("111111111111/us-east-1")
			src.addImage("team/app", digestA, "release-1.0", "dev-123")
			src.addImage("team/app", digestB)
			if tt.fail != nil {
				src.failNext("DescribeImages", tt.fail)
			}
			log, logs := testLogger()
			p, err := NewValidate(log, testEnv(t), src).Handle(context.Background(),
				ValidateRequest{Execution: "arn:aws:states:us-east-1:111111111111:execution:ferry:run-1", Input: json.RawMessage(tt.input)})
			assertNoSecrets(t, p, err, logs.String())
			if asked := len(src.Calls()) > 0; asked != tt.wantQuery {
				t.Errorf("source calls %v, want asked=%t", src.Calls(), tt.wantQuery)
			}
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantIn) {
					t.Fatalf("error %T %v, want %T saying %q", err, err, tt.wantErr, tt.wantIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Skipped != tt.wantSkip || (tt.wantSkip && p.Reason == "") || !strings.Contains(p.Reason, tt.wantIn) {
				t.Fatalf("skipped %t (%q), want %t saying %q", p.Skipped, p.Reason, tt.wantSkip, tt.wantIn)
			}
			if !tt.wantSkip && (p.Digest != digestA || p.Execution == "" || p.ReasonLimit != maxReason) {
				t.Errorf("plan %+v", p)
			}
			var dests []string
			for _, j := range p.Jobs {
				dests = append(dests, j.Destination)
				if j.Tag != "release-1.0" || j.Approval != nil {
					t.Errorf("job %+v", j)
				}
				if j.Destination == prodID && !j.ApprovalRequired || j.Destination == mirrorID && j.Repository != "mirror/team/app" {
					t.Errorf("job %+v does not follow its destination's configuration", j)
				}
			}
			if !slices.Equal(dests, tt.wantDests) {
				t.Errorf("jobs for %v, want %v", dests, tt.wantDests)
			}
		})
	}
}

func TestAssumeRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		job       Job
		assumeErr error
		wantErr   any
	}{
		{name: "assumed", job: testJob(prodID)},
		{name: "STS AccessDenied", job: testJob(prodID), assumeErr: apiErr("AccessDenied"), wantErr: new(*AccessDeniedError)},
		{name: "STS ExpiredToken", job: testJob(prodID), assumeErr: apiErr("ExpiredToken"), wantErr: new(*AccessDeniedError)},
		{name: "STS throttled", job: testJob(prodID), assumeErr: apiErr("Throttling"), wantErr: new(*RetryableError)},
		{name: "STS region disabled", job: testJob(prodID), assumeErr: apiErr("RegionDisabledException"), wantErr: new(*ReplicationError)},
		{name: "destination outside the configuration", job: func() Job { j := testJob(prodID); j.Rule = "other"; return j }(), wantErr: new(*ValidationError)},
		{name: "a tag the rule does not take", job: func() Job { j := testJob(prodID); j.Tag = "dev-123"; return j }(), wantErr: new(*ValidationError)},
		{name: "another repository than the rename gives", job: func() Job { j := testJob(mirrorID); j.Repository = "team/app"; return j }(), wantErr: new(*ValidationError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			roles := &fakeRoles{assumeErr: tt.assumeErr}
			log, logs := testLogger()
			out, err := NewAssumeRole(log, testEnv(t), roles).Handle(context.Background(), Replication{Job: tt.job})
			assertNoSecrets(t, out, err, logs.String())
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				if out.Role != nil {
					t.Errorf("a failed assume reports role %+v", out.Role)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := RoleResult{RoleARN: "arn:aws:iam::222222222222:role/ferry-replication", SessionName: "ferry-run-1"}
			if out.Role == nil || *out.Role != want {
				t.Errorf("role %+v, want %+v", out.Role, want)
			}
			if len(roles.assumed) != 1 || roles.assumed[0].ExternalID != "ext-123" || roles.assumed[0].Access != ecr.AccessRead {
				t.Errorf("assumed %+v, want once with the external ID, for reading", roles.assumed)
			}
		})
	}
}

// A push that two rules take starts two runs (one EventBridge rule each);
// only the run of the first rule in the file does the work.
func TestValidateOneRunPerPush(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse("ferry.yaml", []byte(`version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations: [{account: "222222222222", region: eu-west-1}]
  - name: everything
    repositories: ["team/*"]
    tags: ["*"]
    destinations: [{account: "333333333333", region: us-west-2}]
`))
	if err != nil {
		t.Fatal(err)
	}
	event := func(rule string) json.RawMessage {
		ev := pushEvent("111111111111", "us-east-1", "team/app", "release-1.0", digestA)
		return json.RawMessage(ev[:len(ev)-1] + `,"ferryRule":"` + rule + `"}`)
	}
	for _, tt := range []struct {
		name      string
		input     json.RawMessage
		wantSkip  bool
		wantDests []string
	}{
		{"the first rule's run does everything", event("releases"), false, []string{prodID, mirrorID}},
		{"the second rule's run stops", event("everything"), true, nil},
		{"a rule no longer configured does the work", event("retired"), false, []string{prodID, mirrorID}},
		{"a manual run does the work", json.RawMessage(`{"repository":"team/app","tag":"release-1.0"}`), false, []string{prodID, mirrorID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newFakeECR("111111111111/us-east-1")
			src.addImage("team/app", digestA, "release-1.0")
			log, _ := testLogger()
			p, err := NewValidate(log, &Env{Config: cfg, Getenv: func(string) string { return "" }}, src).
				Handle(context.Background(), ValidateRequest{Execution: "run-1", Input: tt.input})
			if err != nil {
				t.Fatal(err)
			}
			if p.Skipped != tt.wantSkip {
				t.Fatalf("skipped = %t (%s), want %t", p.Skipped, p.Reason, tt.wantSkip)
			}
			if tt.wantSkip && !strings.Contains(p.Reason, `"releases"`) {
				t.Errorf("reason %q does not name the rule whose run does the work", p.Reason)
			}
			var dests []string
			for _, j := range p.Jobs {
				dests = append(dests, j.Destination)
			}
			if !slices.Equal(dests, tt.wantDests) {
				t.Errorf("jobs for %v, want %v", dests, tt.wantDests)
			}
		})
	}
}

// An input naming only a digest copies every tag of the digest that a rule
// takes, each to every destination, and the plan says which tags.
func TestValidateDigestCopiesEveryTagARuleTakes(t *testing.T) {
	t.Parallel()
	src := newFakeECR("111111111111/us-east-1")
	src.addImage("team/app", digestA, "release-1.0", "dev-123", "release-1")
	log, logs := testLogger()
	p, err := NewValidate(log, testEnv(t), src).Handle(context.Background(),
		ValidateRequest{Execution: "run-1", Input: json.RawMessage(`{"repository":"team/app","digest":"` + digestA + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Skipped || p.Tag != "" || !slices.Equal(p.Tags, []string{"release-1", "release-1.0"}) {
		t.Fatalf("plan tag %q tags %v skipped %t (%s); want the tags release-1 and release-1.0, not dev-123", p.Tag, p.Tags, p.Skipped, p.Reason)
	}
	var got []string
	for _, j := range p.Jobs {
		got = append(got, j.Destination+" "+j.Repository+":"+j.Tag)
	}
	want := []string{prodID + " team/app:release-1", mirrorID + " mirror/team/app:release-1", prodID + " team/app:release-1.0", mirrorID + " mirror/team/app:release-1.0"}
	if !slices.Equal(got, want) {
		t.Errorf("jobs %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "release-1,release-1.0") {
		t.Errorf("the log does not say which tags are copied: %s", logs.String())
	}

	// The summary says which tags were copied, and names a failed job's tag.
	results := []Outcome{{Destination: prodID, Status: StatusCopied}, {Destination: mirrorID, Status: StatusCopied},
		{Destination: prodID, Status: StatusFailed, Error: "ConflictError", Reason: "no"}, {Destination: mirrorID, Status: StatusCopied}}
	sum, err := NewSummarize(log).Handle(context.Background(), SummarizeRequest{Plan: p, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sum.Tags, p.Tags) || sum.Copied != 3 || len(sum.Destinations) != 4 || !strings.Contains(sum.Cause, prodID+" team/app:release-1.0 failed") {
		t.Errorf("summary %+v", sum)
	}
}
