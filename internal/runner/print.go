package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/progress"
)

// Printer writes an execution's events as a person reads them in the Step
// Functions console: each state as it ends, with its duration and the gist
// of its output; Map iterations are labelled with their destination.
type Printer struct {
	w  io.Writer
	mu sync.Mutex
	// entered holds state start times by iteration and name.
	entered map[string]int64
	labels  map[int]string // Map iteration -> destination
	caught  map[string]bool
	// failed are the destinations whose failure was printed on their own
	// line, and lastFail the last top-level failure printed: what repeats
	// them later says "above" instead (each error once).
	failed   []string
	lastFail [2]string // Error, Cause
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer) *Printer {
	return &Printer{w: w, entered: map[string]int64{}, labels: map[int]string{}, caught: map[string]bool{}}
}

// Observe prints one event; pass it as Options.Observe.
func (p *Printer) Observe(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	indent, label := "  ", ""
	idx := -1
	if ev.Index != nil {
		idx = *ev.Index
		indent = "    "
		label = p.labels[idx]
	}
	key := fmt.Sprint(idx)
	if ev.State != nil {
		key += "/" + ev.State.Name
	}
	switch ev.Type {
	case "ExecutionStarted":
		if ev.Index == nil {
			clear(p.labels)
			clear(p.entered)
			clear(p.caught)
			p.failed, p.lastFail = nil, [2]string{}
		}
		return
	case "MapIterationStarted":
		return
	case "ExecutionRedriven":
		clear(p.labels)
		clear(p.entered)
		clear(p.caught)
		p.failed, p.lastFail = nil, [2]string{}
		state := ""
		if ev.State != nil {
			state = ev.State.Name
		}
		fmt.Fprintf(p.w, "  ↺ Redrive %d: resumes at %q with the input it had; the states that succeeded are not run again\n", ev.RedriveCount, state)
		return
	case "StateEntered":
		p.entered[key] = ev.Timestamp
		if idx >= 0 && label == "" && ev.State != nil {
			var in struct {
				Job struct {
					Destination, Repository, Tag string
				} `json:"job"`
				Batch struct {
					Destination string
					Images      int
				} `json:"batch"`
			}
			if json.Unmarshal(ev.State.Input, &in) == nil && in.Batch.Destination != "" {
				p.labels[idx] = fmt.Sprintf("%s (%d images)", in.Batch.Destination, in.Batch.Images)
			}
			if in.Job.Destination != "" {
				p.labels[idx] = in.Job.Destination
				if ev.Parent != nil && ev.Parent.Name == reconcileMapState {
					// One destination has many jobs in a reconcile.
					p.labels[idx] += " " + in.Job.Repository + ":" + in.Job.Tag
				}
			}
		}
		if ev.State != nil && ev.State.Type == "Map" {
			if idx < 0 {
				clear(p.labels) // a new pass: iteration i is another destination
			}
			fmt.Fprintf(p.w, "%s▸ %s%s\n", indent, ev.State.Name, passNote(ev.State.Input))
		}
		if ev.State != nil && ev.State.Name == "Wait for approval" {
			fmt.Fprintf(p.w, "%s%-28s ⏸ %-22s waiting for a person's decision (approval request sent)\n", indent, p.labels[idx], ev.State.Name)
		}
	case "StateExited":
		d := time.Duration(ev.Timestamp-p.entered[key]) * time.Millisecond
		if ev.State.Name == approvedEarlierState {
			fmt.Fprintf(p.w, "%s%s✓ %-22s %6s  not asked again\n", indent, pad(label, idx), "Approval", "")
			return
		}
		if ev.State.Name == blockedState {
			var o struct{ Reason string }
			_ = json.Unmarshal(ev.State.Output, &o)
			fmt.Fprintf(p.w, "%s%s⊘ %-22s %6s  %s (nothing written, no approval asked; not a failure)\n", indent, pad(label, idx), "Blocked", "", o.Reason)
			return
		}
		if ev.State.Type == "Choice" || ev.State.Type == "Pass" || ev.State.Name == outcomeState || p.caught[key] {
			delete(p.caught, key)
			return
		}
		fmt.Fprintf(p.w, "%s%s✓ %-22s %6s  %s\n", indent, pad(label, idx), ev.State.Name, round(d), gist(ev.State.Name, ev.State.Output))
	case "StateRetried":
		fmt.Fprintf(p.w, "%s%s↻ %-22s retrying (%s)\n", indent, pad(label, idx), ev.State.Name, ev.Error)
	case "StateFailed":
		if ev.State.Name == precheckState && ev.Error == "VerificationError" {
			fmt.Fprintf(p.w, "%s%s– %-22s no: %s\n", indent, pad(label, idx), ev.State.Name, CauseText(ev.CauseString()))
			return
		}
		cause := CauseText(ev.CauseString())
		if idx < 0 {
			p.lastFail = [2]string{ev.Error, ev.CauseString()}
			if ev.State.Name == settleState && ev.Error == "ReplicationFailed" && len(p.failed) > 0 {
				cause = failedAbove(cause, p.failed)
			}
		}
		fmt.Fprintf(p.w, "%s%s✗ %-22s %s: %s\n", indent, pad(label, idx), ev.State.Name, ev.Error, cause)
		if ev.State.Name == settleState && ev.Error == "ReplicationFailed" {
			fmt.Fprintf(p.w, "%s  → the other destinations are done; a redrive replicates only the failed ones again\n", indent)
		}
		if ev.State.Name == reconcileSettleState && ev.Error == "ReconcileFailed" {
			fmt.Fprintf(p.w, "%s  → the other jobs are done; a redrive copies only the failed ones again\n", indent)
		}
	case "StateCaught":
		p.caught[key] = true
		if ev.State.Name == precheckState {
			return
		}
		what := "destination"
		if ev.Parent != nil && ev.Parent.Name == reconcileMapState {
			what = "job"
		} else if label != "" {
			p.failed = append(p.failed, label)
		}
		fmt.Fprintf(p.w, "%s%s  → this %s stops here; the others go on\n", indent, pad(label, idx), what)
	case "ExecutionSucceeded":
		fmt.Fprintf(p.w, "  ● Execution succeeded\n")
	case "ExecutionFailed":
		if p.lastFail == [2]string{ev.Error, ev.CauseString()} {
			fmt.Fprintf(p.w, "  ● Execution failed: %s (above)\n", ev.Error)
			return
		}
		fmt.Fprintf(p.w, "  ● Execution failed: %s: %s\n", ev.Error, CauseText(ev.CauseString()))
	}
}

