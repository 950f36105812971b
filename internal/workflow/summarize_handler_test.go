package workflow

import (
	"context"
	"strings"
	"testing"
)

// Summarize is pure: its only inputs are the plan and the Map's outcomes.
// This checks what the Fail state and the console rely on: the counts, and
// a cause that names each failed destination.
func TestSummarize(t *testing.T) {
	t.Parallel()
	jobs := []PlannedJob{testJob(prodID).Planned(nil), testJob(mirrorID).Planned(nil)}
	plan := Plan{Execution: "run-1", Repository: "team/app", Tag: "release-1.0", Digest: digestA, Jobs: jobs}
	copied := Outcome{Destination: mirrorID, Status: StatusCopied, BytesCopied: 4096}
	failed := Outcome{Destination: prodID, Status: StatusFailed, Error: "AccessDeniedError",
		Reason: "assume role arn:aws:iam::222222222222:role/ferry-replication: AccessDenied"}
	tests := []struct {
		name        string
		results     []Outcome
		wantOutcome string
		wantCopied  int
		wantFailed  int
		wantCause   []string
		wantErr     bool
	}{
		{name: "all copied", results: []Outcome{{Destination: prodID, Status: StatusUnchanged}, copied}, wantOutcome: "succeeded", wantCopied: 1},
		{name: "one failed", results: []Outcome{failed, copied}, wantOutcome: "failed", wantCopied: 1, wantFailed: 1,
			wantCause: []string{prodID + " failed", "AccessDeniedError", "assume role"}},
		{name: "no result at all", results: []Outcome{{Destination: prodID}, copied}, wantOutcome: "failed", wantCopied: 1, wantFailed: 1, wantCause: []string{prodID, "NoResult"}},
		{name: "fewer results than jobs", results: []Outcome{copied}, wantErr: true},
		{name: "results out of job order", results: []Outcome{copied, failed}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger()
			sum, err := NewSummarize(log).Handle(context.Background(), SummarizeRequest{Plan: plan, Results: tt.results})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("summary %+v, want an error", sum)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertNoSecrets(t, sum, logs.String())
			if sum.Outcome != tt.wantOutcome || sum.Copied != tt.wantCopied || sum.Failed != tt.wantFailed || len(sum.Destinations) != len(tt.results) {
				t.Errorf("summary %+v", sum)
			}
			for _, w := range tt.wantCause {
				if !strings.Contains(sum.Cause, w) {
					t.Errorf("cause %q does not name %q", sum.Cause, w)
				}
			}
			if tt.wantFailed == 0 && sum.Cause != "" {
				t.Errorf("cause %q for a successful run", sum.Cause)
			}
			if len(sum.Retry) != tt.wantFailed {
				t.Errorf("retry %+v, want the %d failed jobs", sum.Retry, tt.wantFailed)
			}
		})
	}
}
