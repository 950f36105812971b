package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/runner"
)

// maxState is Step Functions' limit on a state's input or output.
const maxState = 256 << 10

// checkStateSizes fails if any state's input or output in ex passes the
// 256 KiB Step Functions allows; the local interpreter does not enforce it.
func checkStateSizes(t *testing.T, ex *runner.Execution) (largest int) {
	t.Helper()
	for _, ev := range ex.Events {
		if ev.State == nil {
			continue
		}
		for _, b := range []json.RawMessage{ev.State.Input, ev.State.Output} {
			largest = max(largest, len(b))
			if len(b) > maxState {
				t.Errorf("state %q (%s): %d bytes, more than Step Functions' 256 KiB", ev.State.Name, ev.Type, len(b))
			}
		}
	}
	return largest
}

// reconcileSummary is the Summarize state's last output.
func reconcileSummary(t *testing.T, ex *runner.Execution) map[string]any {
	t.Helper()
	var out map[string]any
	for _, ev := range ex.Events {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Summarize" && ev.Index == nil {
			out = nil
			if err := json.Unmarshal(ev.State.Output, &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out == nil {
		t.Fatal("no Summarize output")
	}
	return out
}

// TestReconcileLocallyWithAFailedJobThenRedriven runs the reconcile state
// machine on the local interpreter: images pushed before any run are
// planned, production is asked once for all its images, one destination
// whose role cannot be assumed fails alone, the run fails naming it, and a
// redrive after the fix copies only that destination's jobs.
func TestReconcileLocallyWithAFailedJobThenRedriven(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{reconcile: true, deny: []string{Staging}})
	ctx := context.Background()
	old, err := h.world.PushRelease(ctx, "release-0.9", 1)
	if err != nil {
		t.Fatal(err)
	}
	ex := h.run([]byte(`{}`))
	checkStateSizes(t, ex)
	if ex.Status != "FAILED" || ex.Error != "ReconcileFailed" || !strings.Contains(ex.Cause, "2 of the reconcile's jobs failed") ||
		!strings.Contains(ex.Cause, Staging) {
		t.Fatalf("execution %s %s %q; want FAILED ReconcileFailed naming %s's 2 jobs", ex.Status, ex.Error, ex.Cause, Staging)
	}
	if n := len(h.runner.Messages()); n != 1 || !strings.Contains(h.runner.Messages()[0].Subject, "approve 2 images to "+Production) {
		t.Errorf("%d approval requests %v; want one for production's 2 images", n, h.runner.Messages())
	}
	counts := reconcileSummary(t, ex)["counts"].(map[string]any)
	if counts["copied"] != 4.0 || counts["failed"] != 2.0 {
		t.Errorf("counts %v, want 4 copied (production and the mirror), 2 failed (staging)", counts)
	}
	for _, id := range []string{Production, Mirror} {
		for tag, rel := range map[string]Release{"release-0.9": old, "release-1.0": h.rel} {
			for _, c := range h.world.CheckRelease(ctx, id, tag, rel) {
				if c.Err != nil {
					t.Errorf("%s %s: %s: %v", id, tag, c.What, c.Err)
				}
			}
		}
	}

	// Fix the role; the redrive copies staging's two jobs and nothing else.
	if err := h.world.Emulator.AllowRole("arn:aws:iam::333333333333:role/ferry-replication", ExternalID); err != nil {
		t.Fatal(err)
	}
	h.world.Emulator.ResetCalls()
	ex2 := h.redrive(ex)
	checkStateSizes(t, ex2)
	if ex2.Status != "SUCCEEDED" {
		t.Fatalf("redrive: %s %s %q", ex2.Status, ex2.Error, ex2.Cause)
	}
	h.touchedOnly(Staging)
	counts = reconcileSummary(t, ex2)["counts"].(map[string]any)
	if counts["copied"] != 6.0 || counts["failed"] != nil {
		t.Errorf("after the redrive: counts %v, want 6 copied, none failed", counts)
	}
	if n := len(h.runner.Messages()); n != 1 {
		t.Errorf("%d approval requests after the redrive; production was asked again", n)
	}
	for tag, rel := range map[string]Release{"release-0.9": old, "release-1.0": h.rel} {
		for _, c := range h.world.CheckRelease(ctx, Staging, tag, rel) {
			if c.Err != nil {
				t.Errorf("staging %s: %s: %v", tag, c.What, c.Err)
			}
		}
	}

	// A dry run now plans nothing and writes nothing.
	h.world.Emulator.ResetCalls()
	dry := h.run([]byte(`{"dryRun": true}`))
	if dry.Status != "SUCCEEDED" {
		t.Fatalf("dry run: %s %s", dry.Status, dry.Cause)
	}
	if got := writes(h.world.Emulator.Calls()); len(got) > 0 {
		t.Errorf("a dry run wrote: %+v", got)
	}
}