// failedAbove shortens Summarize's cause, "N of M destinations failed: D1
// failed (ERROR); ...", to its count and the destinations, when each
// destination's error was printed on its own line already.
func failedAbove(cause string, failed []string) string {
	count, _, ok := strings.Cut(cause, ": ")
	if !ok || !strings.Contains(count, " destinations failed") && !strings.Contains(count, " destination failed") {
		return cause
	}
	for _, d := range failed {
		if !strings.Contains(cause, d+" failed") {
			return cause // not the destinations printed: say it all
		}
	}
	return fmt.Sprintf("%s: %s (each error is on its line above)", count, strings.Join(failed, ", "))
}

// States the printer treats on their own.
const (
	// precheckState is the check before an approval; its VerificationError
	// means "not there yet, ask a person", not a failure.
	precheckState = "Already replicated?"
	// approvedEarlierState skips the approval after a redrive.
	approvedEarlierState = "Approved earlier in this execution"
	// settleState fails the run, or after a redrive starts the next pass.
	settleState = "Some destinations failed"
	// failedState records a failed destination's outcome; the failure
	// itself was printed as it was caught.
	outcomeState = "Destination failed"
	// blockedState is the outcome of a destination a gate refused.
	blockedState = "Destination blocked"
	// The reconcile's Distributed Map and its settle state.
	reconcileMapState    = "Copy to destinations"
	reconcileSettleState = "Some jobs failed"
)

// passNote says which destinations a pass of the Map replicates when it
// is a pass after a redrive.
func passNote(in json.RawMessage) string {
	var v struct {
		Earlier *struct{} `json:"earlier"`
		Jobs    []struct {
			Destination string `json:"destination"`
		} `json:"jobs"`
	}
	if json.Unmarshal(in, &v) != nil || v.Earlier == nil {
		return ""
	}
	var ds []string
	for _, j := range v.Jobs {
		ds = append(ds, j.Destination)
	}
	return " (again, the failed only: " + list(ds) + ")"
}

// listed is how many names a line lists before it counts the rest.
const listed = 12

// list joins names, the first few of many and how many more.
func list(names []string) string {
	if len(names) > listed {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:listed-2], ", "), len(names)-(listed-2))
	}
	return strings.Join(names, ", ")
}

func pad(label string, idx int) string {
	if idx < 0 {
		return ""
	}
	return fmt.Sprintf("%-28s ", label)
}

func round(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// CauseText shortens a Lambda error document (the cause Step Functions
// keeps of a function's error) to its message; any other cause is as it is.
func CauseText(c string) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(c), &doc) == nil && doc.ErrorMessage != "" {
		return doc.ErrorMessage
	}
	return c
}

