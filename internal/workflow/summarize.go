package workflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/imagecopy"
)

// Summarize is three states of the state machine, served by one Lambda:
//
//   - "Destination failed", in each Map iteration that failed, turns the
//     iteration's state into its Outcome: the status, the error and a
//     reason short enough for every job's outcome to fit in the Map's
//     output (Outcome).
//   - Summarize turns the outcomes of a pass into the run's summary. It
//     does not fail.
//   - "Some destinations failed" (Settle) runs after it when a destination
//     failed. On the pass that produced the failures it fails the run with
//     a ReplicationFailed error whose cause names each failed destination
//     and why. Because it is a Task and not a Fail state, a Redrive of the
//     execution re-runs it, with the same input and a higher
//     $$.Execution.RedriveCount: it then returns the plan of the next pass,
//     which holds only the failed destinations, and the state machine
//     replicates just those again. Destinations that succeeded are not
//     touched; an approval already given is not asked for again.
//
// Step Functions allows 256 KiB in a state's input or output; the local
// runner does not enforce it. Every state of a run is kept within it:
// Validate refuses a plan whose jobs' outcomes could not fit (checkSize),
// a failed job's outcome keeps at most the plan's ReasonLimit bytes of
// error text, and the summary shortens its reasons until it fits.
type Summarize struct{ log *slog.Logger }

// NewSummarize returns the Summarize step.
func NewSummarize(logger *slog.Logger) *Summarize { return &Summarize{log: logger} }

// Invoke is the Lambda's entry point: an OutcomeRequest when the payload
// has "outcome", a SettleRequest when it has "failed", a SummarizeRequest
// otherwise.
func (s *Summarize) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Failed  json.RawMessage `json:"failed"`
		Outcome json.RawMessage `json:"outcome"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, &ValidationError{Msg: "summarize: payload is not a JSON object: " + err.Error()}
	}
	switch {
	case len(probe.Outcome) > 0:
		var req OutcomeRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, &ValidationError{Msg: "summarize: " + err.Error()}
		}
		return s.Outcome(ctx, req)
	case len(probe.Failed) > 0:
		var req SettleRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, &ValidationError{Msg: "summarize: " + err.Error()}
		}
		return s.Settle(ctx, req)
	}
	var req SummarizeRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, &ValidationError{Msg: "summarize: " + err.Error()}
	}
	return s.Handle(ctx, req)
}

// OutcomeRequest is the payload of "Destination failed": the iteration's
// state, with the error its Catch recorded.
type OutcomeRequest struct {
	Outcome Replication `json:"outcome"`
}

// Outcome is the "Destination failed" state: the outcome of a Map
// iteration that failed or was not approved. The reason is the error's
// message, shortened (from the middle, which keeps what was being done and
// the root cause at the end) to what planned outcomes of this size leave
// each (Plan.ReasonLimit).
func (s *Summarize) Outcome(ctx context.Context, req OutcomeRequest) (Outcome, error) {
	r := req.Outcome
	if r.Job.Destination == "" {
		return Outcome{}, &ValidationError{Msg: "summarize: the failed iteration's state has no job"}
	}
	o := Outcome{Destination: r.Job.Destination}
	if r.Precheck != nil {
		// Asked in this pass (the check before asking found the image
		// missing). An approval handed back by a redrive is in the job the
		// plan lists, so the outcome does not repeat it.
		o.Approval = r.Approval.forRedrive()
	}
	if r.Error == nil {
		o.Status, o.Error, o.Reason = StatusFailed, "NoResult", "the iteration ended without a copy result"
		return o, nil
	}
	o.Status, o.Error = failureStatus(r), r.Error.Error
	reason := causeMessage(r.Error.Cause)
	limit := r.ReasonLimit
	if limit <= 0 {
		limit = maxReason
	}
	o.Reason = clipJSON(reason, limit)
	s.log.InfoContext(ctx, "destination failed", slog.String("execution", r.Job.Execution), slog.String("destination", r.Job.Destination),
		slog.String("repository", r.Job.Repository), slog.String("tag", r.Job.Tag), slog.String("status", o.Status),
		slog.String("error", o.Error), slog.String("reason", reason))
	return o, nil
}

// UnmarshalJSON accepts {"plan", "results", "earlier", "attempt"} and the
// state machine's form {"run": <the whole state>, "attempt"}, where the
// state is the plan's fields with "results" and, after a redrive, "earlier".
func (r *SummarizeRequest) UnmarshalJSON(b []byte) error {
	type plain SummarizeRequest
	var v struct {
		plain
		Run json.RawMessage `json:"run"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = SummarizeRequest(v.plain)
	if len(v.Run) == 0 {
		return nil
	}
	var run struct {
		Results []Outcome `json:"results"`
		Earlier *Summary  `json:"earlier"`
	}
	if err := json.Unmarshal(v.Run, &r.Plan); err != nil {
		return err
	}
	if err := json.Unmarshal(v.Run, &run); err != nil {
		return err
	}
	r.Results, r.Earlier = run.Results, run.Earlier
	return nil
}

