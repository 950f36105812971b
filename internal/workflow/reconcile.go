package workflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/reconcile"
)

// The reconcile state machine (statemachine/reconcile.asl.json) keeps every
// destination converged on the rules: Discover lists the difference and
// writes the jobs to the stack's bucket as JSON lines, a Distributed Map
// runs each job through the per-destination steps of the push path
// (AssumeRole, EnsureRepository, CopyImage, Verify) and writes their results
// back, and ReconcileSummary counts them. Nothing in the state grows with
// the number of jobs: it holds S3 keys and counts. The layout of a run in
// the bucket, under runs/<execution name>/:
//
//	plan.jsonl            every item of the diff (reconcile.Item), in sync ones too
//	jobs-0.jsonl          the jobs the first pass copies (Job)
//	approval-<n>.jsonl    the jobs of one destination that waits for a person
//	results-<pass>/       what the Distributed Map's ResultWriter writes
//	failed-<pass>.jsonl   the jobs that failed in a pass; a redrive copies them again
//	summary.json          the last pass's summary
const (
	EnvReconcileBucket = "FERRY_RECONCILE_BUCKET"
	runsPrefix         = "runs/"
	// approvalSample is how many images an approval request names inline;
	// the rest are counted.
	approvalSample = 5
	// failureSample is how many failures the summary (and the run's
	// cause) name; summary.json and failed-<pass>.jsonl hold them all.
	failureSample = 10
)

