// Package workflow is Ferry's replication workflow: the request and response
// types its Lambdas exchange through the state machine (with the JSON names
// the Step Functions console shows), and the steps themselves — Validate,
// AssumeRole, EnsureRepository, CopyImage, Verify, Summarize and the two
// sides of the approval — each a struct with a Handle method that a Lambda's
// main passes to lambda.Start.
//
// No type here carries a secret: credentials, registry tokens and the
// approval key stay inside the Lambda that uses them. The one exception is
// the approval task token, which only ApprovalRequest receives and which it
// never logs or returns. Step Functions itself keeps it in the execution
// history (the task's input), as it does for every callback task; the
// state machine's log group gets events without their data, so not there.
package workflow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/plan"
)

// Function names: the directory under functions/ and the name the local
// runner invokes.
const (
	FnValidate         = "validate"
	FnAssumeRole       = "assumerole"
	FnEnsureRepository = "ensurerepo"
	FnCopyImage        = "copyimage"
	FnVerify           = "verify"
	FnSummarize        = "summarize"
	FnApprovalRequest  = "approvalrequest"
	FnApprovalCallback = "approvalcallback"
	// FnCheckGates checks a destination's promotion gates (scan and
	// signature) before anything else is done for it.
	FnCheckGates = "checkgates"
	// The reconcile state machine's own steps.
	FnDiscover           = "discover"
	FnReconcileSummarize = "reconcilesummary"
)

// MaxConcurrency is the most destinations the replicate state machine
// copies at once: its Map is inline, and an inline Map runs at most 40
// iterations at once (Step Functions' limit; the local interpreter does
// not enforce it). The stack's maxConcurrency and ferry run's
// --max-concurrency are checked against it.
const MaxConcurrency = 40

// CheckMaxConcurrency says what is wrong with n as the Map's concurrency.
func CheckMaxConcurrency(n int) error {
	if n < 1 || n > MaxConcurrency {
		return fmt.Errorf("maxConcurrency %d: want 1 to %d: the replicate state machine's Map is inline, and Step Functions runs an inline Map at most %d iterations at once (more destinations wait their turn)",
			n, MaxConcurrency, MaxConcurrency)
	}
	return nil
}

// Functions lists every function, in workflow order.
var Functions = []string{FnValidate, FnCheckGates, FnAssumeRole, FnEnsureRepository, FnCopyImage, FnVerify, FnSummarize, FnApprovalRequest, FnApprovalCallback,
	FnDiscover, FnReconcileSummarize}

// ValidateRequest is Validate's payload: the execution input (an ECR push
// event from EventBridge, or a manual input) and the execution ID.
type ValidateRequest struct {
	Execution string          `json:"execution"`
	Input     json.RawMessage `json:"input"`
}

// ManualInput starts a run by hand, from the console or the CLI.
type ManualInput struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// Destinations narrows the run to these destinations ("account/region");
	// each must be in the deployed configuration.
	Destinations []string `json:"destinations,omitempty"`
}

// Plan is Validate's result: what this push becomes.
//
// Its jobs hold only what differs from one destination to the next: the
// Map's ItemSelector builds each iteration's Job from a planned job and the
// plan's execution, repository and digest, so that nothing is repeated once
// per destination and a plan of 500 destinations stays well inside a
// state's 256 KiB.
type Plan struct {
	Execution string `json:"execution"`
	Trigger   string `json:"trigger"` // "push", "referrer", "delete" or "manual"
	// Action is what every job of the plan does: ActionCopy, or for a
	// referrer's push ActionReferrers, for a delete ActionUntag. Never
	// omitted: the Map's ItemSelector reads it.
	Action     string `json:"action"`
	Source     string `json:"source"` // account/region
	Repository string `json:"repository"`
	Tag        string `json:"tag"` // "" for an input that names only a digest
	// Tags are the tags copied when the input names only a digest: every
	// tag of the digest that a rule takes, each with its own jobs.
	Tags   []string `json:"tags,omitempty"`
	Digest string   `json:"digest"`
	// Referrer is set for a run a referrer's push started: the referrer
	// (a signature, attestation, SBOM...) and the cosign tag it was pushed
	// under ("" for an OCI 1.1 referrer pushed by digest), which the jobs
	// copy to the destinations that hold Digest, its subject.
	Referrer *imagecopy.Referrer `json:"referrer,omitempty"`
	// PushedAt is when the push happened (the event's time, RFC 3339),
	// for the replication lag; "" for a run not started by a push. Never
	// omitted: the Map's ItemSelector reads it.
	PushedAt string `json:"pushedAt"`
	Skipped  bool   `json:"skipped"`
	Reason   string `json:"reason,omitempty"` // why nothing is copied
	// ReasonLimit is how many bytes of error text the outcome of a failed
	// job keeps: what the state limit leaves each job once the plan and the
	// rest of every outcome are counted (see Summarize).
	ReasonLimit int          `json:"reasonLimit"`
	Jobs        []PlannedJob `json:"jobs"`
	NotPlanned  []plan.Skip  `json:"notPlanned,omitempty"` // rules and destinations left out, and why
}

