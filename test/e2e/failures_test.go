package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/emulator"
	"github.com/ferry-dev/ferry/internal/runner"
)

func destinationStatus(t *testing.T, ex *runner.Execution) map[string]string {
	t.Helper()
	// A failed execution's output is empty; the Summarize state's output
	// holds the per-destination outcome.
	out := ex.Output
	for _, ev := range ex.Events {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Summarize" {
			out = ev.State.Output
		}
	}
	var s struct {
		Destinations []struct{ Destination, Status string }
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary %s: %v", out, err)
	}
	m := map[string]string{}
	for _, d := range s.Destinations {
		m[d.Destination] = d.Status
	}
	return m
}

func (h *harness) assertHas(id string, want bool) {
	h.t.Helper()
	has, err := h.world.HasTag(context.Background(), id, "release-1.0")
	if err != nil || has != want {
		h.t.Errorf("%s has release-1.0: %t (%v), want %t", id, has, err, want)
	}
}

func TestRoleThatCannotBeAssumedFailsAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{deny: []string{Staging}})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "FAILED" || ex.Error != "ReplicationFailed" || !strings.Contains(ex.Cause, Staging) || !strings.Contains(ex.Cause, "AccessDenied") {
		t.Fatalf("execution %s %s %q, want FAILED ReplicationFailed naming %s", ex.Status, ex.Error, ex.Cause, Staging)
	}
	st := destinationStatus(t, ex)
	if st[Staging] != "failed" || st[Production] != "copied" || st[Mirror] != "copied" {
		t.Fatalf("statuses %v", st)
	}
	h.assertHas(Production, true)
	h.assertHas(Mirror, true)
	scanSecrets(t, h)
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	// More throttles than the SDK retries on its own: Validate fails with a
	// RetryableError and the state machine's Retry runs it again.
	h.world.Source.InjectFault("DescribeImages", 4, emulator.FaultThrottling())
	h.world.Registries[Staging].InjectFault("CreateRepository", 4, emulator.FaultServerError())
	h.world.Registries[Mirror].InjectFault(emulator.TargetBlobUpload, 2, emulator.FaultUnavailable())
	h.world.Emulator.InjectFault("AssumeRole", 4, emulator.Fault{Status: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("execution %s %s %s", ex.Status, ex.Error, ex.Cause)
	}
	retried := map[string]bool{}
	for _, ev := range ex.Events {
		if ev.Type == "StateRetried" {
			retried[ev.State.Name] = true
		}
	}
	if !retried["Validate"] {
		t.Errorf("Validate was not retried by the state machine (retried: %v)", retried)
	}
	for _, id := range Destinations {
		h.assertHas(id, true)
	}
}

func TestApprovalRejectedLeavesProductionUntouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{approver: runner.AutoReject})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "FAILED" || !strings.Contains(ex.Cause, Production+" rejected") {
		t.Fatalf("execution %s %q", ex.Status, ex.Cause)
	}
	st := destinationStatus(t, ex)
	if st[Production] != "rejected" || st[Staging] != "copied" || st[Mirror] != "copied" {
		t.Fatalf("statuses %v", st)
	}
	h.assertHas(Production, false)
	// The approve link of the same request no longer works: the token is spent.
	msgs := h.runner.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if err := runner.Follow(context.Background(), msgs[0].ApproveURL); err == nil || !strings.Contains(err.Error(), "410") {
		t.Fatalf("replayed approve link: %v, want 410 Gone", err)
	}
	h.assertHas(Production, false)
	// A tampered link is refused.
	if err := runner.Follow(context.Background(), strings.Replace(msgs[0].RejectURL, "ticket=", "ticket=x", 1)); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("tampered link: %v, want 403", err)
	}
	scanSecrets(t, h)
}

func TestApprovalTimeoutLeavesProductionUntouched(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noApprover: true, approvalTimeout: time.Second})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	st := destinationStatus(t, ex)
	if ex.Status != "FAILED" || st[Production] != "approval timed out" || st[Staging] != "copied" {
		t.Fatalf("execution %s %q, statuses %v", ex.Status, ex.Cause, st)
	}
	h.assertHas(Production, false)
}

func TestInputsThatAreRejectedOrSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name              string
		input             string
		wantStatus        string
		wantError, wantIn string
	}{
		{"foreign destination", `{"repository":"team/app","tag":"release-1.0","destinations":["999999999999/us-east-1"]}`, "FAILED", "ValidationError", "not in the deployed configuration"},
		{"malformed event", `{"detail-type":"ECR Image Action","source":"aws.ecr","detail":{"action-type":"PUSH"}}`, "FAILED", "ValidationError", "lacks detail.repository-name"},
		{"not an object", `[1,2]`, "FAILED", "ValidationError", "must be a JSON object"},
		{"unknown field", `{"repository":"team/app","tag":"release-1.0","destination":"x"}`, "FAILED", "ValidationError", "unknown field"},
		{"invalid tag", `{"repository":"team/app","tag":"-bad"}`, "FAILED", "ValidationError", "tag"},
		{"unknown image", `{"repository":"team/app","tag":"release-9.9"}`, "FAILED", "ValidationError", "not in the source registry"},
		{"no rule matches", string(PushEvent(Repository, "nightly", "sha256:"+strings.Repeat("a", 64))), "SUCCEEDED", "", "no rule matches team/app:nightly"},
		{"manual narrowing", `{"repository":"team/app","tag":"release-1.0","destinations":["333333333333/us-west-2"]}`, "SUCCEEDED", "", `"copied":1`},
	}
	for _, tt := range tests {
		ex := h.run([]byte(tt.input))
		text := ex.Cause + string(ex.Output)
		if ex.Status != tt.wantStatus || ex.Error != tt.wantError || !strings.Contains(text, tt.wantIn) {
			t.Errorf("%s: %s %s %q, want %s %s containing %q", tt.name, ex.Status, ex.Error, text, tt.wantStatus, tt.wantError, tt.wantIn)
		}
	}
	h.assertHas(Production, false)
	h.assertHas(Staging, true)
}

func TestConcurrentExecutionsForTheSamePush(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	var wg sync.WaitGroup
	exs := make([]*runner.Execution, 2)
	errs := make([]error, 2)
	for i := range exs {
		wg.Go(func() {
			exs[i], errs[i] = h.runner.Run(context.Background(), PushEvent(Repository, "release-1.0", h.rel.Index))
		})
	}
	wg.Wait()
	for i, ex := range exs {
		if errs[i] != nil || ex.Status != "SUCCEEDED" {
			t.Fatalf("execution %d: %v %+v", i, errs[i], ex)
		}
	}
	for _, c := range h.world.CheckRelease(context.Background(), Staging, "release-1.0", h.rel) {
		if c.Err != nil {
			t.Errorf("%s: %v", c.What, c.Err)
		}
	}
}

var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`ASIA[A-Z0-9]{16}`),                 // temporary access key IDs from AssumeRole
	regexp.MustCompile(`(?i)secretAccessKey|sessionToken`), // credential fields
	regexp.MustCompile(`(?i)authorizationToken`),           // ECR tokens
	regexp.MustCompile(`ferry-local-[0-9a-f]{16,}`),        // task tokens minted by the runner
	regexp.MustCompile(`ticket=`),                          // signed approval links
	regexp.MustCompile(`ferry-local-secret`),               // the runner's stand-in secret key
}

// scanSecrets fails if any state input or output, event, handler log line or
// printed line carries a credential, registry token, task token or the
// approval key.
func scanSecrets(t *testing.T, h *harness) {
	t.Helper()
	var all strings.Builder
	all.WriteString(h.logs.String())
	all.WriteString(h.out.String())
	for _, ex := range h.lastExecutions() {
		for _, ev := range ex.Events {
			all.Write(ev.Raw)
			all.WriteByte('\n')
		}
		all.Write(ex.Output)
	}
	text := all.String()
	if len(text) < 1000 {
		t.Fatalf("scanned only %d bytes: the scan sees nothing", len(text))
	}
	for _, re := range secretPatterns {
		if loc := re.FindStringIndex(text); loc != nil {
			from, to := max(0, loc[0]-300), min(len(text), loc[1]+100)
			t.Errorf("found %q (pattern %s) in state data or logs: …%s…", text[loc[0]:loc[1]], re, text[from:to])
		}
	}
	if strings.Contains(text, h.runner.Key()) {
		t.Error("the approval key appears in state data or logs")
	}
}

