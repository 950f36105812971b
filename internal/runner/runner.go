// Package runner runs Ferry's state machine locally: the very ASL file,
// executed by the aws-local-stepfunctions npm package on Node 22 from the
// project's node_modules, with every Lambda task sent back to this process,
// which invokes the real Go handlers (workflow.NewHandler) in process.
//
// What stands in for AWS here:
//
//   - Lambda: an HTTP endpoint on 127.0.0.1 that the Node side's task
//     overrides call. A handler's error comes back in the Lambda error shape:
//     Error is the Go type name (as aws-lambda-go reports it), Cause the JSON
//     error document, so the ASL's Retry and Catch match as in AWS.
//   - .waitForTaskToken: the runner mints a task token, invokes the
//     approval request handler with it, and holds the task open until a
//     SendTaskSuccess or SendTaskFailure with that token reaches its local
//     Step Functions endpoint, or the task's timeout passes.
//   - SNS Publish, Step Functions SendTaskSuccess/SendTaskFailure and
//     Secrets Manager GetSecretValue: small stand-ins on 127.0.0.1 that the
//     handlers reach through FERRY_AWS_ENDPOINTS, with the normal SDK.
//   - The approval callback's Function URL: an HTTP endpoint that turns a
//     request into events.LambdaFunctionURLRequest for the real handler.
//
// ECR and STS are not here: the caller gives their endpoints (the emulator's
// in tests and the demo, or real ones).
package runner

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/workflow"
)

//go:embed run.mjs
var runScript []byte

// taskTokenPlaceholder is what $$.Task.Token reads in the local context
// object; the runner replaces it with a fresh token for each wait.
const taskTokenPlaceholder = "@@ferry-local-task-token@@"

// Options configure a Runner.
type Options struct {
	// Definition is the ASL with its ${...} placeholders, as CDK gets it.
	Definition []byte
	// ConfigPath is ferry.yaml (FERRY_CONFIG of every function).
	ConfigPath string
	// Endpoints of ECR (per account/region) and STS.
	Endpoints ecr.Endpoints
	// NodeModules is the project's node_modules directory.
	NodeModules string
	// Name is the state machine's name in ARNs: "replicate" (default) or
	// "reconcile".
	Name string
	// MaxConcurrency fills ${MaxConcurrency} (default 10).
	MaxConcurrency int
	// ReconcileConcurrency fills ${ReconcileConcurrency} (default 10).
	ReconcileConcurrency int
	// S3Dir holds the local S3 stand-in's objects (default: a temporary
	// directory removed by Close). A redrive of a reconcile in another
	// process needs the directory its run wrote.
	S3Dir string
	// ApprovalTimeout fills ${ApprovalTimeoutSeconds} (default 1 hour).
	ApprovalTimeout time.Duration
	// Approver answers approval requests; nil leaves them unanswered
	// until they time out.
	Approver Approver
	// RetryInterval, when set, replaces every Retry's pause (tests).
	RetryInterval *time.Duration
	// Pause, when set, is each Wait state's pause: it gets the state's
	// name and how long the state waits in AWS, and the execution goes on
	// when it returns (an error fails the state with States.Runtime).
	// Tests and the demo return at once, or hold the execution there while
	// they change something (a scan completing). nil waits that long, as
	// in AWS.
	Pause func(ctx context.Context, state string, d time.Duration) error
	// Logger receives the handlers' JSON log lines; nil discards them.
	Logger *slog.Logger
	// Observe is called with each execution event as it happens.
	Observe func(Event)
	// AWSOptions add to the handlers' AWS configuration. Default: static
	// stand-in credentials, as no real ones are needed or wanted locally.
	AWSOptions []func(*awsconfig.LoadOptions) error
}

// Runner runs executions of one state machine. Close it when done.
type Runner struct {
	opts     Options
	cfg      *config.Config
	handlers map[string]lambda.Handler
	env      map[string]string
	key      string // the approval secret (Secrets Manager stand-in)

	srv     *http.Server
	base    string // http://127.0.0.1:port
	dir     string
	s3Dir   string
	nodeBin string
	sfnMod  string

	mu       sync.Mutex
	waits    map[string]chan waitResult // task token -> decision
	messages []ApprovalMessage
	alerts   []Alert
	// pending approvals being answered by the approver
	approvers sync.WaitGroup
}

