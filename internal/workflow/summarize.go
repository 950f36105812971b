package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// Summarize turns the per-destination results into the run's summary. It
// does not fail: the state machine fails the run after it, with the
// summary's cause, when any destination failed.
type Summarize struct{ log *slog.Logger }

// NewSummarize returns the Summarize step.
func NewSummarize(logger *slog.Logger) *Summarize { return &Summarize{log: logger} }

// Handle is the Lambda handler.
func (s *Summarize) Handle(ctx context.Context, req SummarizeRequest) (Summary, error) {
	p := req.Plan
	sum := Summary{Execution: p.Execution, Repository: p.Repository, Tag: p.Tag, Digest: p.Digest, Outcome: "succeeded", Destinations: []DestinationOutcome{}}
	var failures []string
	for _, r := range req.Results {
		o := DestinationOutcome{Destination: r.Job.Destination, Image: r.Job.Repository + ":" + r.Job.Tag}
		switch {
		case r.Error != nil:
			o.Status, o.Error, o.Reason = failureStatus(r), r.Error.Error, causeMessage(r.Error.Cause)
			sum.Failed++
			failures = append(failures, fmt.Sprintf("%s %s (%s: %s)", o.Destination, o.Status, o.Error, o.Reason))
		case r.Copy == nil && r.Verify != nil && r.Verify.Verified:
			o.Status, o.Reason = StatusUnchanged, "already complete in the destination; no approval needed"
			sum.Unchanged++
		case r.Copy != nil && r.Copy.Status == StatusUnchanged:
			o.Status, o.DurationMs = StatusUnchanged, r.Copy.DurationMs
			sum.Unchanged++
		case r.Copy != nil:
			o.Status, o.BytesCopied, o.DurationMs = StatusCopied, r.Copy.BytesCopied, r.Copy.DurationMs
			sum.Copied++
			sum.BytesCopied += r.Copy.BytesCopied
		default:
			o.Status, o.Reason = StatusFailed, "the iteration ended without a copy result"
			sum.Failed++
			failures = append(failures, o.Destination+" failed (no copy result)")
		}
		sum.Destinations = append(sum.Destinations, o)
	}
	if sum.Failed > 0 {
		sum.Outcome = "failed"
		sum.Cause = fmt.Sprintf("%d of %d destinations failed: %s", sum.Failed, len(req.Results), strings.Join(failures, "; "))
	}
	s.log.InfoContext(ctx, "run summarized", slog.String("execution", p.Execution), slog.String("repository", p.Repository),
		slog.String("tag", p.Tag), slog.String("digest", p.Digest), slog.String("outcome", sum.Outcome),
		slog.Int("copied", sum.Copied), slog.Int("unchanged", sum.Unchanged), slog.Int("failed", sum.Failed))
	return sum, nil
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