// Job actions: what a job does in its destination.
const (
	// ActionCopy copies the image and writes the tag.
	ActionCopy = "copy"
	// ActionReferrers copies the referrers of an image the destination
	// already holds (the job's digest, under the job's tag), and writes
	// nothing else: no tag, no repository, no approval asked.
	ActionReferrers = "referrers"
	// ActionUntag removes the job's tag from the destination while it is
	// still at the job's digest, which a push deleted from the source.
	ActionUntag = "untag"
)

// PlannedJob is one job as a plan lists it: a Job without the fields every
// job of the execution shares (execution, source repository, digest).
type PlannedJob struct {
	Rule             string `json:"rule"`
	Destination      string `json:"destination"` // account/region
	Account          string `json:"account"`
	Region           string `json:"region"`
	Repository       string `json:"repository"` // in the destination
	Tag              string `json:"tag"`
	ApprovalRequired bool   `json:"approvalRequired"`
	OnExistingTag    string `json:"onExistingTag"`
	// Approval is the decision a person already gave for this job in this
	// execution: set on the jobs a redrive hands back to the Map (which
	// then does not ask again), null otherwise. Never omitted: the Map's
	// ItemSelector reads it.
	Approval *ApprovalDecision `json:"approval"`
}

// Job is the job with the fields its execution shares.
func (p PlannedJob) Job(execution, sourceRepository, digest string) Job {
	return Job{Execution: execution, Rule: p.Rule, Destination: p.Destination, Account: p.Account, Region: p.Region,
		SourceRepository: sourceRepository, Repository: p.Repository, Tag: p.Tag, Digest: digest,
		ApprovalRequired: p.ApprovalRequired, OnExistingTag: p.OnExistingTag}
}

// Planned is the job as a plan lists it, with approval.
func (j Job) Planned(approval *ApprovalDecision) PlannedJob {
	return PlannedJob{Rule: j.Rule, Destination: j.Destination, Account: j.Account, Region: j.Region, Repository: j.Repository,
		Tag: j.Tag, ApprovalRequired: j.ApprovalRequired, OnExistingTag: j.OnExistingTag, Approval: approval}
}

// Job is one destination's copy, the input of one Map iteration.
type Job struct {
	Execution string `json:"execution"`
	// Action is what the job does: ActionCopy ("" means it too: jobs a
	// reconcile lists copy), ActionReferrers or ActionUntag.
	Action string `json:"action,omitempty"`
	// PushedAt is the plan's: when the push happened, "" if unknown.
	PushedAt         string `json:"pushedAt,omitempty"`
	Rule             string `json:"rule"`
	Destination      string `json:"destination"` // account/region
	Account          string `json:"account"`
	Region           string `json:"region"`
	SourceRepository string `json:"sourceRepository"`
	Repository       string `json:"repository"` // in the destination
	Tag              string `json:"tag"`
	Digest           string `json:"digest"`
	ApprovalRequired bool   `json:"approvalRequired"`
	OnExistingTag    string `json:"onExistingTag"`
}

// Replication is the state of one destination as it moves through the Map
// iteration: each step takes it, fills its own part and returns it, so each
// state's output in the console shows the job and everything done so far.
type Replication struct {
	Job Job `json:"job"`
	// Approval is the decision given for this job, null until one is.
	// Never omitted: "Approval required?" reads it after "Check gates",
	// whose output is what the handler returns.
	Approval   *ApprovalDecision `json:"approval"`
	Gate       *GateResult       `json:"gate,omitempty"`
	Role       *RoleResult       `json:"role,omitempty"`
	Repository *RepositoryResult `json:"repository,omitempty"`
	Copy       *CopyResult       `json:"copy,omitempty"`
	Verify     *VerifyResult     `json:"verify,omitempty"`
	// Precheck is why the check before an approval found the destination
	// not yet complete (so a person is asked).
	Precheck *StepError `json:"precheck,omitempty"`
	// Error is set by the iteration's Catch (ResultPath $.error).
	Error *StepError `json:"error,omitempty"`
	// ReasonLimit is the plan's, which the Map's ItemSelector passes on for
	// the outcome of a failure (see Plan.ReasonLimit).
	ReasonLimit int `json:"reasonLimit,omitempty"`
}

// StepError is what a Catch records: Step Functions' Error and Cause.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause,omitempty"`
}