// Handle is the Summarize state.
func (s *Summarize) Handle(ctx context.Context, req SummarizeRequest) (Summary, error) {
	p := req.Plan
	if len(req.Results) != len(p.Jobs) {
		return Summary{}, &ValidationError{Msg: fmt.Sprintf("summarize: %d results for %d jobs; the Map returns one per job", len(req.Results), len(p.Jobs))}
	}
	sum := Summary{Execution: p.Execution, Repository: p.Repository, Tag: p.Tag, Tags: p.Tags, Digest: p.Digest, Outcome: "succeeded",
		Destinations: []DestinationOutcome{}, Attempt: req.Attempt, Trigger: p.Trigger, Action: p.Action, PushedAt: p.PushedAt, Source: p.Source, Referrer: p.Referrer}
	// This pass's outcomes replace the earlier pass's for the jobs it
	// replicated again; the others keep theirs. A job is its destination
	// and image: a digest's tags are a job each.
	type key struct{ destination, image string }
	this := map[key]DestinationOutcome{}
	var order []key
	metrics := newRunMetrics(p.Execution) // this pass's outcomes only: a redrive's earlier ones were counted
	for i, r := range req.Results {
		j := p.Jobs[i]
		if r.Destination != j.Destination {
			return Summary{}, &ValidationError{Msg: fmt.Sprintf("summarize: result %d is for %s, job %d for %s; the Map returns the results in job order", i, r.Destination, i, j.Destination)}
		}
		o := outcome(j, r)
		metrics.outcome(o.Destination, o.Status, o.BytesCopied, o.LagMs)
		k := key{o.Destination, o.Image}
		if _, dup := this[k]; !dup {
			order = append(order, k)
		}
		this[k] = o
		if isFailure(o.Status) {
			retry := j
			if r.Approval != nil {
				retry.Approval = r.Approval
			}
			sum.Retry = append(sum.Retry, retry)
		}
	}
	var all []DestinationOutcome
	if req.Earlier != nil {
		for _, o := range req.Earlier.Destinations {
			k := key{o.Destination, o.Image}
			if n, ok := this[k]; ok {
				o = n
				delete(this, k)
			}
			all = append(all, o)
		}
	}
	for _, k := range order {
		if o, ok := this[k]; ok {
			all = append(all, o)
		}
	}
	var failures []DestinationOutcome
	for _, o := range all {
		switch {
		case isFailure(o.Status):
			sum.Failed++
			failures = append(failures, o)
		case o.Status == StatusCopied:
			sum.Copied++
			sum.BytesCopied += o.BytesCopied
		case o.Status == StatusSkipped:
			sum.Skipped++
		case o.Status == StatusUntagged:
			sum.Untagged++
		case o.Status == StatusBlocked:
			sum.Blocked++
		default:
			sum.Unchanged++
		}
		sum.Destinations = append(sum.Destinations, o)
	}
	if sum.Failed > 0 {
		sum.Outcome = "failed"
		sum.Cause = failureCause(failures, len(all), len(p.Tags) > 1)
	}
	fitSummary(&sum)
	metrics.emit(ctx, s.log, time.Now())
	s.log.InfoContext(ctx, "run summarized", slog.String("execution", p.Execution), slog.String("repository", p.Repository),
		slog.String("tag", p.Tag), slog.String("digest", p.Digest), slog.String("outcome", sum.Outcome), slog.Int("attempt", sum.Attempt),
		slog.Int("copied", sum.Copied), slog.Int("unchanged", sum.Unchanged), slog.Int("skipped", sum.Skipped), slog.Int("untagged", sum.Untagged),
		slog.Int("blocked", sum.Blocked), slog.Int("failed", sum.Failed))
	return sum, nil
}