type waitResult struct {
	output         json.RawMessage
	errName, cause string
}

// New starts the runner's local endpoints and builds the handlers.
func New(ctx context.Context, opts Options) (*Runner, error) {
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 10
	}
	if opts.ReconcileConcurrency <= 0 {
		opts.ReconcileConcurrency = 10
	}
	if opts.Name == "" {
		opts.Name = "replicate"
	}
	if opts.ApprovalTimeout <= 0 {
		opts.ApprovalTimeout = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	nodeBin := filepath.Join(opts.NodeModules, ".bin", "node")
	sfnMod := filepath.Join(opts.NodeModules, "aws-local-stepfunctions", "build", "main.node.esm.js")
	for _, f := range []string{nodeBin, sfnMod} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make node_modules/.installed` (npm ci) in the ferry checkout first: %w", f, ErrNodeMissing)
		}
	}
	abs, err := filepath.Abs(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ferry-run-")
	if err != nil {
		return nil, err
	}
	r := &Runner{opts: opts, cfg: cfg, dir: dir, nodeBin: nodeBin, sfnMod: sfnMod, waits: map[string]chan waitResult{}, key: randomHex(32)}
	if r.s3Dir = opts.S3Dir; r.s3Dir == "" {
		r.s3Dir = filepath.Join(dir, "s3")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.base = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke", r.serveInvoke)
	mux.HandleFunc("POST /wait", r.serveWait)
	mux.HandleFunc("POST /pause", r.servePause)
	mux.HandleFunc("/sns", r.serveSNS)
	mux.HandleFunc("/sfn", r.serveSFN)
	mux.HandleFunc("/secretsmanager", r.serveSecrets)
	mux.HandleFunc("/approval", r.serveFunctionURL)
	mux.HandleFunc("/s3/", r.serveS3)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()

	ep := opts.Endpoints
	ep.SNS, ep.SFN, ep.SecretsManager, ep.S3 = r.base+"/sns", r.base+"/sfn", r.base+"/secretsmanager", r.base+"/s3"
	epJSON, _ := json.Marshal(ep)
	src := cfg.Source
	r.env = map[string]string{
		workflow.EnvConfig:          abs,
		ecr.EnvEndpoints:            string(epJSON),
		workflow.EnvApprovalTopic:   fmt.Sprintf("arn:aws:sns:%s:%s:ferry-approvals", src.Region, src.Account),
		workflow.EnvApprovalSecret:  fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:ferry-approval-key", src.Region, src.Account),
		workflow.EnvApprovalURL:     r.base + "/approval",
		workflow.EnvApprovalTTL:     fmt.Sprint(int(opts.ApprovalTimeout.Seconds())),
		workflow.EnvReconcileBucket: LocalBucket,
		workflow.EnvAlertsTopic:     fmt.Sprintf("arn:aws:sns:%s:%s:ferry-alerts", src.Region, src.Account),
		"AWS_REGION":                src.Region,
	}
	awsOpts := opts.AWSOptions
	if awsOpts == nil {
		awsOpts = []func(*awsconfig.LoadOptions) error{
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALRUNNER", "ferry-local-secret", "")),
		}
	}
	awsOpts = append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(src.Region)}, awsOpts...)
	env, err := workflow.LoadEnv(ctx, func(k string) string { return r.env[k] }, awsOpts...)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.handlers = map[string]lambda.Handler{}
	for _, name := range workflow.Functions {
		h, err := workflow.NewHandler(name, opts.Logger, env)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		r.handlers[name] = h
	}
	return r, nil
}

// LocalBucket is the reconcile bucket's name in the local S3 stand-in.
const LocalBucket = "ferry-local-reconcile"

// ErrNodeMissing means node_modules lacks Node 22 or aws-local-stepfunctions.
var ErrNodeMissing = errors.New("the Node tools are not installed")

// Close stops the local endpoints and waits for pending approvers.
func (r *Runner) Close() error {
	r.approvers.Wait()
	err := r.srv.Close()
	os.RemoveAll(r.dir)
	return err
}

// FunctionARN is the ARN the runner gives a function in the definition.
func (r *Runner) FunctionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:ferry-%s", r.cfg.Source.Region, r.cfg.Source.Account, name)
}

// Substitute fills the definition's placeholders as CDK does.
func (r *Runner) Substitute(def []byte) []byte {
	subs := map[string]string{
		"ValidateFunctionArn":         r.FunctionARN(workflow.FnValidate),
		"AssumeRoleFunctionArn":       r.FunctionARN(workflow.FnAssumeRole),
		"EnsureRepositoryFunctionArn": r.FunctionARN(workflow.FnEnsureRepository),
		"CopyImageFunctionArn":        r.FunctionARN(workflow.FnCopyImage),
		"VerifyFunctionArn":           r.FunctionARN(workflow.FnVerify),
		"SummarizeFunctionArn":        r.FunctionARN(workflow.FnSummarize),
		"ApprovalRequestFunctionArn":  r.FunctionARN(workflow.FnApprovalRequest),
		"CheckGatesFunctionArn":       r.FunctionARN(workflow.FnCheckGates),
		"DiscoverFunctionArn":         r.FunctionARN(workflow.FnDiscover),
		"ReconcileSummaryFunctionArn": r.FunctionARN(workflow.FnReconcileSummarize),
		"MaxConcurrency":              fmt.Sprint(r.opts.MaxConcurrency),
		"ReconcileConcurrency":        fmt.Sprint(r.opts.ReconcileConcurrency),
		"ApprovalTimeoutSeconds":      fmt.Sprint(int(r.opts.ApprovalTimeout.Seconds())),
	}
	s := string(def)
	for k, v := range subs {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return []byte(s)
}

// Execution is the outcome of one run, and of its redrives.
type Execution struct {
	ID     string          `json:"executionArn"`
	Name   string          `json:"name"`
	Status string          `json:"status"` // SUCCEEDED or FAILED
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
	// Events are the events of every attempt: the first, then for each
	// redrive an ExecutionRedriven event and that attempt's events.
	Events []Event   `json:"events"`
	Start  time.Time `json:"startDate"`
	Stop   time.Time `json:"stopDate"`
	// RedriveCount is how many times the execution was redriven
	// ($$.Execution.RedriveCount of its last attempt).
	RedriveCount int        `json:"redriveCount"`
	RedriveDate  *time.Time `json:"redriveDate,omitempty"`
	// Definition is the SHA-256 of the definition the execution ran, with
	// its placeholders filled: a redrive runs the same definition, as in AWS.
	Definition string `json:"definitionSha256,omitempty"`
}

// Event is one execution event, as aws-local-stepfunctions reports it.
type Event struct {
	Type      string      `json:"type"`
	Timestamp int64       `json:"timestamp"` // ms since the epoch
	State     *EventState `json:"state,omitempty"`
	Index     *int        `json:"index,omitempty"` // Map iteration
	Parent    *EventState `json:"parentState,omitempty"`
	Error     string      `json:"Error,omitempty"`
	Cause     any         `json:"Cause,omitempty"`
	Retry     *struct {
		Attempt int `json:"attempt"`
	} `json:"retry,omitempty"`
	// RunnerDone only:
	Status string          `json:"status,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	// ExecutionRedriven only: the redrive's number and the state it
	// resumes at.
	RedriveCount int             `json:"redriveCount,omitempty"`
	Raw          json.RawMessage `json:"-"`
}