// ApprovalDecision is the output a person's approval sends to the waiting
// task (SendTaskSuccess): who answered how, never the task token. A
// rejection (SendTaskFailure) carries the same in its cause. The state
// machines read $.approval as a whole (null or not); Link and SourceIP are
// absent from decisions made before they were recorded.
type ApprovalDecision struct {
	Decision  string    `json:"decision"` // "approved"
	DecidedAt time.Time `json:"decidedAt"`
	// Via is "sealed link", or "signed link" for a link of the format sent
	// before sealed tickets.
	Via string `json:"via"`
	// Link is the link the person followed: "approve".
	Link string `json:"link,omitempty"`
	// SourceIP is the address the approval's Function URL saw the request
	// come from (its requestContext.http.sourceIp).
	SourceIP string `json:"sourceIp,omitempty"`
}

// forRedrive is the decision as an outcome keeps it for a redrive (which
// must not ask again): what was decided, when and how. Which link and from
// where stay in the "Wait for approval" state's output and the logs, so
// that every job's outcome fits in the Map's output.
func (d *ApprovalDecision) forRedrive() *ApprovalDecision {
	if d == nil {
		return nil
	}
	return &ApprovalDecision{Decision: d.Decision, DecidedAt: d.DecidedAt, Via: d.Via}
}

// ApprovalRequestPayload is ApprovalRequest's payload.
type ApprovalRequestPayload struct {
	Execution   string      `json:"execution"`
	TaskToken   string      `json:"taskToken"`
	Replication Replication `json:"replication"`
	// Batch, in a reconcile, asks for one destination's images at once
	// instead of Replication's one image.
	Batch *ApprovalBatch `json:"batch,omitempty"`
}

// ApprovalRequestResult is what ApprovalRequest returns (Step Functions
// ignores it for .waitForTaskToken; it is for logs and tests).
type ApprovalRequestResult struct {
	Requested bool      `json:"requested"`
	Expires   time.Time `json:"expires"`
	MessageID string    `json:"messageId"`
}

// RoleResult proves the destination role can be assumed. It never holds
// credentials.
type RoleResult struct {
	RoleARN     string `json:"roleArn"`
	SessionName string `json:"sessionName"`
}

// RepositoryResult says what EnsureRepository found or did.
type RepositoryResult struct {
	Name    string `json:"name"`
	URI     string `json:"uri"`
	Status  string `json:"status"` // "created", "existing" or, for a job that copies no image, "missing"
	Message string `json:"message,omitempty"`
}

// Repository statuses.
const (
	RepositoryCreated  = "created"
	RepositoryExisting = "existing"
	RepositoryMissing  = "missing"
)

// CopyResult is what CopyImage did.
type CopyResult struct {
	// Status is "copied", "unchanged", "superseded", "skipped" or, for an
	// untag job, "untagged".
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"` // why: superseded, skipped, untagged
	// Brief is Reason shortened to the plan's reasonLimit: the iteration's
	// outcome keeps it (Verify's ResultSelector reads it, so it is never
	// omitted), the state Reason in full.
	Brief string `json:"brief"`
	// LagMs is the replication lag, for a copy that wrote the tag: from
	// the push to now, in milliseconds; 0 otherwise. Never omitted:
	// Verify's ResultSelector reads it.
	LagMs            int64  `json:"lagMs"`
	Digest           string `json:"digest"`
	MediaType        string `json:"mediaType,omitempty"`
	Image            string `json:"image"` // destination reference
	ReplacedDigest   string `json:"replacedDigest,omitempty"`
	BytesCopied      int64  `json:"bytesCopied"`
	BlobsCopied      int    `json:"blobsCopied"`
	BlobsSkipped     int    `json:"blobsSkipped"`
	BlobsMounted     int    `json:"blobsMounted"`
	ManifestsWritten int    `json:"manifestsWritten"`
	ReferrersCopied  int    `json:"referrersCopied"`
	// Referrers is what the copy took along, found in the source when it
	// began and again once the tag was written: what Verify checks. Past
	// maxListedReferrers it is left out (ReferrersUnlisted says so), to
	// keep the state small, and Verify checks the source's referrers then.
	Referrers         []imagecopy.Referrer `json:"referrers,omitempty"`
	ReferrersUnlisted bool                 `json:"referrersUnlisted,omitempty"`
	DurationMs        int64                `json:"durationMs"`
}

// VerifyResult is what Verify checked in the destination.
type VerifyResult struct {
	Verified  bool   `json:"verified"`
	Digest    string `json:"digest"`
	Manifests int    `json:"manifests"`
	Blobs     int    `json:"blobs"`
	Referrers int    `json:"referrers"`
}