// outcome is one job's line in the summary.
func outcome(j PlannedJob, r Outcome) DestinationOutcome {
	o := DestinationOutcome{Destination: j.Destination, Image: j.Repository + ":" + j.Tag, Status: r.Status,
		BytesCopied: r.BytesCopied, DurationMs: r.DurationMs, LagMs: r.LagMs, Error: r.Error, Reason: r.Reason}
	switch {
	case r.Status == "":
		o.Status, o.Error, o.Reason = StatusFailed, "NoResult", "the iteration ended without a copy result"
	case r.Status == StatusSuperseded && o.Reason == "":
		o.Reason = "the source tag now points at a later push, whose own run copies it; nothing written"
	}
	if o.Status != StatusCopied {
		o.BytesCopied = 0
	}
	return o
}

func isFailure(status string) bool {
	return status == StatusFailed || status == StatusRejected || status == StatusTimedOut
}

func failureStatus(r Replication) string {
	if r.Approval == nil && r.Job.ApprovalRequired && r.Role == nil && r.Precheck != nil {
		switch r.Error.Error {
		case ErrorApprovalRejected:
			return StatusRejected
		case "States.Timeout", "States.HeartbeatTimeout":
			return StatusTimedOut
		}
	}
	return StatusFailed
}

// causeMessage extracts the message from a Catch's Cause: a Lambda error
// arrives as JSON {"errorMessage", "errorType", ...}.
func causeMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	if cause == "" {
		return "no cause given"
	}
	return cause
}

// SettleRequest is the payload of "Some destinations failed": the summary
// of the last pass and $$.Execution.RedriveCount now.
type SettleRequest struct {
	Failed       Summary `json:"failed"`
	RedriveCount int     `json:"redriveCount"`
}

// NextPass is what Settle returns after a redrive: the plan of a pass over
// the failed destinations only, with the summary so far. Earlier keeps the
// outcomes of the destinations that did not fail (the failed ones get new
// outcomes in this pass); counts and cause are worked out again.
type NextPass struct {
	Execution   string              `json:"execution"`
	Trigger     string              `json:"trigger"`
	Action      string              `json:"action"`
	PushedAt    string              `json:"pushedAt"`
	Source      string              `json:"source"`
	Repository  string              `json:"repository"`
	Tag         string              `json:"tag"`
	Tags        []string            `json:"tags,omitempty"`
	Digest      string              `json:"digest"`
	Referrer    *imagecopy.Referrer `json:"referrer,omitempty"`
	Skipped     bool                `json:"skipped"`
	ReasonLimit int                 `json:"reasonLimit"`
	Jobs        []PlannedJob        `json:"jobs"`
	Earlier     Summary             `json:"earlier"`
}

// ReplicationFailed is the run's error when a destination failed. Its
// message names each failed destination and why.
type ReplicationFailed struct{ Cause string }

func (e *ReplicationFailed) Error() string { return e.Cause }