// gist is a state's output in a few words.
func gist(state string, out json.RawMessage) string {
	var v struct {
		Skipped    bool     `json:"skipped"`
		Reason     string   `json:"reason"`
		Digest     string   `json:"digest"`
		Repository any      `json:"repository"`
		Tag        string   `json:"tag"`
		Tags       []string `json:"tags"`
		Status     string   `json:"status"`
		Bytes      int64    `json:"bytesCopied"`
		Action     string   `json:"action"`
		Referrer   *struct {
			Digest string `json:"digest"`
			Tag    string `json:"tag"`
		} `json:"referrer"`
		Jobs []struct {
			Destination      string `json:"destination"`
			ApprovalRequired bool   `json:"approvalRequired"`
		} `json:"jobs"`
		Approval *struct {
			Decision string `json:"decision"`
		} `json:"approval"`
		Role *struct {
			RoleARN string `json:"roleArn"`
		} `json:"role"`
		Copy *struct {
			Status      string `json:"status"`
			Reason      string `json:"reason"`
			BytesCopied int64  `json:"bytesCopied"`
			BlobsCopied int    `json:"blobsCopied"`
			Manifests   int    `json:"manifestsWritten"`
			Referrers   int    `json:"referrersCopied"`
		} `json:"copy"`
		Verify *struct {
			Digest                      string
			Manifests, Blobs, Referrers int
		} `json:"verify"`
		Outcome   string `json:"outcome"`
		Copied    int    `json:"copied"`
		Unchanged int    `json:"unchanged"`
		Untagged  int    `json:"untagged"`
		Failed    int    `json:"failed"`
		Blocked   int    `json:"blocked"`
		Attempt   int    `json:"attempt"`
		Earlier   *struct {
			Failed int `json:"failed"`
		} `json:"earlier"`
	}
	_ = json.Unmarshal(out, &v)
	switch state {
	case "Validate":
		if v.Skipped {
			return "skipped: " + v.Reason
		}
		var ds []string
		seen := map[string]bool{}
		for _, j := range v.Jobs {
			s := j.Destination
			if j.ApprovalRequired {
				s += " (approval)"
			}
			if !seen[s] {
				seen[s] = true
				ds = append(ds, s)
			}
		}
		switch {
		case v.Action == "referrers" && v.Referrer != nil:
			what := "referrer " + short(v.Referrer.Digest)
			if v.Referrer.Tag != "" {
				what = v.Referrer.Tag
			}
			return fmt.Sprintf("%s of %s@%s (tags %s) → %d destinations, each if it holds the image: %s", what, v.Repository, short(v.Digest), strings.Join(v.Tags, ", "), len(ds), list(ds))
		case v.Action == "untag":
			return fmt.Sprintf("%s:%s deleted at %s → untag in %d destinations: %s", v.Repository, v.Tag, short(v.Digest), len(ds), list(ds))
		}
		if len(v.Tags) > 0 {
			return fmt.Sprintf("%s@%s, its tags %s → %d jobs to %d destinations: %s", v.Repository, short(v.Digest), strings.Join(v.Tags, ", "), len(v.Jobs), len(ds), list(ds))
		}
		return fmt.Sprintf("%s:%s = %s → %d destinations: %s", v.Repository, v.Tag, short(v.Digest), len(v.Jobs), list(ds))
	case "Check gates":
		var g struct {
			Gate struct{ Status, Reason string } `json:"gate"`
		}
		_ = json.Unmarshal(out, &g)
		if g.Gate.Status == "blocked" {
			return "blocked"
		}
		return g.Gate.Status + ": " + g.Gate.Reason
	case "Wait for approval":
		if v.Approval != nil {
			return v.Approval.Decision
		}
	case "AssumeRole":
		if v.Role != nil {
			return v.Role.RoleARN
		}
	case "EnsureRepository":
		var r struct {
			Repository struct{ Name, Status, Message string } `json:"repository"`
		}
		_ = json.Unmarshal(out, &r)
		return fmt.Sprintf("%s %s: %s", r.Repository.Name, r.Repository.Status, r.Repository.Message)
	case "CopyImage":
		if c := v.Copy; c != nil {
			if c.Status == "unchanged" {
				return "unchanged: everything was already there, nothing written"
			}
			switch c.Status {
			case "superseded", "skipped", "untagged":
				return c.Status + ": " + c.Reason
			}
			if v.Action == "referrers" {
				return fmt.Sprintf("copied %s (%s) to the image already there", progress.Count(int64(c.Referrers), "referrer"), progress.Size(c.BytesCopied))
			}
			return fmt.Sprintf("copied %s: %s, %s, %s", progress.Size(c.BytesCopied), progress.Count(int64(c.BlobsCopied), "blob"),
				progress.Count(int64(c.Manifests), "manifest"), progress.Count(int64(c.Referrers), "referrer"))
		}
	case "Verify", "Already replicated?":
		for _, st := range []string{"superseded", "skipped", "untagged"} {
			if c := v.Copy; (c != nil && c.Status == st) || v.Status == st {
				return "nothing to verify (" + st + ")"
			}
		}
		if v.Status == "copied" {
			// Verify's output is the iteration's outcome.
			return "verified: tag, manifests, blobs and referrers present; " + progress.Size(v.Bytes) + " copied"
		}
		if v.Status == "unchanged" {
			return "verified: tag, manifests, blobs and referrers present; nothing needed copying"
		}
		if x := v.Verify; x != nil {
			return fmt.Sprintf("tag → %s; %d manifests, %d blobs, %d referrers present", short(x.Digest), x.Manifests, x.Blobs, x.Referrers)
		}
	case "Discover", "Add approved jobs", reconcileSettleState, reconcileMapState:
		return reconcileGist(state, out)
	case "Summarize":
		if g := reconcileGist(state, out); g != "" {
			return g
		}
		s := fmt.Sprintf("%s: %d copied, %d unchanged, %d failed", v.Outcome, v.Copied, v.Unchanged, v.Failed)
		if n := skippedJobs(out); n > 0 || v.Untagged > 0 {
			s = fmt.Sprintf("%s: %d copied, %d unchanged, %d untagged, %d skipped, %d failed", v.Outcome, v.Copied, v.Unchanged, v.Untagged, n, v.Failed)
		}
		if v.Blocked > 0 {
			s += fmt.Sprintf(", %d blocked by a gate", v.Blocked)
		}
		if v.Attempt > 0 {
			s += fmt.Sprintf(" (after redrive %d)", v.Attempt)
		}
		return s
	case settleState:
		var ds []string
		for _, j := range v.Jobs {
			ds = append(ds, j.Destination)
		}
		return fmt.Sprintf("redrive: %d failed destination(s) go through the Map again: %s", len(v.Jobs), list(ds))
	}
	return ""
}