// Outcome is what one Map iteration hands back: as little as Summarize
// needs, so that the Map's output (one per job) stays small. The last state
// of each path through the iteration makes it: Verify's ResultSelector, the
// "Already replicated" Pass, or for a failure the "Destination failed" task
// (Summarize.Outcome), which also shortens the error's text. The iteration's
// own states keep everything in full.
type Outcome struct {
	Destination string `json:"destination"`
	Status      string `json:"status"` // copied, unchanged, superseded, failed, rejected, approval timed out
	BytesCopied int64  `json:"bytesCopied,omitempty"`
	DurationMs  int64  `json:"durationMs,omitempty"`
	LagMs       int64  `json:"lagMs,omitempty"`
	Error       string `json:"error,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Approval is the decision given for a job that then failed, so that a
	// redrive does not ask again.
	Approval *ApprovalDecision `json:"approval,omitempty"`
}

// SummarizeRequest is Summarize's payload: the plan and one Outcome per
// job, in job order. The state machine sends the whole state as "run" (see
// SummarizeRequest.UnmarshalJSON); Earlier and Attempt tell a pass after a
// redrive from the first.
type SummarizeRequest struct {
	Plan    Plan      `json:"plan"`
	Results []Outcome `json:"results"`
	// Earlier is the summary of the previous pass of this execution, when
	// this pass replicated only the destinations that had failed (a
	// redrive): the outcomes of the destinations not replicated again.
	Earlier *Summary `json:"earlier,omitempty"`
	// Attempt is $$.Execution.RedriveCount: 0 for the first pass.
	Attempt int `json:"attempt"`
}

// Summary is the run's outcome.
type Summary struct {
	Execution  string              `json:"execution"`
	Repository string              `json:"repository"`
	Tag        string              `json:"tag"`
	Tags       []string            `json:"tags,omitempty"`     // the tags copied, for an input that named a digest
	Referrer   *imagecopy.Referrer `json:"referrer,omitempty"` // for a referrer's push: what was pushed (Digest is its subject)
	Digest     string              `json:"digest"`
	Outcome    string              `json:"outcome"` // "succeeded" or "failed"
	Copied     int                 `json:"copied"`
	Unchanged  int                 `json:"unchanged"`
	// Skipped counts jobs with nothing to do (their reasons say why);
	// Untagged, tags removed after a delete in the source.
	Skipped  int `json:"skipped,omitempty"`
	Untagged int `json:"untagged,omitempty"`
	// Blocked counts destinations a gate refused: nothing was written
	// there and no one was asked; not a failure.
	Blocked      int                  `json:"blocked,omitempty"`
	Failed       int                  `json:"failed"`
	BytesCopied  int64                `json:"bytesCopied"`
	Destinations []DestinationOutcome `json:"destinations"`
	// Cause names each failed destination and why; the run fails with it.
	Cause string `json:"cause,omitempty"`
	// Attempt is the $$.Execution.RedriveCount of the pass summarized: 0,
	// or n after the n-th redrive.
	Attempt int `json:"attempt"`
	// Retry is what a redrive of this execution replicates again: the
	// failed destinations' jobs, each with the approval already given for
	// it, if any, so that a person is not asked twice.
	Retry []PlannedJob `json:"retry,omitempty"`
	// Trigger, Action and Source are the plan's, for the pass a redrive
	// starts.
	Trigger  string `json:"trigger,omitempty"`
	Action   string `json:"action,omitempty"`
	PushedAt string `json:"pushedAt,omitempty"`
	Source   string `json:"source,omitempty"`
}

// DestinationOutcome is one destination's line in the summary.
type DestinationOutcome struct {
	Destination string `json:"destination"`
	Image       string `json:"image"` // repository:tag in the destination
	Status      string `json:"status"`
	BytesCopied int64  `json:"bytesCopied"`
	DurationMs  int64  `json:"durationMs"`
	LagMs       int64  `json:"lagMs,omitempty"` // from the push to the tag written
	Error       string `json:"error,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Destination statuses in a Summary.
const (
	StatusCopied    = "copied"
	StatusUnchanged = "unchanged"
	StatusFailed    = "failed"
	StatusRejected  = "rejected"
	// StatusSuperseded: the source tag moved to another image before the
	// copy (a later push, whose own run copies that), so nothing was
	// written; not a failure.
	StatusSuperseded = "superseded"
	// StatusSkipped: the job had nothing to do, and its reason says why
	// (a referrer whose subject the destination does not hold yet, a
	// deleted tag the destination keeps); not a failure.
	StatusSkipped  = "skipped"
	StatusUntagged = "untagged" // the tag the source deleted was removed
	// StatusBlocked (sync.go) is also a destination a gate refused: it
	// wrote nothing and asked no one; not a failure.
	StatusTimedOut = "approval timed out"
)