// Settle is the "Some destinations failed" state. On the pass whose
// summary it gets it fails the run; after a redrive it returns the next
// pass, over the failed destinations only.
func (s *Summarize) Settle(ctx context.Context, req SettleRequest) (NextPass, error) {
	sum := req.Failed
	if sum.Failed == 0 || len(sum.Retry) == 0 {
		return NextPass{}, &ValidationError{Msg: "settle: the summary has no failed destination to fail the run for or to replicate again"}
	}
	if req.RedriveCount <= sum.Attempt {
		s.log.WarnContext(ctx, "run failed", slog.String("execution", sum.Execution), slog.String("repository", sum.Repository),
			slog.String("tag", sum.Tag), slog.String("digest", sum.Digest), slog.Int("attempt", sum.Attempt), slog.Int("failed", sum.Failed))
		return NextPass{}, &ReplicationFailed{Cause: sum.Cause}
	}
	next := NextPass{Execution: sum.Execution, Trigger: sum.Trigger, Action: cmp.Or(sum.Action, ActionCopy), PushedAt: sum.PushedAt, Referrer: sum.Referrer, Source: sum.Source, Repository: sum.Repository,
		Tag: sum.Tag, Tags: sum.Tags, Digest: sum.Digest, Jobs: sum.Retry, Earlier: sum}
	next.Earlier.Retry, next.Earlier.Cause = nil, ""
	next.Earlier.Destinations = []DestinationOutcome{}
	for _, o := range sum.Destinations {
		if !isFailure(o.Status) {
			next.Earlier.Destinations = append(next.Earlier.Destinations, o)
		}
	}
	b, _ := json.Marshal(next)
	next.ReasonLimit = max(reasonLimit(len(b), next.Jobs), minReason)
	var names []string
	for _, j := range sum.Retry {
		names = append(names, j.Destination)
	}
	s.log.InfoContext(ctx, "redrive: replicating the failed destinations again", slog.String("execution", sum.Execution),
		slog.String("repository", sum.Repository), slog.String("tag", sum.Tag), slog.String("digest", sum.Digest),
		slog.Int("redriveCount", req.RedriveCount), slog.String("destinations", strings.Join(names, ", ")))
	return next, nil
}

// Sizes that keep every state within Step Functions' limit.
const (
	// StateLimit is the most a state's input or output may hold.
	StateLimit = 256 << 10
	// stateBudget is what a state of a run may use: the limit less room
	// for what Ferry does not count exactly (the fields beside the jobs,
	// JSON punctuation).
	stateBudget = StateLimit - 8<<10
	// minReason and maxReason bound a failed job's error text.
	minReason = 48
	maxReason = 1024
	// causeBudget bounds the run's cause: Step Functions keeps at most
	// 32,768 characters of an error's cause, and the Lambda error document
	// escapes some of them.
	causeBudget = 24 << 10
	// maxErrorName is the longest error name counted for an outcome
	// ("Lambda.TooManyRequestsException" is 31).
	maxErrorName = 40
)

// outcomeBytes is the most a job's outcome takes in the Map's output
// without its reason: a failure with the longest status and error name,
// and the approval given for it unless the job came with one. (A success,
// with bytes and duration but no error, is smaller.)
func outcomeBytes(j PlannedJob) int {
	o := Outcome{Destination: j.Destination, Status: StatusTimedOut, Error: strings.Repeat("E", maxErrorName)}
	if j.ApprovalRequired && j.Approval == nil {
		o.Approval = &ApprovalDecision{Decision: "approved", DecidedAt: time.Date(2000, 1, 1, 0, 0, 0, 999999999, time.UTC), Via: "signed link"}
	}
	failed, _ := json.Marshal(o)
	// What Verify's ResultSelector makes, its reason (the copy's brief)
	// empty: reasons are counted by reasonLimit, as a failure's are.
	done, _ := json.Marshal(map[string]any{"destination": j.Destination, "status": StatusSuperseded, "reason": "",
		"bytesCopied": int64(1) << 40, "durationMs": int64(1) << 30, "lagMs": int64(1) << 40})
	return max(len(failed), len(done)) + 1 // and a comma
}

// brief is a reason as an iteration's outcome keeps it: shortened to the
// plan's reasonLimit (see Plan.ReasonLimit).
func brief(reason string, limit int) string {
	if limit <= 0 {
		limit = maxReason
	}
	return clipJSON(reason, limit)
}

