// Package status lists recent executions of Ferry's state machines, what
// each replicated where, and how to redrive those that failed: from Step
// Functions' API for the deployed stack (FromSFN), or from the files a local
// run (ferry run --record) wrote (FromRecords). Write prints a report for a
// person; a Report's JSON is for scripts.
package status

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// Report is what ferry status shows. Its JSON form is stable: fields are
// only ever added.
type Report struct {
	// Source is "aws" (Step Functions' API) or "local" (ferry run --record
	// files).
	Source string    `json:"source"`
	Since  time.Time `json:"since"`
	// StateMachines are the state machines read (aws), Records the files
	// (local).
	StateMachines []string `json:"stateMachines,omitempty"`
	Records       []string `json:"records,omitempty"`
	// Executions started at or after Since, newest first.
	Executions []Execution `json:"executions"`
}

// Execution is one execution of the replicate or reconcile state machine.
type Execution struct {
	// StateMachine is the state machine's name ("Ferry-replicate").
	StateMachine string `json:"stateMachine"`
	// Kind is "replicate" or "reconcile".
	Kind string `json:"kind"`
	ARN  string `json:"executionArn"`
	Name string `json:"name"`
	// Status is Step Functions' status: RUNNING, SUCCEEDED, FAILED,
	// TIMED_OUT, ABORTED or PENDING_REDRIVE.
	Status       string     `json:"status"`
	Start        time.Time  `json:"startDate"`
	Stop         *time.Time `json:"stopDate,omitempty"`
	RedriveCount int        `json:"redriveCount"`
	// Image is what a replicate execution was about, repository:tag or
	// repository@digest in the source; Digest the digest it resolved.
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Destinations are the per-destination outcomes of the last pass that
	// reached Summarize; none if the execution ended before it.
	Destinations []Destination `json:"destinations"`
	// Failed lists the destinations that failed (failed, rejected or
	// approval timed out).
	Failed []string `json:"failed"`
	// Counts are a reconcile's job counts by outcome.
	Counts map[string]int `json:"counts,omitempty"`
	// Error and Cause are the execution's, when it failed.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// Redrive is the command that redrives it (only the failed
	// destinations are replicated again); "" when it cannot be redriven,
	// and then NotRedrivable says why, for an execution that failed.
	Redrive       string `json:"redrive,omitempty"`
	NotRedrivable string `json:"notRedrivable,omitempty"`
	// Record is the file a local execution was read from.
	Record string `json:"record,omitempty"`
}

// Destination is one destination's outcome in an execution.
type Destination struct {
	Destination string `json:"destination"`     // account/region
	Image       string `json:"image"`           // repository:tag in the destination
	Status      string `json:"status"`          // copied, unchanged, failed, ... (workflow's statuses)
	Error       string `json:"error,omitempty"` // the error's type name, for a failure
	Reason      string `json:"reason,omitempty"`
}

// Unsuccessful reports whether an execution ended without succeeding (it
// failed, timed out or was aborted).
func (e Execution) Unsuccessful() bool {
	switch e.Status {
	case "FAILED", "TIMED_OUT", "ABORTED":
		return true
	}
	return false
}

// isFailure is the set of destination statuses Summarize counts as failed
// (workflow's isFailure).
func isFailure(status string) bool {
	switch status {
	case workflow.StatusFailed, workflow.StatusRejected, workflow.StatusTimedOut:
		return true
	}
	return false
}

// SummarizeState is the name of the state whose output is the run's
// summary, in both state machines.
const SummarizeState = "Summarize"

// kindOf tells a reconcile state machine from a replicate one by name.
func kindOf(stateMachine string) string {
	if strings.HasSuffix(stateMachine, "-reconcile") {
		return "reconcile"
	}
	return "replicate"
}

// stateMachineOf returns the state machine's name in an execution ARN
// (arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME).
func stateMachineOf(executionARN string) string {
	parts := strings.Split(executionARN, ":")
	if len(parts) >= 8 && parts[5] == "execution" {
		return parts[6]
	}
	return ""
}

// fill sets what the execution's input and its summary (the Summarize
// state's output, or nil) say: the image, the outcomes and the failed
// destinations.
func (e *Execution) fill(input, summary json.RawMessage) {
	e.Kind = kindOf(e.StateMachine)
	e.Destinations, e.Failed = []Destination{}, []string{}
	if e.Kind == "reconcile" {
		var s struct {
			Counts map[string]int `json:"counts"`
		}
		if json.Unmarshal(summary, &s) == nil {
			e.Counts = s.Counts
		}
		return
	}
	e.Image = imageOfInput(input)
	var s workflow.Summary
	if len(summary) == 0 || json.Unmarshal(summary, &s) != nil || s.Repository == "" {
		return
	}
	e.Image, e.Digest = image(s.Repository, s.Tag, s.Digest), s.Digest
	for _, d := range s.Destinations {
		e.Destinations = append(e.Destinations, Destination{Destination: d.Destination, Image: d.Image, Status: d.Status, Error: d.Error, Reason: d.Reason})
		if isFailure(d.Status) {
			e.Failed = append(e.Failed, d.Destination)
		}
	}
}

// imageOfInput is the image an execution's input names: an ECR push event
// or a manual input.
func imageOfInput(input json.RawMessage) string {
	var v struct {
		Detail *struct {
			Repository string `json:"repository-name"`
			Tag        string `json:"image-tag"`
			Digest     string `json:"image-digest"`
		} `json:"detail"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
		Digest     string `json:"digest"`
	}
	if json.Unmarshal(input, &v) != nil {
		return ""
	}
	if v.Detail != nil {
		return image(v.Detail.Repository, v.Detail.Tag, v.Detail.Digest)
	}
	return image(v.Repository, v.Tag, v.Digest)
}

func image(repository, tag, digest string) string {
	switch {
	case repository == "":
		return ""
	case tag != "":
		return repository + ":" + tag
	case digest != "":
		return repository + "@" + digest
	}
	return repository
}

// causeText is the message of a Lambda error's cause ({"errorMessage"}),
// or the cause as it is.
func causeText(c string) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(c), &doc) == nil && doc.ErrorMessage != "" {
		return doc.ErrorMessage
	}
	return c
}