// EventState is the state an event is about.
type EventState struct {
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
}

// CauseString returns the event's Cause as text.
func (e Event) CauseString() string {
	switch c := e.Cause.(type) {
	case nil:
		return ""
	case string:
		return c
	default:
		b, _ := json.Marshal(c)
		return string(b)
	}
}

// Run runs one execution with input and waits for it to end.
func (r *Runner) Run(ctx context.Context, input json.RawMessage) (*Execution, error) {
	name := "local-" + time.Now().UTC().Format("20060102T150405") + "-" + randomHex(4)
	arn := fmt.Sprintf("arn:aws:states:%s:%s:execution:ferry-%s:%s", r.cfg.Source.Region, r.cfg.Source.Account, r.opts.Name, name)
	ex := &Execution{ID: arn, Name: name, Start: time.Now(), Input: append(json.RawMessage(nil), input...)}
	def, sum, err := r.definition()
	if err != nil {
		return nil, err
	}
	ex.Definition = sum
	var in any
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, fmt.Errorf("execution input is not JSON: %w", err)
	}
	if err := r.attempt(ctx, ex, def, "", in); err != nil {
		return nil, err
	}
	return ex, nil
}

// ErrNotRedrivable means Redrive was given an execution that did not fail,
// or one of another definition.
var ErrNotRedrivable = errors.New("execution is not redrivable")

