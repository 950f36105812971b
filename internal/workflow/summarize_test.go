package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/config"
)

// The state machine's form of Summarize's payload, a failed first pass,
// the run failing, and after a redrive the next pass over the failed
// destination only, whose summary keeps the other destination's outcome.
func TestSummarizeAndSettleAcrossARedrive(t *testing.T) {
	t.Parallel()
	log, logs := testLogger()
	s := NewSummarize(log)
	ctx := context.Background()
	approved := &ApprovalDecision{Decision: "approved", DecidedAt: time.Unix(1700000000, 0).UTC(), Via: "signed link"}
	prodJob := testJob(prodID)
	prodJob.ApprovalRequired = true
	plan := Plan{Execution: "run-1", Trigger: "push", Source: "111111111111/us-east-1", Repository: "team/app", Tag: "release-1.0",
		Digest: digestA, Jobs: []PlannedJob{prodJob.Planned(nil), testJob(mirrorID).Planned(nil)}}
	// The "Destination failed" state makes the failed iteration's outcome.
	failed := Replication{Job: prodJob, Approval: approved, Precheck: &StepError{Error: "VerificationError"}, Role: &RoleResult{RoleARN: "arn"}, Error: &StepError{Error: "AccessDeniedError",
		Cause: `{"errorMessage":"create repository team/app: AccessDeniedException","errorType":"AccessDeniedError"}`}}
	b, _ := json.Marshal(map[string]any{"outcome": failed})
	out, err := s.Invoke(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	prodOutcome := out.(Outcome)
	if prodOutcome.Destination != prodID || prodOutcome.Status != StatusFailed || prodOutcome.Error != "AccessDeniedError" ||
		prodOutcome.Reason != "create repository team/app: AccessDeniedException" || prodOutcome.Approval == nil {
		t.Fatalf("outcome of the failed iteration: %+v", prodOutcome)
	}
	results := []Outcome{prodOutcome, {Destination: mirrorID, Status: StatusCopied, BytesCopied: 100}}
	run := map[string]any{"execution": plan.Execution, "trigger": plan.Trigger, "source": plan.Source, "repository": plan.Repository,
		"tag": plan.Tag, "digest": plan.Digest, "skipped": false, "jobs": plan.Jobs, "results": results}
	payload, _ := json.Marshal(map[string]any{"run": run, "attempt": 0})
	out, err = s.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	first := out.(Summary)
	if first.Failed != 1 || first.Copied != 1 || first.Attempt != 0 || len(first.Retry) != 1 || first.Retry[0].Approval == nil ||
		!strings.Contains(first.Cause, "1 of 2 destinations failed: "+prodID) {
		t.Fatalf("first pass: %+v", first)
	}

	// The pass that failed: the run fails with ReplicationFailed.
	settle := func(sum Summary, redrives int) (any, error) {
		b, _ := json.Marshal(map[string]any{"failed": sum, "redriveCount": redrives})
		return s.Invoke(ctx, b)
	}
	_, err = settle(first, 0)
	var rf *ReplicationFailed
	if !errors.As(err, &rf) || rf.Error() != first.Cause {
		t.Fatalf("settle on the failed pass: %v, want ReplicationFailed with the summary's cause", err)
	}

	// After a redrive: the next pass holds the failed job alone, with its
	// approval, as the Map's ItemSelector reads it; the earlier summary
	// keeps the destination that did not fail.
	out, err = settle(first, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := out.(NextPass)
	b, _ = json.Marshal(next)
	var shape struct {
		Jobs []map[string]any `json:"jobs"`
	}
	_ = json.Unmarshal(b, &shape)
	if len(shape.Jobs) != 1 || shape.Jobs[0]["destination"] != prodID || shape.Jobs[0]["approval"] == nil || next.Earlier.Cause != "" || next.Earlier.Retry != nil ||
		len(next.Earlier.Destinations) != 1 || next.Earlier.Destinations[0].Destination != mirrorID || next.ReasonLimit != maxReason {
		t.Fatalf("next pass %s", b)
	}

	// The next pass copies it: the summary covers both destinations.
	run2 := map[string]any{}
	_ = json.Unmarshal(b, &run2)
	run2["results"] = []Outcome{{Destination: prodID, Status: StatusCopied, BytesCopied: 50}}
	payload, _ = json.Marshal(map[string]any{"run": run2, "attempt": 1})
	out, err = s.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	last := out.(Summary)
	if last.Outcome != "succeeded" || last.Copied != 2 || last.Failed != 0 || last.BytesCopied != 150 || last.Attempt != 1 ||
		len(last.Destinations) != 2 || last.Destinations[1].Destination != prodID || last.Retry != nil || last.Cause != "" {
		t.Fatalf("summary after the redrive: %+v", last)
	}
	assertNoSecrets(t, last, logs.String())

	// A summary with nothing failed is not something to settle.
	if _, err := settle(last, 2); !errors.As(err, new(*ValidationError)) {
		t.Errorf("settle of a successful summary: %v, want a ValidationError", err)
	}
}

// A destination whose copy was superseded (the source tag moved on to a
// later push) is not a failure, and the summary says why.
func TestSupersededIsNotAFailure(t *testing.T) {
	t.Parallel()
	o := outcome(testJob(mirrorID).Planned(nil), Outcome{Destination: mirrorID, Status: StatusSuperseded})
	if o.Status != StatusSuperseded || !strings.Contains(o.Reason, "later push") || isFailure(o.Status) {
		t.Errorf("outcome %+v, want superseded with its reason, not a failure", o)
	}
	// Verify has nothing to check: it neither assumes a role nor reads.
	reason := "the source tag team/app:release-1.0 now points at sha256:bbb…, a later push whose own run copies it; nothing written"
	roles := &fakeRoles{}
	r := Replication{Job: testJob(mirrorID), Copy: &CopyResult{Status: StatusSuperseded, Reason: reason}}
	out, err := NewVerify(slog0(), testEnv(t), roles).Handle(context.Background(), r)
	if err != nil || out.Verify != nil || len(roles.assumed) != 0 {
		t.Errorf("Verify of a superseded copy: %+v, %v, assumed %v; want it passed through untouched", out.Verify, err, roles.assumed)
	}
}

// manyDestinations is a configuration of n destinations, all taking
// team/** release-*, each with approval required when approval is set.
func manyDestinations(t *testing.T, n int, approval bool) *Env {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nsource: {account: \"111111111111\", region: us-east-1}\nexternalId: ext-123\nrules:\n  - name: releases\n    repositories: [\"team/**\"]\n    tags: [\"release-*\"]\n    destinations:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {account: \"5%011d\", region: ap-southeast-2", i)
		if approval {
			b.WriteString(", approval: required")
		}
		b.WriteString("}\n")
	}
	cfg, err := config.Parse("ferry.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Config: cfg, Getenv: func(string) string { return "" }}
}

// The worst case for the size of a run's states: 500 destinations, each
// approved by a person and then failing with a long error, twice (the
// first pass, then a redrive). Every state the run goes through stays
// within Step Functions' 256 KiB, the cause names every destination, and
// a plan too large to fit is refused by Validate before anything is copied.
func TestStatesOfFiveHundredFailedDestinationsFit(t *testing.T) {
	t.Parallel()
	const n = 500
	ctx := context.Background()
	log, _ := testLogger()
	src := newFakeECR("111111111111/us-east-1")
	src.addImage("team/app", digestA, "release-1.0")
	execution := "arn:aws:states:ap-southeast-2:111111111111:execution:Ferry-replicate:0d5e6f1a-8b2c-4d3e-9f4a-5b6c7d8e9f00"
	p, err := NewValidate(log, manyDestinations(t, n, true), src).Handle(ctx,
		ValidateRequest{Execution: execution, Input: json.RawMessage(`{"repository":"team/app","tag":"release-1.0"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != n || p.ReasonLimit < minReason {
		t.Fatalf("%d jobs, reason limit %d", len(p.Jobs), p.ReasonLimit)
	}
	size := func(what string, v any) int {
		t.Helper()
		b, _ := json.Marshal(v)
		if len(b) > StateLimit {
			t.Errorf("%s: %d bytes, more than a state's 256 KiB", what, len(b))
		}
		return len(b)
	}
	planBytes := size("the plan", p)
	long := strings.Repeat("operation error ECR: PutImage, https response error StatusCode: 400, RequestID: 0d5e6f1a, api error ", 30)
	approved := &ApprovalDecision{Decision: "approved", DecidedAt: time.Now().UTC(), Via: "sealed link", Link: "approve", SourceIP: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}
	s := NewSummarize(log)
	fail := func(jobs []PlannedJob, limit int) []Outcome {
		var out []Outcome
		for _, j := range jobs {
			r := Replication{Job: j.Job(p.Execution, p.Repository, p.Digest), Approval: approved, Role: &RoleResult{RoleARN: "arn"},
				ReasonLimit: limit, Error: &StepError{Error: "Lambda.TooManyRequestsException", Cause: `{"errorMessage":"` + long + `"}`}}
			if j.Approval == nil {
				r.Precheck = &StepError{Error: "VerificationError"} // asked in this pass
			} else if r.Approval = j.Approval; r.Approval == nil || *r.Approval != *approved.forRedrive() {
				t.Fatalf("job %+v lost its approval", j)
			}
			o, err := s.Outcome(ctx, OutcomeRequest{Outcome: r})
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Reason) > limit || !strings.HasSuffix(o.Reason, long[len(long)-20:]) {
				t.Fatalf("reason of %d bytes (limit %d) %q, want the message shortened from the middle", len(o.Reason), limit, o.Reason)
			}
			out = append(out, o)
		}
		return out
	}
	// The Map's output: the plan with an outcome per job.
	results := fail(p.Jobs, p.ReasonLimit)
	mapBytes := size("the Map's output", map[string]any{"plan": p, "results": results})
	sum, err := s.Handle(ctx, SummarizeRequest{Plan: p, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	sumBytes := size("the summary", sum)
	if sum.Failed != n || len(sum.Retry) != n || len(sum.Cause) > 32768 {
		t.Fatalf("summary: %d failed, %d to retry, cause of %d bytes", sum.Failed, len(sum.Retry), len(sum.Cause))
	}
	for _, j := range p.Jobs {
		if !strings.Contains(sum.Cause, j.Destination) {
			t.Fatalf("the cause does not name %s", j.Destination)
		}
	}
	// A redrive: the next pass, its Map's output and its summary.
	out, err := s.Settle(ctx, SettleRequest{Failed: sum, RedriveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	next := out
	size("the next pass", next)
	again := Plan{Execution: next.Execution, Repository: next.Repository, Tag: next.Tag, Digest: next.Digest, ReasonLimit: next.ReasonLimit, Jobs: next.Jobs}
	results = fail(next.Jobs, next.ReasonLimit)
	size("the Map's output after the redrive", map[string]any{"next": next, "results": results})
	sum2, err := s.Handle(ctx, SummarizeRequest{Plan: again, Results: results, Earlier: &next.Earlier, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	size("the summary after the redrive", sum2)
	t.Logf("%d destinations, all failed: plan %d bytes (%d each), Map output %d (%d each), summary %d; reasons of %d bytes",
		n, planBytes, planBytes/n, mapBytes, mapBytes/n, sumBytes, p.ReasonLimit)

	// A plan that cannot fit is refused, saying how many would.
	_, err = NewValidate(log, manyDestinations(t, 900, true), src).Handle(ctx,
		ValidateRequest{Execution: execution, Input: json.RawMessage(`{"repository":"team/app","tag":"release-1.0"}`)})
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "900 jobs are more than one execution can hold") {
		t.Errorf("a plan of 900 jobs: %v, want a ValidationError", err)
	}
	t.Log(err)
}

// clip keeps the start and the end of a message, within n bytes also as
// JSON, and never splits a character.
func TestClip(t *testing.T) {
	t.Parallel()
	msg := `copy team/app to "mirror" in 333333333333/us-west-2: ` + strings.Repeat("é<>&", 100) + `: api error AccessDenied: not authorized`
	for _, n := range []int{0, 3, 10, 48, 100, 200, len(msg)} {
		c := clipJSON(msg, n)
		b, _ := json.Marshal(c)
		if len(b)-2 > n || !utf8.ValidString(c) {
			t.Errorf("clip to %d: %q (%d bytes as JSON)", n, c, len(b)-2)
		}
		if n >= 100 && (!strings.HasPrefix(c, "copy team/app") || !strings.HasSuffix(c, "not authorized")) {
			t.Errorf("clip to %d: %q lost the start or the end", n, c)
		}
	}
	if c := clipJSON("short", 48); c != "short" {
		t.Errorf("clip of a short message: %q", c)
	}
}

// A failed job's outcome keeps of its approval what a redrive needs (the
// decision, when, how), not the link and address, which would outgrow the
// Map's output at 500 destinations; the approval's own state keeps them.
func TestOutcomeKeepsTheDecisionForARedrive(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := Replication{Job: testJob(prodID), Precheck: &StepError{Error: "VerificationError"},
		Approval: &ApprovalDecision{Decision: "approved", DecidedAt: at, Via: "sealed link", Link: "approve", SourceIP: "203.0.113.7"},
		Error:    &StepError{Error: "RetryableError", Cause: "throttled"}}
	o, err := NewSummarize(slog0()).Outcome(context.Background(), OutcomeRequest{Outcome: r})
	if err != nil {
		t.Fatal(err)
	}
	want := ApprovalDecision{Decision: "approved", DecidedAt: at, Via: "sealed link"}
	if o.Approval == nil || *o.Approval != want {
		t.Errorf("outcome's approval %+v, want %+v", o.Approval, want)
	}
}
