package workflow

import (
	"context"
	"strings"
	"testing"
)

// Summarize is pure: its only inputs are the Map's results. (The step is
// being reworked elsewhere; this checks what the Fail state and the console
// rely on: the counts, and a cause that names each failed destination.)
func TestSummarize(t *testing.T) {
	t.Parallel()
	plan := Plan{Execution: "run-1", Repository: "team/app", Tag: "release-1.0", Digest: digestA}
	copied := Replication{Job: testJob(mirrorID), Copy: &CopyResult{Status: StatusCopied, BytesCopied: 4096}}
	failed := Replication{Job: testJob(prodID), Role: &RoleResult{RoleARN: "arn"}, Error: &StepError{Error: "AccessDeniedError",
		Cause: `{"errorMessage":"assume role arn:aws:iam::222222222222:role/ferry-replication: AccessDenied","errorType":"AccessDeniedError"}`}}
	tests := []struct {
		name        string
		results     []Replication
		wantOutcome string
		wantCopied  int
		wantFailed  int
		wantCause   []string
	}{
		{name: "all copied", results: []Replication{copied}, wantOutcome: "succeeded", wantCopied: 1},
		{name: "one failed", results: []Replication{failed, copied}, wantOutcome: "failed", wantCopied: 1, wantFailed: 1,
			wantCause: []string{prodID, "AccessDeniedError", "assume role"}},
		{name: "no result at all", results: []Replication{{Job: testJob(prodID)}}, wantOutcome: "failed", wantFailed: 1, wantCause: []string{prodID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := testLogger()
			sum, err := NewSummarize(log).Handle(context.Background(), SummarizeRequest{Plan: plan, Results: tt.results})
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
		})
	}
}