// Redrive redrives a failed execution as Step Functions' RedriveExecution
// does: with the same definition, execution ARN and input, it continues
// from the unsuccessful top-level state, which it re-enters with the input
// that state had, and $$.Execution.RedriveCount one higher. States that
// succeeded are not run again. It returns the execution with this
// attempt's events appended; prev is not changed.
//
// Ferry's Map catches every iteration's failure, so the state to resume is
// a Task ("Some destinations failed", or a step that failed for good). A
// Map that failed would be re-run whole here, where AWS re-runs only its
// failed iterations.
func (r *Runner) Redrive(ctx context.Context, prev *Execution) (*Execution, error) {
	if prev.Status == "SUCCEEDED" || prev.Status == "" {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRedrivable, prev.Name, cmpOr(prev.Status, "not finished"))
	}
	def, sum, err := r.definition()
	if err != nil {
		return nil, err
	}
	if prev.Definition != "" && prev.Definition != sum {
		return nil, fmt.Errorf("%w: %s ran another state machine definition; a redrive uses the definition of the original execution (start a new execution instead)", ErrNotRedrivable, prev.Name)
	}
	state, input, ok := failedState(prev.Events)
	if !ok {
		return nil, fmt.Errorf("%w: no state of %s was left unfinished", ErrNotRedrivable, prev.Name)
	}
	var in any
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, fmt.Errorf("input of %q: %w", state, err)
	}
	ex := *prev
	ex.Events = append([]Event(nil), prev.Events...)
	ex.Output, ex.Error, ex.Cause, ex.Status = nil, "", "", ""
	ex.RedriveCount = prev.RedriveCount + 1
	now := time.Now()
	ex.RedriveDate = &now
	redriven := Event{Type: "ExecutionRedriven", Timestamp: now.UnixMilli(), RedriveCount: ex.RedriveCount,
		State: &EventState{Name: state, Input: input}}
	redriven.Raw, _ = json.Marshal(redriven)
	ex.Events = append(ex.Events, redriven)
	if r.opts.Observe != nil {
		r.opts.Observe(redriven)
	}
	if err := r.attempt(ctx, &ex, def, state, in); err != nil {
		return nil, err
	}
	return &ex, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// failedState finds where the last attempt of an execution stopped: the
// last top-level state entered and not exited, and its input.
func failedState(events []Event) (string, json.RawMessage, bool) {
	var name string
	var input json.RawMessage
	open := false
	for _, ev := range events {
		if ev.Index != nil || ev.Parent != nil || ev.State == nil {
			continue
		}
		switch ev.Type {
		case "StateEntered":
			name, input, open = ev.State.Name, ev.State.Input, true
		case "StateExited":
			if ev.State.Name == name {
				open = false
			}
		}
	}
	return name, input, open && name != ""
}

// definition is the filled-in definition, and its SHA-256.
func (r *Runner) definition() (map[string]any, string, error) {
	filled := r.Substitute(r.opts.Definition)
	var def map[string]any
	if err := json.Unmarshal(filled, &def); err != nil {
		return nil, "", fmt.Errorf("state machine definition: %w", err)
	}
	h := sha256.Sum256(filled)
	return def, hex.EncodeToString(h[:]), nil
}

