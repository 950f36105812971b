package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
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
		Digest: digestA, Jobs: []Job{prodJob, testJob(mirrorID)}}
	results := []Replication{
		{Job: prodJob, Approval: approved, Role: &RoleResult{RoleARN: "arn"}, Error: &StepError{Error: "AccessDeniedError",
			Cause: `{"errorMessage":"create repository team/app: AccessDeniedException","errorType":"AccessDeniedError"}`}},
		{Job: testJob(mirrorID), Copy: &CopyResult{Status: StatusCopied, BytesCopied: 100}},
	}
	run := map[string]any{"execution": plan.Execution, "trigger": plan.Trigger, "source": plan.Source, "repository": plan.Repository,
		"tag": plan.Tag, "digest": plan.Digest, "skipped": false, "jobs": plan.Jobs, "results": results}
	payload, _ := json.Marshal(map[string]any{"run": run, "attempt": 0})
	out, err := s.Invoke(ctx, payload)
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
	// approval, as the Map's Choice reads it ($.job.approval).
	out, err = settle(first, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := out.(NextPass)
	b, _ := json.Marshal(next)
	var shape struct {
		Jobs []map[string]any `json:"jobs"`
	}
	_ = json.Unmarshal(b, &shape)
	if len(shape.Jobs) != 1 || shape.Jobs[0]["destination"] != prodID || shape.Jobs[0]["approval"] == nil || next.Earlier.Cause != "" || next.Earlier.Retry != nil {
		t.Fatalf("next pass %s", b)
	}

	// The next pass copies it: the summary covers both destinations.
	run2 := map[string]any{}
	_ = json.Unmarshal(b, &run2)
	run2["results"] = []Replication{{Job: prodJob, Approval: approved, Copy: &CopyResult{Status: StatusCopied, BytesCopied: 50}}}
	payload, _ = json.Marshal(map[string]any{"run": run2, "attempt": 1})
	out, err = s.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	last := out.(Summary)
	if last.Outcome != "succeeded" || last.Copied != 2 || last.Failed != 0 || last.BytesCopied != 150 || last.Attempt != 1 ||
		len(last.Destinations) != 2 || last.Destinations[0].Destination != prodID || last.Retry != nil || last.Cause != "" {
		t.Fatalf("summary after the redrive: %+v", last)
	}
	assertNoSecrets(t, last, logs.String())

	// A summary with nothing failed is not something to settle.
	if _, err := settle(last, 2); !errors.As(err, new(*ValidationError)) {
		t.Errorf("settle of a successful summary: %v, want a ValidationError", err)
	}
}

// A destination whose copy was superseded (the source tag moved on to a
// later push) is not a failure, and its reason is in the summary.
func TestSupersededIsNotAFailure(t *testing.T) {
	t.Parallel()
	reason := "the source tag team/app:release-1.0 now points at sha256:bbb…, a later push whose own run copies it; nothing written"
	o := outcome(Replication{Job: testJob(mirrorID), Copy: &CopyResult{Status: StatusSuperseded, Reason: reason}})
	if o.Status != StatusSuperseded || o.Reason != reason || isFailure(o.Status) {
		t.Errorf("outcome %+v, want superseded with its reason, not a failure", o)
	}
	// Verify has nothing to check: it neither assumes a role nor reads.
	roles := &fakeRoles{}
	r := Replication{Job: testJob(mirrorID), Copy: &CopyResult{Status: StatusSuperseded, Reason: reason}}
	out, err := NewVerify(slog0(), testEnv(t), roles).Handle(context.Background(), r)
	if err != nil || out.Verify != nil || len(roles.assumed) != 0 {
		t.Errorf("Verify of a superseded copy: %+v, %v, assumed %v; want it passed through untouched", out.Verify, err, roles.assumed)
	}
}
