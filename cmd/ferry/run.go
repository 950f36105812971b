package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
	"golang.org/x/term"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/runner"
	"github.com/ferry-dev/ferry/internal/workflow"
	"github.com/ferry-dev/ferry/statemachine"
)

const runUsage = `Usage: ferry run --config FILE --event FILE [flags]
       ferry run --config FILE --reconcile [--event FILE] [flags]
       ferry run --config FILE --redrive EXECUTION.json [flags]

Run Ferry's workflow once, locally: the state machine (statemachine/
replicate.asl.json) executed by aws-local-stepfunctions on Node 22, with
every Lambda task invoked in this process with the real handlers. Each state
is printed as it ends, as the Step Functions console shows it; the exit code
is 0 when the execution succeeds.

--event is the execution input: an ECR push event as EventBridge delivers it
({"detail-type": "ECR Image Action", "detail": {...}}) or a manual input
({"repository": "team/app", "tag": "release-1.4", "destinations": [...]}).

Node 22 and aws-local-stepfunctions come from a ferry checkout's
node_modules (make node_modules/.installed), found upward from the working
directory or from the ferry binary's; elsewhere (ferry from go install),
ferry installs them once with npm ci into your cache directory
(~/.cache/ferry/local-stepfunctions-* on Linux, about 200 MB), from a lock
file it carries. --node-modules names another node_modules.

ECR and STS endpoints come from --endpoints (or FERRY_AWS_ENDPOINTS), JSON:
  {"sts": "http://127.0.0.1:P", "ecr": {"ACCOUNT/REGION": "http://127.0.0.1:P", ...}}
(ferry emulator --endpoints-out FILE writes them for a local ECR and STS;
make demo starts one). Without it, the handlers use the AWS SDK defaults and
your AWS credentials, which are checked before the run starts. SNS, Secrets Manager and
Step Functions' task-token callbacks are always local: approval requests are
answered with --approve, from this terminal by default.

--reconcile runs the reconcile state machine (statemachine/reconcile.asl.json)
instead: the scheduled convergence, with --event as its input ({} by default;
{"dryRun": true, "rule": NAME, "destination": "ACCOUNT/REGION", "repository":
PATTERN} narrow it, as ferry sync's flags do). Its Distributed Map, whose
ItemReader and ResultWriter aws-local-stepfunctions lacks, is run by ferry
itself: the jobs and results go to a local S3 stand-in in --s3-dir.

A run in which a destination failed ends FAILED. --record FILE (or --json)
keeps the execution; --redrive FILE then redrives it as the console's Redrive
does: same input and definition, resuming at the state that failed, so only
the failed destinations are replicated again. Fix the cause first (a role,
a permission); a redrive can itself be recorded and redriven.
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ferry run", runUsage)
	fs.SetOutput(stdout)
	cfgPath := fs.String("config", "", "the configuration `FILE`, e.g. ferry.yaml (required)")
	eventPath := fs.String("event", "", "the execution input, a JSON `FILE`; - reads standard input (required unless --redrive)")
	redrivePath := fs.String("redrive", "", "redrive this failed execution: the `FILE` --record or --json wrote")
	recordPath := fs.String("record", "", "write the execution (status, input, events) as JSON to this `FILE`, for --redrive")
	endpoints := fs.String("endpoints", os.Getenv(ecr.EnvEndpoints), "ECR/STS endpoints as `JSON`, or @FILE (default $FERRY_AWS_ENDPOINTS)")
	approve := fs.String("approve", "", "answer approval requests with `MODE`: prompt (ask on the terminal), approve, reject or none (let them time out); default prompt on a terminal, none otherwise")
	approvalTimeout := fs.Duration("approval-timeout", time.Hour, "the `DURATION` an approval waits before it fails (the stack's approvalTimeoutSeconds)")
	maxConcurrency := fs.Int("max-concurrency", 10, "destinations copied at once, 1 to 40 (the stack's maxConcurrency)")
	reconcile := fs.Bool("reconcile", false, "run the reconcile state machine (--event optional, default {})")
	reconcileConcurrency := fs.Int("reconcile-concurrency", 10, "reconcile jobs copied at once (the stack's reconcileConcurrency)")
	s3Dir := fs.String("s3-dir", "", "the local S3 stand-in's `DIR` (default: FILE.s3 next to --record or --redrive FILE, else a temporary one)")
	definition := fs.String("definition", "", "the state machine definition `FILE` (default: the one built into ferry, statemachine/replicate.asl.json)")
	nodeModules := fs.String("node-modules", "", "the node_modules `DIR` with Node 22 and aws-local-stepfunctions (default: a ferry checkout's, found upward from the working directory or ferry's, else one that ferry installs once into its cache directory)")
	asJSON := fs.Bool("json", false, "print the execution (status, output, events) as JSON instead of the step-by-step view")
	verbose := fs.Bool("verbose", false, "print the handlers' JSON logs on stderr")
	args, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if *eventPath != "" && *redrivePath != "" {
		return usagef("run takes --event or --redrive, not both")
	}
	if *reconcile && *redrivePath != "" {
		return usagef("run takes --reconcile or --redrive, not both (a redrive runs the state machine its execution ran)")
	}
	if *cfgPath == "" || (!*reconcile && (*eventPath == "") == (*redrivePath == "")) {
		return usagef("run needs --config and --event (or --reconcile, or --redrive) (run 'ferry run --help' for usage)")
	}
	if len(args) > 0 {
		return usagef("run takes no arguments, got %q (the input goes in --event FILE)", args)
	}
	if err := workflow.CheckMaxConcurrency(*maxConcurrency); err != nil {
		return usagef("--max-concurrency: %v", err)
	}
	// The step printer, the approvers and the handlers' logs write from
	// different goroutines: one write at a time.
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	var input json.RawMessage
	var prev *runner.Execution
	if *redrivePath != "" {
		if prev, err = readExecution(*redrivePath); err != nil {
			return usagef("--redrive: %v", err)
		}
		input = prev.Input
		*reconcile = strings.Contains(prev.ID, ":execution:ferry-reconcile:")
	} else if *eventPath == "" {
		input = json.RawMessage(`{}`)
	} else if input, err = readInput(*eventPath); err != nil {
		return usagef("--event: %v", err)
	}
	opts := runner.Options{
		Definition:           statemachine.Replicate,
		ConfigPath:           *cfgPath,
		MaxConcurrency:       *maxConcurrency,
		ReconcileConcurrency: *reconcileConcurrency,
		ApprovalTimeout:      *approvalTimeout,
		Logger:               slog.New(slog.DiscardHandler),
		S3Dir:                *s3Dir,
	}
	if *reconcile {
		opts.Definition, opts.Name = statemachine.Reconcile, "reconcile"
	}
	if opts.S3Dir == "" {
		switch {
		case *recordPath != "":
			opts.S3Dir = *recordPath + ".s3"
		case *redrivePath != "":
			opts.S3Dir = *redrivePath + ".s3"
		}
	}
	if *definition != "" {
		if opts.Definition, err = os.ReadFile(*definition); err != nil {
			return usagef("--definition: %v", err)
		}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	if *endpoints != "" {
		if opts.Endpoints, err = readEndpoints(*endpoints); err != nil {
			return err
		}
	} else {
		// Real AWS: the default credential chain, not stand-in keys.
		opts.AWSOptions = []func(*awsconfig.LoadOptions) error{}
	}
	// What the approvers say goes with the step-by-step view, or to stderr
	// when stdout carries the JSON.
	notices := stdout
	if *asJSON {
		notices = stderr
	}
	mode, why := *approve, ""
	if mode == "" {
		mode, why = "none", "the default when standard input is not a terminal"
		if term.IsTerminal(int(os.Stdin.Fd())) {
			mode = "prompt"
		}
	}
	switch mode {
	case "prompt":
		opts.Approver = promptApprover(ctx, os.Stdin, notices, runner.AutoApprove, runner.AutoReject)
	case "approve":
		opts.Approver = announce(notices, "approved", mode, runner.AutoApprove)
	case "reject":
		opts.Approver = announce(notices, "rejected", mode, runner.AutoReject)
	case "none":
		opts.Approver = unanswered(notices, why, *approvalTimeout)
	default:
		return usagef("--approve %q: want prompt, approve, reject or none", mode)
	}
	// Last, so that a mistake in the flags is said first.
	if *endpoints == "" {
		if err := checkAWSCredentials(ctx); err != nil {
			return err
		}
	}
	if opts.NodeModules, err = findInterpreter(ctx, runner.DefaultSearch(*nodeModules), stderr); err != nil {
		return err
	}
	var printer *runner.Printer
	if !*asJSON {
		printer = runner.NewPrinter(stdout)
		opts.Observe = printer.Observe
	}
	r, err := runner.New(ctx, opts)
	if err != nil {
		if errors.Is(err, runner.ErrNodeMissing) {
			return usageError{Err: err}
		}
		return configError{Err: err}
	}
	defer r.Close()
	var ex *runner.Execution
	if prev != nil {
		if !*asJSON {
			fmt.Fprintf(stdout, "▶ ferry run --redrive %s %s (redrive %d)\n", prev.Name, describeInput(input), prev.RedriveCount+1)
		}
		if ex, err = r.Redrive(ctx, prev); err != nil {
			if errors.Is(err, runner.ErrNotRedrivable) {
				return usageError{Err: err}
			}
			return err
		}
	} else {
		if !*asJSON {
			fmt.Fprintf(stdout, "▶ ferry run %s\n", describeInput(input))
		}
		if ex, err = r.Run(ctx, input); err != nil {
			return err
		}
	}
	if *recordPath != "" {
		b, _ := json.MarshalIndent(ex, "", "  ")
		if err := os.WriteFile(*recordPath, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ex); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "  execution %s: %s in %s\n", ex.Name, ex.Status, ex.Stop.Sub(ex.Start).Round(time.Millisecond))
	}
	if ex.Status != "SUCCEEDED" {
		hint := ""
		if *recordPath != "" {
			hint = " (fix the cause, then: " + redriveHint(fs, *recordPath, opts.S3Dir) + ")"
		}
		if *asJSON {
			return fmt.Errorf("execution %s failed: %s: %s%s", ex.Name, ex.Error, runner.CauseText(ex.Cause), hint)
		}
		// The step-by-step view has just shown the cause.
		return fmt.Errorf("execution %s failed: %s, shown above%s", ex.Name, ex.Error, hint)
	}
	return nil
}

// redriveFlags are the flags of a run that its redrive must repeat: those
// that fill in the definition (a redrive must run the same one), say where
// AWS is, or answer approvals.
var redriveFlags = []string{"config", "endpoints", "definition", "max-concurrency", "reconcile-concurrency", "approval-timeout", "approve", "node-modules"}

// redriveHint is the command that redrives the execution recorded in
// record, with the flags of this run that it needs.
func redriveHint(fs *flag.FlagSet, record, s3Dir string) string {
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	args := []string{"ferry", "run"}
	for _, name := range redriveFlags {
		if v, ok := set[name]; ok {
			args = append(args, "--"+name, shellQuote(v))
		}
	}
	args = append(args, "--redrive", shellQuote(record))
	if s3Dir != record+".s3" {
		args = append(args, "--s3-dir", shellQuote(s3Dir))
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell, unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '@' || r == ':' || r == '=' || r == ',' ||
			r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkAWSCredentials finds the AWS credentials a run without --endpoints
// uses, once, before anything starts: without them every destination would
// fail on its own with the SDK's long error (the instance metadata service's,
// three times over).
func checkAWSCredentials(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// The SDK's own logger would add its warnings ("falling back to
	// IMDSv1") to the one line this says.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err == nil {
		_, err = cfg.Credentials.Retrieve(ctx)
	}
	if err == nil {
		return nil
	}
	profile := "default"
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		profile = p
	}
	return usageError{Err: fmt.Errorf("ferry run without --endpoints runs against AWS, and found no AWS credentials "+
		"(tried the AWS_ACCESS_KEY_ID environment, profile %q in the shared config and credentials files, SSO, and the EC2/ECS instance role): "+
		"log in (aws sso login, aws configure, or AWS_PROFILE=NAME), or run against a local ECR with --endpoints @endpoints.json "+
		"(ferry emulator --config FILE --endpoints-out endpoints.json)", profile)}
}

// findInterpreter returns the node_modules a local run executes with:
// found, or installed once into the cache directory when npm is there.
func findInterpreter(ctx context.Context, s runner.Search, stderr io.Writer) (string, error) {
	nm, err := runner.FindInterpreter(ctx, s)
	nf, ok := errors.AsType[*runner.NotFoundError](err)
	if !ok {
		return nm, err
	}
	if nf.Explicit || nf.CacheDir == "" || nf.NPM == "" {
		return "", usageError{Err: err}
	}
	fmt.Fprintf(stderr, "ferry run: installing Node 22 and aws-local-stepfunctions into %s with npm ci (once; about 200 MB)...\n", s.CacheDir)
	nm, err = runner.Install(ctx, s, stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "ferry run: installed; later runs use %s\n", nm)
	return nm, nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// readExecution reads an execution --record or --json wrote.
func readExecution(path string) (*runner.Execution, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ex runner.Execution
	if err := json.Unmarshal(b, &ex); err != nil {
		return nil, fmt.Errorf("%s is not an execution that ferry run --record or --json wrote: %v", path, err)
	}
	if ex.ID == "" || len(ex.Input) == 0 || len(ex.Events) == 0 {
		return nil, fmt.Errorf("%s is not an execution that ferry run --record or --json wrote (no executionArn, input or events)", path)
	}
	return &ex, nil
}

func readInput(path string) (json.RawMessage, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not JSON", path)
	}
	return b, nil
}

// describeInput names what an input asks for, for the run's header:
// repo:tag, or repo@digest for a digest. Fields of the wrong type are left
// out here; Validate says what is wrong with them.
func describeInput(in json.RawMessage) string {
	var v map[string]any
	if json.Unmarshal(in, &v) != nil {
		return "(input is not a JSON object)"
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	if dt, ok := v["detail-type"]; ok {
		d, _ := v["detail"].(map[string]any)
		what := "ECR push event"
		if strings.EqualFold(str(d, "action-type"), "DELETE") {
			what = "ECR delete event"
		}
		if dt != "ECR Image Action" {
			return fmt.Sprintf("— event %q", fmt.Sprint(dt))
		}
		return "— " + what + ": " + image(str(d, "repository-name"), str(d, "image-tag"), str(d, "image-digest"))
	}
	if str(v, "repository") == "" && str(v, "tag") == "" && str(v, "digest") == "" {
		return "— reconcile " + string(in)
	}
	return "— manual input: " + image(str(v, "repository"), str(v, "tag"), str(v, "digest"))
}

// image is repo:tag, else repo@digest, and says what is missing.
func image(repo, tag, digest string) string {
	if repo == "" {
		repo = "(no repository)"
	}
	switch {
	case tag != "":
		return repo + ":" + tag
	case digest != "":
		return repo + "@" + digest
	}
	return repo + " (no tag or digest)"
}

// unanswered tells the user that nobody will answer an approval request
// (--approve none) and when it will time out, and leaves it unanswered.
func unanswered(w io.Writer, why string, timeout time.Duration) runner.Approver {
	var mu sync.Mutex
	if why != "" {
		why = ", " + why
	}
	return func(_ context.Context, m runner.ApprovalMessage) error {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "  ✋ approval request %q is not answered here (--approve none%s): it fails after %s. Run with --approve prompt, approve or reject to answer it.\n", m.Subject, why, timeout)
		return nil
	}
}

func announce(w io.Writer, what, flagValue string, a runner.Approver) runner.Approver {
	var mu sync.Mutex
	return func(ctx context.Context, m runner.ApprovalMessage) error {
		err := a(ctx, m)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fmt.Fprintf(w, "  ✋ approval request %q could not be answered: %v\n", m.Subject, err)
			return err
		}
		fmt.Fprintf(w, "  ✋ %s by ferry run --approve=%s (via the sealed link in the request): %s\n", what, flagValue, m.Subject)
		return nil
	}
}

// promptApprover asks on the terminal, one request at a time, and answers
// with approve or reject. Ctrl-C (runCtx ends) stops the wait for an
// answer at once: the runner waits for its approvers before it returns.
func promptApprover(runCtx context.Context, in io.Reader, out io.Writer, approve, reject runner.Approver) runner.Approver {
	var mu sync.Mutex
	var once sync.Once
	lines := make(chan string)
	return func(ctx context.Context, m runner.ApprovalMessage) error {
		mu.Lock()
		defer mu.Unlock()
		// One reader for all prompts, started at the first: a read cannot
		// be cancelled, and a second reader would take the next answer.
		once.Do(func() {
			go func() {
				rd := bufio.NewReader(in)
				for {
					line, err := rd.ReadString('\n')
					if line != "" || err == nil {
						lines <- line
					}
					if err != nil {
						close(lines)
						return
					}
				}
			}()
		})
		fmt.Fprintf(out, "\n  ✋ %s\n%s\n  Approve? [y/N] ", m.Subject, indent(m.Message))
		var line string
		select {
		case line = <-lines: // closed (end of input): "", a rejection
		case <-runCtx.Done():
			fmt.Fprintln(out)
			return fmt.Errorf("approval request %q left unanswered: %w", m.Subject, context.Cause(runCtx))
		case <-ctx.Done():
			fmt.Fprintln(out)
			return fmt.Errorf("approval request %q left unanswered: %w", m.Subject, context.Cause(ctx))
		}
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y") {
			return approve(ctx, m)
		}
		return reject(ctx, m)
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(l, "Approve: ") || strings.HasPrefix(l, "Reject: ") {
			continue // the links carry the task token: not for the terminal
		}
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