// attempt runs one attempt of ex: from startAt (the definition's StartAt
// when empty) with input, appending its events to ex and setting its
// outcome.
func (r *Runner) attempt(ctx context.Context, ex *Execution, def map[string]any, startAt string, input any) error {
	if startAt != "" {
		d := maps.Clone(def)
		d["StartAt"] = startAt
		def = d
	}
	var execInput any
	_ = json.Unmarshal(ex.Input, &execInput)
	execution := map[string]any{"Id": ex.ID, "Name": ex.Name, "Input": execInput,
		"StartTime": ex.Start.UTC().Format(time.RFC3339Nano), "RedriveCount": ex.RedriveCount}
	if ex.RedriveDate != nil {
		execution["RedriveTime"] = ex.RedriveDate.UTC().Format(time.RFC3339Nano)
	}
	req := map[string]any{
		"definition": def,
		"input":      input,
		"invokeURL":  r.base,
		"context": map[string]any{
			"Execution":    execution,
			"StateMachine": map[string]any{"Id": fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:ferry-%s", r.cfg.Source.Region, r.cfg.Source.Account, r.opts.Name), "Name": "ferry-" + r.opts.Name},
			"Task":         map[string]any{"Token": taskTokenPlaceholder},
		},
	}
	if r.opts.RetryInterval != nil {
		req["retryIntervalMs"] = r.opts.RetryInterval.Milliseconds()
	}
	if startAt != "" {
		req["redrive"] = true
	}
	reqFile := filepath.Join(r.dir, fmt.Sprintf("%s-%d.json", ex.Name, ex.RedriveCount))
	scriptFile := filepath.Join(r.dir, "run.mjs")
	b, _ := json.Marshal(req)
	if err := os.WriteFile(reqFile, b, 0o600); err != nil {
		return err
	}
	defer os.Remove(reqFile)
	if err := os.WriteFile(scriptFile, runScript, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, r.nodeBin, scriptFile, r.sfnMod, reqFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	done := false
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		ev.Raw = append(json.RawMessage(nil), sc.Bytes()...)
		if ev.Type == "RunnerDone" {
			done = true
			ex.Status, ex.Output, ex.Error, ex.Cause = ev.Status, ev.Output, ev.Error, ev.CauseString()
			_, _ = io.Copy(io.Discard, out)
			break
		}
		ex.Events = append(ex.Events, ev)
		if r.opts.Observe != nil {
			r.opts.Observe(ev)
		}
	}
	werr := cmd.Wait()
	ex.Stop = time.Now()
	if !done {
		if ctx.Err() != nil {
			return fmt.Errorf("the local run was stopped before it finished (%w); the states it reported are all that ran", context.Cause(ctx))
		}
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("the local Step Functions run ended without a result: %v%s", werr, msg)
	}
	return nil
}

// invokeRequest is what the Node side sends for a task.
type invokeRequest struct {
	State        string          `json:"state"`
	Resource     string          `json:"resource"`
	FunctionName string          `json:"functionName"`
	Payload      json.RawMessage `json:"payload"`
}

type invokeResponse struct {
	Payload      json.RawMessage `json:"payload,omitempty"`
	Output       json.RawMessage `json:"output,omitempty"`
	ErrorType    string          `json:"errorType,omitempty"`
	ErrorMessage string          `json:"errorMessage,omitempty"`
	Cause        string          `json:"cause,omitempty"`
}

func (r *Runner) function(arn string) (string, lambda.Handler, error) {
	name := arn[strings.LastIndex(arn, ":")+1:]
	name = strings.TrimPrefix(name, "ferry-")
	h, ok := r.handlers[name]
	if !ok {
		return name, nil, fmt.Errorf("no function %q", arn)
	}
	return name, h, nil
}

// invoke calls a handler as the Lambda service would and returns the
// result or the Lambda error shape.
func (r *Runner) invoke(ctx context.Context, h lambda.Handler, payload []byte) invokeResponse {
	out, err := safeInvoke(ctx, h, payload)
	if err != nil {
		return invokeResponse{ErrorType: errorType(err), ErrorMessage: err.Error()}
	}
	return invokeResponse{Payload: out}
}

func safeInvoke(ctx context.Context, h lambda.Handler, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{fmt.Sprint(p)}
		}
	}()
	return h.Invoke(ctx, payload)
}

