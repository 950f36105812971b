package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// Summarize is two states of the state machine, served by one Lambda:
//
//   - Summarize turns the per-destination results of a pass into the run's
//     summary. It does not fail.
//   - "Some destinations failed" (Settle) runs after it when a destination
//     failed. On the pass that produced the failures it fails the run with
//     a ReplicationFailed error whose cause names each failed destination
//     and why. Because it is a Task and not a Fail state, a Redrive of the
//     execution re-runs it, with the same input and a higher
//     $$.Execution.RedriveCount: it then returns the plan of the next pass,
//     which holds only the failed destinations, and the state machine
//     replicates just those again. Destinations that succeeded are not
//     touched; an approval already given is not asked for again.
type Summarize struct{ log *slog.Logger }

// NewSummarize returns the Summarize step.
func NewSummarize(logger *slog.Logger) *Summarize { return &Summarize{log: logger} }

// Invoke is the Lambda's entry point: a SettleRequest when the payload has
// "failed", a SummarizeRequest otherwise.
func (s *Summarize) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Failed json.RawMessage `json:"failed"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, &ValidationError{Msg: "summarize: payload is not a JSON object: " + err.Error()}
	}
	if len(probe.Failed) > 0 {
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
		Results []Replication `json:"results"`
		Earlier *Summary      `json:"earlier"`
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
	sum := Summary{Execution: p.Execution, Repository: p.Repository, Tag: p.Tag, Digest: p.Digest, Outcome: "succeeded",
		Destinations: []DestinationOutcome{}, Attempt: req.Attempt, Trigger: p.Trigger, Source: p.Source}
	// This pass's outcomes replace the earlier pass's for the destinations
	// it replicated again; the others keep theirs.
	this := map[string]DestinationOutcome{}
	var order []string
	for _, r := range req.Results {
		o := outcome(r)
		if _, dup := this[o.Destination]; !dup {
			order = append(order, o.Destination)
		}
		this[o.Destination] = o
		if isFailure(o.Status) {
			sum.Retry = append(sum.Retry, RetryJob{Job: r.Job, Approval: r.Approval})
		}
	}
	var all []DestinationOutcome
	if req.Earlier != nil {
		for _, o := range req.Earlier.Destinations {
			if n, ok := this[o.Destination]; ok {
				o = n
				delete(this, o.Destination)
			}
			all = append(all, o)
		}
	}
	for _, d := range order {
		if o, ok := this[d]; ok {
			all = append(all, o)
		}
	}
	var failures []string
	for _, o := range all {
		switch {
		case isFailure(o.Status):
			sum.Failed++
			failures = append(failures, fmt.Sprintf("%s %s (%s: %s)", o.Destination, o.Status, o.Error, o.Reason))
		case o.Status == StatusCopied:
			sum.Copied++
			sum.BytesCopied += o.BytesCopied
		default:
			sum.Unchanged++
		}
		sum.Destinations = append(sum.Destinations, o)
	}
	if sum.Failed > 0 {
		sum.Outcome = "failed"
		sum.Cause = fmt.Sprintf("%d of %d destinations failed: %s", sum.Failed, len(all), strings.Join(failures, "; "))
	}
	s.log.InfoContext(ctx, "run summarized", slog.String("execution", p.Execution), slog.String("repository", p.Repository),
		slog.String("tag", p.Tag), slog.String("digest", p.Digest), slog.String("outcome", sum.Outcome), slog.Int("attempt", sum.Attempt),
		slog.Int("copied", sum.Copied), slog.Int("unchanged", sum.Unchanged), slog.Int("failed", sum.Failed))
	return sum, nil
}

// outcome is one destination's line in the summary.
func outcome(r Replication) DestinationOutcome {
	o := DestinationOutcome{Destination: r.Job.Destination, Image: r.Job.Repository + ":" + r.Job.Tag}
	switch {
	case r.Error != nil:
		o.Status, o.Error, o.Reason = failureStatus(r), r.Error.Error, causeMessage(r.Error.Cause)
	case r.Copy == nil && r.Verify != nil && r.Verify.Verified:
		o.Status, o.Reason = StatusUnchanged, "already complete in the destination; no approval needed"
	case r.Copy != nil && r.Copy.Status == StatusSuperseded:
		o.Status, o.Reason = StatusSuperseded, r.Copy.Reason
	case r.Copy != nil && r.Copy.Status == StatusUnchanged:
		o.Status, o.DurationMs = StatusUnchanged, r.Copy.DurationMs
	case r.Copy != nil:
		o.Status, o.BytesCopied, o.DurationMs = StatusCopied, r.Copy.BytesCopied, r.Copy.DurationMs
	default:
		o.Status, o.Error, o.Reason = StatusFailed, "NoResult", "the iteration ended without a copy result"
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

// RetryJob is a failed destination's job, as the pass after a redrive gets
// it: the job's fields, and the approval a person already gave for it in
// this execution (the state machine then does not ask again).
type RetryJob struct {
	Job
	Approval *ApprovalDecision `json:"approval,omitempty"`
}

// SettleRequest is the payload of "Some destinations failed": the summary
// of the last pass and $$.Execution.RedriveCount now.
type SettleRequest struct {
	Failed       Summary `json:"failed"`
	RedriveCount int     `json:"redriveCount"`
}

// NextPass is what Settle returns after a redrive: the plan of a pass over
// the failed destinations only, with the summary so far.
type NextPass struct {
	Execution  string     `json:"execution"`
	Trigger    string     `json:"trigger"`
	Source     string     `json:"source"`
	Repository string     `json:"repository"`
	Tag        string     `json:"tag"`
	Digest     string     `json:"digest"`
	Skipped    bool       `json:"skipped"`
	Jobs       []RetryJob `json:"jobs"`
	Earlier    Summary    `json:"earlier"`
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
	next := NextPass{Execution: sum.Execution, Trigger: sum.Trigger, Source: sum.Source, Repository: sum.Repository,
		Tag: sum.Tag, Digest: sum.Digest, Jobs: sum.Retry, Earlier: sum}
	next.Earlier.Retry, next.Earlier.Cause = nil, ""
	var names []string
	for _, j := range sum.Retry {
		names = append(names, j.Destination)
	}
	s.log.InfoContext(ctx, "redrive: replicating the failed destinations again", slog.String("execution", sum.Execution),
		slog.String("repository", sum.Repository), slog.String("tag", sum.Tag), slog.String("digest", sum.Digest),
		slog.Int("redriveCount", req.RedriveCount), slog.String("destinations", strings.Join(names, ", ")))
	return next, nil
}