// reasonLimit is how many bytes of error text each of jobs' outcomes may
// keep when the state already holds planBytes (the plan with jobs): what
// stateBudget leaves, shared out, at most maxReason. Below minReason the
// plan is too large to run (Validate refuses it).
func reasonLimit(planBytes int, jobs []PlannedJob) int {
	if len(jobs) == 0 {
		return maxReason
	}
	left := stateBudget - planBytes - len(`,"results":[]`)
	for _, j := range jobs {
		left -= outcomeBytes(j)
	}
	return min(left/len(jobs), maxReason)
}

// clip shortens s to at most n bytes, from the middle: the start says what
// was being done and the end, in a wrapped Go error, the root cause.
func clip(s string, n int) string {
	const gap = " … "
	if len(s) <= n {
		return s
	}
	if n <= len(gap)+2 {
		return cutUTF8(s, n)
	}
	head := (n - len(gap)) * 2 / 5
	tail := n - len(gap) - head
	h := cutUTF8(s, head)
	t := s[len(s)-tail:]
	for len(t) > 0 && !utf8.RuneStart(t[0]) {
		t = t[1:]
	}
	return h + gap + t
}

// clipJSON is clip(s, n), shortened further until it takes at most n bytes
// as a JSON string's contents (quotes and some characters are escaped).
func clipJSON(s string, n int) string {
	c := clip(s, n)
	for m := n; ; {
		b, _ := json.Marshal(c)
		enc := len(b) - 2
		if enc <= n || m == 0 {
			return c
		}
		m = max(0, min(m-1, m*n/enc))
		c = clip(s, m)
	}
}

// cutUTF8 is s cut to at most n bytes, on a character boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// failureCause names each failed destination and why, within causeBudget:
// when the reasons do not all fit, each is shortened; when not even that
// fits, the destinations are listed by status and error name; past that,
// the last are counted instead of named. withImage names each failure's
// image too (a digest's tags are a job each).
func failureCause(failures []DestinationOutcome, total int, withImage bool) string {
	head := fmt.Sprintf("%d of %d destinations failed: ", len(failures), total)
	name := func(o DestinationOutcome) string { return o.Destination }
	if withImage {
		head = fmt.Sprintf("%d of %d jobs failed: ", len(failures), total)
		name = func(o DestinationOutcome) string { return o.Destination + " " + o.Image }
	}
	for _, reason := range []int{maxReason, 512, 256, 128, 64} {
		parts := make([]string, len(failures))
		for i, o := range failures {
			parts[i] = fmt.Sprintf("%s %s (%s: %s)", name(o), o.Status, o.Error, clip(o.Reason, reason))
		}
		if c := head + strings.Join(parts, "; "); len(c) <= causeBudget {
			return c
		}
	}
	// By status and error, in order of first appearance.
	type group struct{ status, err string }
	var groups []group
	names := map[group][]string{}
	for _, o := range failures {
		g := group{o.Status, o.Error}
		if _, ok := names[g]; !ok {
			groups = append(groups, g)
		}
		names[g] = append(names[g], name(o))
	}
	var b strings.Builder
	b.WriteString(head)
	left := len(failures)
	for gi, g := range groups {
		label := fmt.Sprintf("%s (%s): ", g.status, g.err)
		if gi > 0 {
			label = "; " + label
		}
		for i, n := range names[g] {
			more := fmt.Sprintf("; and %d more (the summary's destinations list each)", left)
			part := n
			if i == 0 {
				part = label + n
			} else {
				part = ", " + n
			}
			if b.Len()+len(part)+len(more) > causeBudget {
				b.WriteString(more)
				return b.String()
			}
			b.WriteString(part)
			left--
		}
	}
	return b.String()
}

// fitSummary shortens the reasons in sum until it fits in stateBudget.
func fitSummary(sum *Summary) {
	full := make([]string, len(sum.Destinations))
	for i, o := range sum.Destinations {
		full[i] = o.Reason
	}
	for _, n := range []int{maxReason, 512, 256, 128, 64, 32, 0} {
		for i := range sum.Destinations {
			sum.Destinations[i].Reason = clipJSON(full[i], n)
		}
		if b, _ := json.Marshal(sum); len(b) <= stateBudget {
			return
		}
	}
}