type panicError struct{ msg string }

func (e *panicError) Error() string { return "panic: " + e.msg }

// errorType is the name aws-lambda-go gives an error: its type's name,
// without the pointer.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "errorString"
	}
	return t.Name()
}

func (r *Runner) serveInvoke(w http.ResponseWriter, req *http.Request) {
	var in invokeRequest
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, invokeResponse{ErrorType: "Lambda.InvalidRequestContentException", ErrorMessage: err.Error()})
		return
	}
	_, h, err := r.function(in.FunctionName)
	if err != nil {
		writeJSON(w, invokeResponse{ErrorType: "Lambda.ResourceNotFoundException", ErrorMessage: err.Error()})
		return
	}
	writeJSON(w, r.invoke(req.Context(), h, in.Payload))
}

// servePause is a Wait state (run.mjs turns each into a task that calls
// here): Options.Pause, or a real wait.
func (r *Runner) servePause(w http.ResponseWriter, req *http.Request) {
	var in struct {
		State   string  `json:"state"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, "pause: "+err.Error(), http.StatusBadRequest)
		return
	}
	d := time.Duration(in.Seconds * float64(time.Second))
	if r.opts.Pause != nil {
		if err := r.opts.Pause(req.Context(), in.State, d); err != nil {
			http.Error(w, "pause: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		w.WriteHeader(http.StatusNoContent)
	case <-req.Context().Done():
		http.Error(w, "pause: "+context.Cause(req.Context()).Error(), http.StatusServiceUnavailable)
	}
}

// serveWait emulates lambda:invoke.waitForTaskToken.
func (r *Runner) serveWait(w http.ResponseWriter, req *http.Request) {
	var in invokeRequest
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		writeJSON(w, invokeResponse{ErrorType: "States.Runtime", ErrorMessage: err.Error()})
		return
	}
	_, h, err := r.function(in.FunctionName)
	if err != nil {
		writeJSON(w, invokeResponse{ErrorType: "Lambda.ResourceNotFoundException", ErrorMessage: err.Error()})
		return
	}
	token := "ferry-local-" + randomHex(48)
	payload := bytes.ReplaceAll(in.Payload, []byte(taskTokenPlaceholder), []byte(token))
	ch := make(chan waitResult, 1)
	r.mu.Lock()
	r.waits[token] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waits, token)
		r.mu.Unlock()
	}()
	if res := r.invoke(req.Context(), h, payload); res.ErrorType != "" {
		writeJSON(w, res)
		return
	}
	timer := time.NewTimer(r.opts.ApprovalTimeout + time.Second)
	defer timer.Stop()
	select {
	case res := <-ch:
		if res.errName != "" {
			writeJSON(w, invokeResponse{ErrorType: res.errName, Cause: res.cause})
			return
		}
		writeJSON(w, invokeResponse{Output: res.output})
	case <-timer.C:
		writeJSON(w, invokeResponse{ErrorType: "States.Timeout", Cause: ""})
	case <-req.Context().Done():
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Env returns the environment the runner gives its functions (for tests
// and for printing; it holds no secret).
func (r *Runner) Env() map[string]string { return r.env }

// Alerts returns the messages published to the alerts topic so far.
func (r *Runner) Alerts() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Alert(nil), r.alerts...)
}

// Messages returns the approval messages published so far.
func (r *Runner) Messages() []ApprovalMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ApprovalMessage(nil), r.messages...)
}

// Key returns the approval secret the Secrets Manager stand-in serves
// (tests scan output for it).
func (r *Runner) Key() string { return r.key }