// ReconcileInput is the reconcile state machine's execution input: {} from
// the schedule, or by hand the same filters as ferry sync, and dryRun.
type ReconcileInput struct {
	DryRun      bool   `json:"dryRun,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Destination string `json:"destination,omitempty"`
	Repository  string `json:"repository,omitempty"`
}

// DiscoverRequest is Discover's payload: the execution input, or after the
// approvals, the plan with the decisions (Approved).
type DiscoverRequest struct {
	Execution string          `json:"execution"`
	Input     json.RawMessage `json:"input,omitempty"`
	Approved  *ReconcilePlan  `json:"approved,omitempty"`
}

// ReconcilePlan is what Discover found and where it wrote the jobs.
type ReconcilePlan struct {
	Execution     string `json:"execution"`
	DryRun        bool   `json:"dryRun"`
	Bucket        string `json:"bucket"`
	Prefix        string `json:"prefix"`
	PlanKey       string `json:"planKey"`
	JobsKey       string `json:"jobsKey"`
	ResultsPrefix string `json:"resultsPrefix"`
	// Jobs is how many jobs JobsKey holds.
	Jobs int `json:"jobs"`
	// States counts the diff's items by reconcile.State.
	States map[string]int `json:"states"`
	// Approvals are the destinations with approval: required that have
	// jobs: one request each, listing their images.
	Approvals       []ApprovalBatch `json:"approvals,omitempty"`
	ApprovalsNeeded int             `json:"approvalsNeeded"`
	// Decisions are the approvals' outcomes, set by the state machine.
	Decisions []BatchDecision `json:"decisions,omitempty"`
	// NotApproved counts the images of destinations whose approval was
	// rejected or timed out.
	NotApproved int `json:"notApproved,omitempty"`
	// Earlier is the summary of the pass before, on a redrive.
	Earlier *ReconcileSummary `json:"earlier,omitempty"`
	// Attempt is the pass: 0, or the redrive count.
	Attempt int `json:"attempt"`
	// Results is the Distributed Map's ResultWriter output.
	Results *MapResults `json:"results,omitempty"`
}

// ApprovalBatch is one destination's approval request in a reconcile.
type ApprovalBatch struct {
	Destination string   `json:"destination"`
	Images      int      `json:"images"`
	Sample      []string `json:"sample"` // the first images, repository:tag
	Key         string   `json:"key"`    // its jobs, JSON lines
}

// BatchDecision is the outcome of one ApprovalBatch, as the state machine
// records it.
type BatchDecision struct {
	Destination string `json:"destination"`
	Key         string `json:"key"`
	Images      int    `json:"images"`
	Approved    bool   `json:"approved"`
	Reason      string `json:"reason,omitempty"`
}

// MapResults is what a Distributed Map with a ResultWriter outputs.
type MapResults struct {
	MapRunArn           string `json:"MapRunArn"`
	ResultWriterDetails struct {
		Bucket string `json:"Bucket"`
		Key    string `json:"Key"`
	} `json:"ResultWriterDetails"`
}

// Discover is the reconcile's first step.
type Discover struct {
	step
	s3     ecr.S3API
	bucket string
	gates  Gatekeeper
}

// NewDiscover returns the Discover step; roles and s3API nil mean env's.
func NewDiscover(logger *slog.Logger, env *Env, roles Roles, s3API ecr.S3API) *Discover {
	if s3API == nil {
		s3API = env.Clients.S3()
	}
	st := newStep(logger, env, roles)
	return &Discover{step: st, s3: s3API, bucket: env.Getenv(EnvReconcileBucket), gates: newGateKeeper(st, env)}
}

// Handle is the Lambda handler.
func (d *Discover) Handle(ctx context.Context, req DiscoverRequest) (ReconcilePlan, error) {
	if d.bucket == "" {
		return ReconcilePlan{}, &ConfigurationError{Msg: EnvReconcileBucket + " is not set: it must name the reconcile bucket"}
	}
	if req.Approved != nil {
		return d.release(ctx, *req.Approved)
	}
	var in ReconcileInput
	if len(bytes.TrimSpace(req.Input)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Input))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return ReconcilePlan{}, validationf("reconcile input: %v; want {\"dryRun\": true|false, \"rule\": NAME, \"destination\": \"ACCOUNT/REGION\", \"repository\": PATTERN}, every field optional", err)
		}
	}
	filter := reconcile.Filter{Rule: in.Rule, Destination: in.Destination}
	if in.Repository != "" {
		p, err := match.Compile(in.Repository)
		if err != nil {
			return ReconcilePlan{}, validationf("reconcile input: repository: %v", err)
		}
		filter.Repository = &p
	}
	if err := filter.Check(d.cfg); err != nil {
		return ReconcilePlan{}, validationf("reconcile input: %v", err)
	}
	prefix := runsPrefix + executionName(req.Execution) + "/"
	p := ReconcilePlan{Execution: req.Execution, DryRun: in.DryRun, Bucket: d.bucket, Prefix: prefix,
		PlanKey: prefix + "plan.jsonl", JobsKey: prefix + "jobs-0.jsonl", ResultsPrefix: prefix + "results-0", States: map[string]int{}}
	var plan bytes.Buffer
	planEnc := json.NewEncoder(&plan)
	jobs := map[string][][]byte{} // destination -> job lines, for interleaving
	var order []string
	batches := map[string]*ApprovalBatch{}
	approvalJobs := map[string]*bytes.Buffer{}
	src := d.cfg.Source
	disc := reconcile.Discoverer{
		Config: d.cfg,
		Source: reconcile.Registry{API: d.roles.ECR(src.Account, src.Region), Account: src.Account, ID: src.ID()},
		Destination: func(ctx context.Context, cd config.Destination) (reconcile.Lister, error) {
			api, err := d.roles.DestinationECR(ctx, cd.Account, cd.Region, role(d.cfg, cd, Job{Execution: req.Execution}, ecr.AccessRead))
			if err != nil {
				return nil, classifyAWS(fmt.Sprintf("assume role %s for %s", cd.RoleARN(), cd.ID()), err)
			}
			return reconcile.Registry{API: api, Account: cd.Account, ID: cd.ID()}, nil
		},
		Filter: filter,
	}
	verdicts := &gateVerdicts{}
	err := disc.Discover(ctx, func(b reconcile.Batch) error {
		for _, it := range b.Items {
			// A destination's gates (the replicate workflow's) are checked
			// here, before any approval is asked for: a refused image is
			// blocked, neither a job nor in an approval batch. Discover
			// does not wait for scans; the next reconcile checks again.
			if it.Copy() {
				ok, reason, err := itemGates(ctx, d.gates, d.cfg, it, verdicts)
				if err != nil {
					return err
				}
				if !ok {
					it.State, it.Reason = reconcile.Blocked, reason
				}
			}
			p.States[string(it.State)]++
			_ = planEnc.Encode(it)
			if !it.Copy() && it.State != reconcile.Stale {
				continue // in sync, or blocked
			}
			// A stale tag that onExistingTag keeps is a job too: CopyImage
			// refuses it with a ConflictError naming both digests, so the
			// run fails and says so, and a redrive after the destination is
			// put right copies it.
			line, _ := json.Marshal(jobOf(req.Execution, it))
			// A stale tag kept by onExistingTag writes nothing: nobody is
			// asked to approve a job that can only report the conflict.
			if it.ApprovalRequired && it.Copy() {
				bt, ok := batches[it.Destination]
				if !ok {
					bt = &ApprovalBatch{Destination: it.Destination, Key: fmt.Sprintf("%sapproval-%d.jsonl", prefix, len(batches))}
					batches[it.Destination] = bt
					approvalJobs[it.Destination] = &bytes.Buffer{}
				}
				bt.Images++
				if len(bt.Sample) < approvalSample {
					bt.Sample = append(bt.Sample, it.Image())
				}
				approvalJobs[it.Destination].Write(append(line, '\n'))
				continue
			}
			if _, ok := jobs[it.Destination]; !ok {
				order = append(order, it.Destination)
			}
			jobs[it.Destination] = append(jobs[it.Destination], line)
			p.Jobs++
		}
		return nil
	})
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			return p, err
		}
		return p, classifyAWS("discover what the destinations lack", err)
	}
	if err := d.put(ctx, p.PlanKey, plan.Bytes()); err != nil {
		return p, err
	}
	if p.DryRun {
		d.log.InfoContext(ctx, "reconcile dry run", slog.Any("states", p.States))
		return p, nil
	}
	if err := d.put(ctx, p.JobsKey, interleave(order, jobs)); err != nil {
		return p, err
	}
	for _, dest := range slices.Sorted(maps.Keys(batches)) {
		if err := d.put(ctx, batches[dest].Key, approvalJobs[dest].Bytes()); err != nil {
			return p, err
		}
		p.Approvals = append(p.Approvals, *batches[dest])
	}
	p.ApprovalsNeeded = len(p.Approvals)
	d.log.InfoContext(ctx, "reconcile planned", slog.Int("jobs", p.Jobs), slog.Int("approvals", p.ApprovalsNeeded), slog.Any("states", p.States))
	return p, nil
}

// release adds the jobs of the approved destinations to the jobs file.
func (d *Discover) release(ctx context.Context, p ReconcilePlan) (ReconcilePlan, error) {
	if p.Bucket != d.bucket || !strings.HasPrefix(p.JobsKey, runsPrefix) {
		return p, validationf("the plan names bucket %q, key %q; this stack's reconcile bucket is %q", p.Bucket, p.JobsKey, d.bucket)
	}
	bodies := [][]byte{}
	body, err := d.get(ctx, p.JobsKey)
	if err != nil {
		return p, err
	}
	bodies = append(bodies, body)
	for _, dec := range p.Decisions {
		if !dec.Approved {
			p.NotApproved += dec.Images
			continue
		}
		if !strings.HasPrefix(dec.Key, p.Prefix) {
			return p, validationf("approval of %s names key %q outside this run's %q", dec.Destination, dec.Key, p.Prefix)
		}
		more, err := d.get(ctx, dec.Key)
		if err != nil {
			return p, err
		}
		bodies = append(bodies, more)
		p.Jobs += dec.Images
	}
	// Interleaved again, so the approved destinations' jobs do not queue
	// on their registries at the end.
	var order []string
	jobs := map[string][][]byte{}
	for _, b := range bodies {
		for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var j struct {
				Destination string `json:"destination"`
			}
			if err := json.Unmarshal(line, &j); err != nil {
				return p, &ReplicationError{Op: "read the jobs of " + p.JobsKey, Err: err}
			}
			if _, ok := jobs[j.Destination]; !ok {
				order = append(order, j.Destination)
			}
			jobs[j.Destination] = append(jobs[j.Destination], line)
		}
	}
	p.JobsKey = p.Prefix + "jobs-0-approved.jsonl"
	if err := d.put(ctx, p.JobsKey, interleave(order, jobs)); err != nil {
		return p, err
	}
	p.Approvals, p.ApprovalsNeeded = nil, 0
	return p, nil
}

func (d *Discover) put(ctx context.Context, key string, body []byte) error {
	return putObject(ctx, d.s3, d.bucket, key, body)
}

func (d *Discover) get(ctx context.Context, key string) ([]byte, error) {
	return getObject(ctx, d.s3, d.bucket, key)
}

func putObject(ctx context.Context, api ecr.S3API, bucket, key string, body []byte) error {
	_, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/jsonl")})
	if err != nil {
		return classifyAWS(fmt.Sprintf("write s3://%s/%s", bucket, key), err)
	}
	return nil
}

func getObject(ctx context.Context, api ecr.S3API, bucket, key string) ([]byte, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, classifyAWS(fmt.Sprintf("read s3://%s/%s", bucket, key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, &RetryableError{Op: fmt.Sprintf("read s3://%s/%s", bucket, key), Err: err}
	}
	return b, nil
}

// interleave writes the jobs one destination after another, round robin,
// so that the Distributed Map's concurrent children spread over the
// destination registries (and their TPS quotas) instead of queueing on one.
func interleave(order []string, jobs map[string][][]byte) []byte {
	var b bytes.Buffer
	for i := 0; ; i++ {
		wrote := false
		for _, d := range order {
			if i < len(jobs[d]) {
				b.Write(jobs[d][i])
				b.WriteByte('\n')
				wrote = true
			}
		}
		if !wrote {
			return b.Bytes()
		}
	}
}

// jobOf is the per-destination job of a diff item.
func jobOf(execution string, it reconcile.Item) Job {
	return Job{Execution: execution, Rule: it.Rule, Destination: it.Destination, Account: it.Account, Region: it.Region,
		SourceRepository: it.SourceRepository, Repository: it.Repository, Tag: it.Tag, Digest: it.Digest,
		ApprovalRequired: it.ApprovalRequired, OnExistingTag: it.OnExistingTag}
}

// executionName is the last part of an execution ARN.
func executionName(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		arn = arn[i+1:]
	}
	return sessionUnsafe.ReplaceAllString(arn, "-")
}

// ReconcileSummary is a reconcile's outcome.
type ReconcileSummary struct {
	Execution string `json:"execution"`
	Outcome   string `json:"outcome"` // "succeeded" or "failed"
	// Counts are by status: in sync, copied, unchanged, superseded,
	// failed, blocked, not approved.
	Counts   map[string]int `json:"counts"`
	Failed   int            `json:"failed"`
	Failures []string       `json:"failures,omitempty"` // the first few
	// FailedKey holds every failed job (JSON lines); a redrive copies them
	// again.
	FailedKey  string `json:"failedKey,omitempty"`
	SummaryKey string `json:"summaryKey"`
	Cause      string `json:"cause,omitempty"`
	Attempt    int    `json:"attempt"`
	Bucket     string `json:"bucket"`
	Prefix     string `json:"prefix"`
}

// Reconcile summary statuses beyond the copy statuses.
const (
	StatusNotApproved = "not approved"
)

// ReconcileSummaryRequest is ReconcileSummary's payload: the plan with the
// Map's results (Run), or a failed summary to fail the run with or, on a
// redrive, to copy again (Failed).
type ReconcileSummaryRequest struct {
	Run          *ReconcilePlan    `json:"run,omitempty"`
	Failed       *ReconcileSummary `json:"failed,omitempty"`
	Attempt      int               `json:"attempt"`
	RedriveCount int               `json:"redriveCount"`
}

// ReconcileFailed is the error a reconcile with failed jobs ends with. Its
// Go type name is the Error the run fails with.
type ReconcileFailed struct{ Msg string }

func (e *ReconcileFailed) Error() string { return e.Msg }

// ReconcileSummarize counts a reconcile pass's results.
type ReconcileSummarize struct {
	log    *slog.Logger
	s3     ecr.S3API
	bucket string
}

// NewReconcileSummarize returns the step; s3API nil means env's.
func NewReconcileSummarize(logger *slog.Logger, env *Env, s3API ecr.S3API) *ReconcileSummarize {
	if s3API == nil {
		s3API = env.Clients.S3()
	}
	return &ReconcileSummarize{log: logger, s3: s3API, bucket: env.Getenv(EnvReconcileBucket)}
}

// Handle is the Lambda handler.
func (h *ReconcileSummarize) Handle(ctx context.Context, req ReconcileSummaryRequest) (any, error) {
	if h.bucket == "" {
		return nil, &ConfigurationError{Msg: EnvReconcileBucket + " is not set: it must name the reconcile bucket"}
	}
	switch {
	case req.Run != nil:
		return h.summarize(ctx, *req.Run, req.Attempt)
	case req.Failed != nil:
		return h.failedOrRetry(ctx, *req.Failed, req.RedriveCount)
	}
	return nil, validationf("reconcile summary: want a payload with run or failed")
}

// mapResult is one line of a ResultWriter result file (Transformation
// NONE): a child execution, with its input and output as JSON text.
type mapResult struct {
	Status string `json:"Status"`
	Input  string `json:"Input"`
	Output string `json:"Output"`
	Error  string `json:"Error"`
	Cause  string `json:"Cause"`
}

// mapManifest is ResultWriter's manifest.json.
type mapManifest struct {
	ResultFiles map[string][]struct {
		Key string `json:"Key"`
	} `json:"ResultFiles"`
}

func (h *ReconcileSummarize) summarize(ctx context.Context, p ReconcilePlan, attempt int) (ReconcileSummary, error) {
	s := ReconcileSummary{Execution: p.Execution, Counts: map[string]int{}, Attempt: attempt, Bucket: h.bucket, Prefix: p.Prefix,
		SummaryKey: p.Prefix + "summary.json"}
	if p.Earlier != nil {
		for k, v := range p.Earlier.Counts {
			s.Counts[k] = v
		}
		s.Counts[StatusFailed] -= p.Earlier.Failed // they ran again
	} else {
		s.Counts[StatusInSync] = p.States[string(reconcile.InSync)]
		s.Counts[StatusBlocked] = p.States[string(reconcile.Blocked)]
		s.Counts[StatusNotApproved] = p.NotApproved
	}
	metrics := newRunMetrics(p.Execution)
	if p.Earlier == nil {
		// What the plan found and needs no job: the state machine's
		// totals (a redrive's pass counts only the jobs it ran).
		for status, n := range map[string]int{StatusInSync: s.Counts[StatusInSync], StatusBlocked: s.Counts[StatusBlocked], StatusNotApproved: s.Counts[StatusNotApproved]} {
			if n > 0 {
				metrics.add("", statusMetric(status), float64(n))
			}
		}
	}
	var failed bytes.Buffer
	if p.Results != nil && p.Results.ResultWriterDetails.Key != "" {
		raw, err := getObject(ctx, h.s3, p.Results.ResultWriterDetails.Bucket, p.Results.ResultWriterDetails.Key)
		if err != nil {
			return s, err
		}
		var m mapManifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return s, &ReplicationError{Op: "read the Map's result manifest", Err: err}
		}
		for _, status := range slices.Sorted(maps.Keys(m.ResultFiles)) {
			for _, f := range m.ResultFiles[status] {
				body, err := getObject(ctx, h.s3, p.Results.ResultWriterDetails.Bucket, f.Key)
				if err != nil {
					return s, err
				}
				if err := h.count(body, &s, &failed, metrics); err != nil {
					return s, err
				}
			}
		}
	}
	for k, v := range s.Counts {
		if v == 0 {
			delete(s.Counts, k)
		}
	}
	s.Failed = s.Counts[StatusFailed]
	s.Outcome = "succeeded"
	if s.Failed > 0 {
		s.Outcome = "failed"
		s.FailedKey = fmt.Sprintf("%sfailed-%d.jsonl", p.Prefix, attempt)
		if err := putObject(ctx, h.s3, h.bucket, s.FailedKey, failed.Bytes()); err != nil {
			return s, err
		}
		s.Cause = fmt.Sprintf("%d of the reconcile's jobs failed (all of them in s3://%s/%s): %s", s.Failed, h.bucket, s.FailedKey, strings.Join(s.Failures, "; "))
		if len(s.Failures) < s.Failed {
			s.Cause += fmt.Sprintf("; and %d more", s.Failed-len(s.Failures))
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := putObject(ctx, h.s3, h.bucket, s.SummaryKey, b); err != nil {
		return s, err
	}
	metrics.emit(ctx, h.log, time.Now())
	h.log.InfoContext(ctx, "reconcile summarized", slog.Any("counts", s.Counts), slog.Int("attempt", attempt))
	return s, nil
}

// count adds one result file's children to s; failed jobs go to failed.
func (h *ReconcileSummarize) count(body []byte, s *ReconcileSummary, failed *bytes.Buffer, metrics *runMetrics) error {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r mapResult
		if err := json.Unmarshal(line, &r); err != nil {
			return &ReplicationError{Op: "read the Map's results", Err: err}
		}
		var rep Replication
		if r.Output != "" {
			_ = json.Unmarshal([]byte(r.Output), &rep)
		}
		if rep.Job.Destination == "" && r.Input != "" {
			_ = json.Unmarshal([]byte(r.Input), &rep)
		}
		status, why := "", ""
		switch {
		case r.Status != "SUCCEEDED":
			status, why = StatusFailed, strings.TrimSpace(r.Error+": "+causeMessage(r.Cause))
		case rep.Error != nil:
			status, why = StatusFailed, strings.TrimSpace(rep.Error.Error+": "+causeMessage(rep.Error.Cause))
		case rep.Copy != nil:
			status = rep.Copy.Status
		default:
			status, why = StatusFailed, "the job ended without a copy result"
		}
		s.Counts[status]++
		var copied int64
		if rep.Copy != nil {
			copied = rep.Copy.BytesCopied
		}
		metrics.outcome(rep.Job.Destination, status, copied, 0)
		if status == StatusFailed {
			j, _ := json.Marshal(rep.Job)
			failed.Write(append(j, '\n'))
			if len(s.Failures) < failureSample {
				s.Failures = append(s.Failures, fmt.Sprintf("%s %s:%s: %s", rep.Job.Destination, rep.Job.Repository, rep.Job.Tag, why))
			}
		}
	}
	return sc.Err()
}

// failedOrRetry fails the run on its first pass through; on a redrive it
// writes the failed jobs as the next pass's jobs.
func (h *ReconcileSummarize) failedOrRetry(ctx context.Context, s ReconcileSummary, redriveCount int) (ReconcilePlan, error) {
	if redriveCount <= s.Attempt {
		return ReconcilePlan{}, &ReconcileFailed{Msg: s.Cause}
	}
	if s.Bucket != h.bucket || !strings.HasPrefix(s.FailedKey, s.Prefix) || !strings.HasPrefix(s.Prefix, runsPrefix) {
		return ReconcilePlan{}, validationf("the summary names bucket %q, key %q; this stack's reconcile bucket is %q", s.Bucket, s.FailedKey, h.bucket)
	}
	body, err := getObject(ctx, h.s3, h.bucket, s.FailedKey)
	if err != nil {
		return ReconcilePlan{}, err
	}
	p := ReconcilePlan{Execution: s.Execution, Bucket: h.bucket, Prefix: s.Prefix, PlanKey: s.Prefix + "plan.jsonl",
		JobsKey: fmt.Sprintf("%sjobs-%d.jsonl", s.Prefix, redriveCount), ResultsPrefix: fmt.Sprintf("%sresults-%d", s.Prefix, redriveCount),
		Jobs: bytes.Count(body, []byte("\n")), States: map[string]int{}, Earlier: &s, Attempt: redriveCount}
	if err := putObject(ctx, h.s3, h.bucket, p.JobsKey, body); err != nil {
		return p, err
	}
	h.log.InfoContext(ctx, "reconcile redriven", slog.Int("jobs", p.Jobs), slog.Int("attempt", redriveCount))
	return p, nil
}