func (h *harness) redrive(prev *runner.Execution) *runner.Execution {
	h.t.Helper()
	ex, err := h.runner.Redrive(context.Background(), prev)
	if err != nil {
		h.t.Fatalf("redrive: %v\n%s", err, h.out.String())
	}
	h.mu.Lock()
	h.runs = append(h.runs, ex)
	h.mu.Unlock()
	h.t.Logf("execution %s after redrive %d: %s %s %s\n%s", ex.Name, ex.RedriveCount, ex.Status, ex.Error, ex.Cause, h.out.String())
	return ex
}

// lastAttempt returns the events of an execution's last attempt.
func lastAttempt(ex *runner.Execution) []runner.Event {
	evs := ex.Events
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == "ExecutionRedriven" {
			return evs[i:]
		}
	}
	return evs
}

// touchedOnly fails if the emulator saw a call for an account other than
// the source's and those of want since its calls were last reset, or none
// for one of want.
func (h *harness) touchedOnly(want ...string) {
	h.t.Helper()
	seen := map[string]int{}
	for _, c := range h.world.Emulator.Calls() {
		seen[c.Account]++
	}
	allowed := map[string]bool{SourceAccount: true}
	for _, id := range want {
		acct, _, _ := strings.Cut(id, "/")
		allowed[acct] = true
		if seen[acct] == 0 {
			h.t.Errorf("no call for %s, a destination that failed (calls by account: %v)", id, seen)
		}
	}
	for a, n := range seen {
		if !allowed[a] {
			h.t.Errorf("%d calls for account %s, whose destination had succeeded", n, a)
		}
	}
}