// skippedJobs is a summary's count of skipped jobs (a plan's "skipped" is
// a boolean).
func skippedJobs(out json.RawMessage) int {
	var v struct {
		Skipped int `json:"skipped"`
	}
	_ = json.Unmarshal(out, &v)
	return v.Skipped
}

// reconcileGist is a reconcile state's output in a few words.
func reconcileGist(state string, out json.RawMessage) string {
	var v struct {
		DryRun    bool           `json:"dryRun"`
		Jobs      *int           `json:"jobs"`
		States    map[string]int `json:"states"`
		Counts    map[string]int `json:"counts"`
		Bucket    string         `json:"bucket"`
		PlanKey   string         `json:"planKey"`
		JobsKey   string         `json:"jobsKey"`
		Approvals []struct {
			Destination string `json:"destination"`
			Images      int    `json:"images"`
		} `json:"approvals"`
		NotApproved int    `json:"notApproved"`
		Outcome     string `json:"outcome"`
		Attempt     int    `json:"attempt"`
		SummaryKey  string `json:"summaryKey"`
		Results     *struct {
			ResultWriterDetails struct{ Bucket, Key string }
		} `json:"results"`
	}
	if json.Unmarshal(out, &v) != nil {
		return ""
	}
	counts := func(m map[string]int) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if m[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
			}
		}
		if len(parts) == 0 {
			return "nothing"
		}
		return strings.Join(parts, ", ")
	}
	switch {
	case state == "Summarize" && v.Counts != nil:
		s := fmt.Sprintf("%s: %s; s3://%s/%s", v.Outcome, counts(v.Counts), v.Bucket, v.SummaryKey)
		if v.Attempt > 0 {
			s += fmt.Sprintf(" (after redrive %d)", v.Attempt)
		}
		return s
	case state == reconcileMapState && v.Results != nil:
		return fmt.Sprintf("results in s3://%s/%s", v.Results.ResultWriterDetails.Bucket, v.Results.ResultWriterDetails.Key)
	case v.Jobs == nil:
		return ""
	case state == reconcileSettleState:
		return fmt.Sprintf("redrive: the %d failed jobs go through the Map again (s3://%s/%s)", *v.Jobs, v.Bucket, v.JobsKey)
	case v.DryRun:
		return fmt.Sprintf("dry run: %s; plan in s3://%s/%s", counts(v.States), v.Bucket, v.PlanKey)
	}
	s := fmt.Sprintf("%d jobs (%s)", *v.Jobs, counts(v.States))
	for _, a := range v.Approvals {
		s += fmt.Sprintf("; %s waits for approval of %d images", a.Destination, a.Images)
	}
	if v.NotApproved > 0 {
		s += fmt.Sprintf("; %d images not approved", v.NotApproved)
	}
	return s
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
