package e2e

import (
	"context"
	"encoding/json"
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
		if m := re.FindString(text); m != "" {
			t.Errorf("found %q (pattern %s) in state data or logs", m, re)
		}
	}
	if strings.Contains(text, h.runner.Key()) {
		t.Error("the approval key appears in state data or logs")
	}
}