// Two destinations fail: Staging's role cannot be assumed, and Production,
// after its approval, may not create its repository. The run fails naming
// both while Mirror completes. Redriving the execution, as the console's
// Redrive does, resumes at the failed state and replicates only the failed
// destinations: a redrive before anything is fixed fails again naming the
// two; one after the fixes completes them, without a single call to
// Mirror's account and without asking for Production's approval again.
func TestRedriveReplicatesOnlyWhatFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{deny: []string{Staging}})
	ctx := context.Background()
	h.world.Registries[Production].InjectFault("CreateRepository", 2, emulator.Fault{Status: http.StatusBadRequest,
		Code: "AccessDeniedException", Message: "not authorized to perform: ecr:CreateRepository (injected)"})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if ex.Status != "FAILED" || ex.Error != "ReplicationFailed" || !strings.Contains(ex.Cause, "2 of 3 destinations failed") ||
		!strings.Contains(ex.Cause, Production) || !strings.Contains(ex.Cause, Staging) || strings.Contains(ex.Cause, Mirror) {
		t.Fatalf("execution %s %s %q, want FAILED ReplicationFailed naming %s and %s", ex.Status, ex.Error, ex.Cause, Production, Staging)
	}
	if st := destinationStatus(t, ex); st[Production] != "failed" || st[Staging] != "failed" || st[Mirror] != "copied" {
		t.Fatalf("statuses %v", st)
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Fatalf("%d approval requests, want 1", n)
	}

	// Redrive with nothing fixed: only the two are tried, and fail again.
	h.world.Emulator.ResetCalls()
	ex1 := h.redrive(ex)
	if ex1.Status != "FAILED" || ex1.Error != "ReplicationFailed" || ex1.RedriveCount != 1 || ex1.ID != ex.ID ||
		!strings.Contains(ex1.Cause, "2 of 3 destinations failed") {
		t.Fatalf("first redrive: %s %s %q (redrive %d, %s)", ex1.Status, ex1.Error, ex1.Cause, ex1.RedriveCount, ex1.ID)
	}
	h.touchedOnly(Production, Staging)

	// Fix Staging's role (Production's fault is spent) and redrive again.
	if err := h.world.Emulator.AllowRole("arn:aws:iam::333333333333:role/ferry-replication", ExternalID); err != nil {
		t.Fatal(err)
	}
	h.world.Emulator.ResetCalls()
	ex2 := h.redrive(ex1)
	if ex2.Status != "SUCCEEDED" || ex2.RedriveCount != 2 {
		t.Fatalf("second redrive: %s %s %q", ex2.Status, ex2.Error, ex2.Cause)
	}
	h.touchedOnly(Production, Staging)
	s := summary(t, ex2)
	if s["copied"] != float64(3) || s["failed"] != float64(0) || s["attempt"] != float64(2) {
		t.Fatalf("summary after the redrive %v, want 3 copied (1 in the first attempt, 2 in the last redrive)", s)
	}
	if st := destinationStatus(t, ex2); st[Production] != "copied" || st[Staging] != "copied" || st[Mirror] != "copied" {
		t.Fatalf("statuses %v", st)
	}
	for _, id := range Destinations {
		for _, c := range h.world.CheckRelease(ctx, id, "release-1.0", h.rel) {
			if c.Err != nil {
				t.Errorf("%s: %s: %v", id, c.What, c.Err)
			}
		}
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Errorf("%d approval requests after the redrives, want 1: the approval given in the first attempt holds", n)
	}

	// What each redrive ran: from the failed state on, and Map iterations
	// for the failed destinations only.
	for i, x := range []*runner.Execution{ex1, ex2} {
		evs := lastAttempt(x)
		if evs[0].State == nil || evs[0].State.Name != "Some destinations failed" {
			t.Errorf("redrive %d resumed at %+v, want the state that failed", i+1, evs[0].State)
		}
		for _, ev := range evs {
			if ev.Type != "StateEntered" || ev.State == nil {
				continue
			}
			if ev.Index == nil && (ev.State.Name == "Validate" || ev.State.Name == "Anything to copy?") {
				t.Errorf("redrive %d ran %q again, which had succeeded", i+1, ev.State.Name)
			}
			var in struct{ Job struct{ Destination string } }
			if ev.Index != nil && json.Unmarshal(ev.State.Input, &in) == nil && in.Job.Destination == Mirror {
				t.Errorf("redrive %d ran %s for %s", i+1, ev.State.Name, in.Job.Destination)
			}
			if ev.Index != nil && ev.State.Name == "Wait for approval" {
				t.Errorf("redrive %d asked for the approval again", i+1)
			}
		}
	}
	if !strings.Contains(h.out.String(), "Redrive 2: resumes at \"Some destinations failed\"") {
		t.Errorf("the step-by-step view does not show the redrive:\n%s", h.out.String())
	}

	// Redriving a succeeded execution is refused, as in AWS.
	if _, err := h.runner.Redrive(ctx, ex2); !errors.Is(err, runner.ErrNotRedrivable) {
		t.Errorf("redrive of a succeeded execution: %v, want ErrNotRedrivable", err)
	}
	scanSecrets(t, h)
}

// A rejection is what failed, so a redrive asks again: the second answer
// (an approval) lets Production be copied; the others are not touched.
func TestRedriveAfterARejectionAsksAgain(t *testing.T) {
	t.Parallel()
	var answers sync.Mutex
	n := 0
	h := newHarness(t, harnessOpts{approver: func(ctx context.Context, m runner.ApprovalMessage) error {
		answers.Lock()
		n++
		first := n == 1
		answers.Unlock()
		if first {
			return runner.AutoReject(ctx, m)
		}
		return runner.AutoApprove(ctx, m)
	}})
	ex := h.run(PushEvent(Repository, "release-1.0", h.rel.Index))
	if st := destinationStatus(t, ex); ex.Status != "FAILED" || st[Production] != "rejected" || st[Staging] != "copied" || st[Mirror] != "copied" {
		t.Fatalf("execution %s, statuses %v", ex.Status, st)
	}
	h.assertHas(Production, false)
	h.world.Emulator.ResetCalls()
	ex = h.redrive(ex)
	if st := destinationStatus(t, ex); ex.Status != "SUCCEEDED" || st[Production] != "copied" {
		t.Fatalf("after the redrive: %s %q, statuses %v", ex.Status, ex.Cause, st)
	}
	h.touchedOnly(Production)
	if msgs := h.runner.Messages(); len(msgs) != 2 {
		t.Errorf("%d approval requests, want 2: the rejected one is asked again on redrive", len(msgs))
	}
	h.assertHas(Production, true)
}
