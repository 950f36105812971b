// Command infra is Ferry's CDK app: `cdk synth` and `cdk deploy` run it
// (see cdk.json). It reads ferry.yaml, named by the "config" context value,
// and builds the source stack and one destination access stack per
// destination account. The reconcile's schedule is ferry.yaml's
// reconcile.schedule.
//
// Context values (cdk -c key=value):
//
//	config                  configuration file (default ferry.yaml)
//	stackName               source stack name, prefix of every name (default Ferry)
//	buildDir                Lambda binaries, <function>/bootstrap (default bin/lambda)
//	maxConcurrency          destinations copied at once per run (default 10)
//	reconcileConcurrency    reconcile jobs (child executions) at once (default 10, at most 10000)
//	approvalTimeoutSeconds  how long an approval waits (default 86400)
//	logRetentionDays        log retention (default 90)
//	lagAlarmMinutes         replication lag above which the lag alarm fires (default 30)
//	lambdaConcurrencyLimit  the account's Lambda concurrent executions quota (default 1000):
//	                        below 105, no function reserves concurrency (synth warns)
//	copyImageMemoryMB       CopyImage's memory, 128 to 10240 (default 2048): its CPU, and
//	                        so how fast it hashes and encrypts what it streams (docs/performance.md)
//	copyJobs                the most blobs one CopyImage streams at once, 1 to 64 (default 16)
//	approvalEmails          comma-separated addresses subscribed to approval requests
//	alertEmails             comma-separated addresses subscribed to alerts
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/ferry-dev/ferry/infra/stacks"
	"github.com/ferry-dev/ferry/internal/config"
)

func main() {
	os.Exit(run(nil, os.Stderr))
}

// run builds and synthesizes the app; it returns the exit status. A bad
// configuration is reported as `ferry config validate` reports it, with
// status 2. props is nil except in tests: the CDK CLI passes context and
// the output directory in the environment.
func run(props *awscdk.AppProps, stderr io.Writer) int {
	root, err := stacks.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(stderr, "ferry infra:", err)
		return 1
	}
	stacks.UseProjectNode(root)
	defer jsii.Close()

	app := awscdk.NewApp(props)
	path := contextString(app, "config", "ferry.yaml")
	cfg, err := config.Load(path)
	if err != nil {
		reportConfigError(stderr, path, err)
		return 2
	}
	p := stacks.AppProps{Config: cfg, ConfigFile: path, Root: root, Nag: true}
	p.StackName = contextString(app, "stackName", "")
	p.BuildDir = contextString(app, "buildDir", "")
	p.ApprovalEmails = contextList(app, "approvalEmails")
	p.AlertEmails = contextList(app, "alertEmails")
	for key, dst := range map[string]*int{
		"maxConcurrency":         &p.MaxConcurrency,
		"reconcileConcurrency":   &p.ReconcileConcurrency,
		"approvalTimeoutSeconds": &p.ApprovalTimeoutSeconds,
		"logRetentionDays":       &p.LogRetentionDays,
		"lagAlarmMinutes":        &p.LagAlarmMinutes,
		"lambdaConcurrencyLimit": &p.LambdaConcurrencyLimit,
	} {
		if *dst, err = contextInt(app, key); err != nil {
			fmt.Fprintln(stderr, "ferry infra:", err)
			return 2
		}
	}
	// Stage the Lambda assets in a directory of our own: synth copies them
	// into cdk.out, so it can go when synth is done.
	p.StagingDir, err = os.MkdirTemp("", "ferry-assets-")
	if err != nil {
		fmt.Fprintln(stderr, "ferry infra:", err)
		return 1
	}
	defer os.RemoveAll(p.StagingDir)
	built, err := stacks.Build(app, p)
	if err != nil {
		fmt.Fprintln(stderr, "ferry infra:", err)
		return 1
	}
	if err := copySettings(app, built.Source.Functions.ByName[stacks.FnCopyImage]); err != nil {
		fmt.Fprintln(stderr, "ferry infra:", err)
		return 2
	}
	app.Synth(nil)
	return 0
}

// reportConfigError prints each problem on its own line, then a summary,
// exactly as `ferry config validate` does.
func reportConfigError(w io.Writer, path string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "ferry: %v (give the file with -c config=FILE, or start from ferry.example.yaml)\n", err)
		return
	}
	problems := config.Errors(err)
	if len(problems) == 0 {
		fmt.Fprintln(w, "ferry:", err)
		return
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	n := "1 problem"
	if len(problems) != 1 {
		n = fmt.Sprintf("%d problems", len(problems))
	}
	fmt.Fprintf(w, "ferry: %s: invalid configuration: %s\n", path, n)
}

func contextString(app awscdk.App, key, def string) string {
	v := app.Node().TryGetContext(jsii.String(key))
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

func contextList(app awscdk.App, key string) []string {
	var out []string
	for _, s := range strings.Split(contextString(app, key, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// contextInt reads a number given as -c key=N (a string) or in cdk.json (a
// number); 0 if absent.
func contextInt(app awscdk.App, key string) (int, error) {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return 0, nil
	case float64:
		return int(v), nil
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("context %s=%q: want a whole number", key, v)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("context %s=%v: want a whole number", key, v)
	}
}

// copySettings applies the copyImageMemoryMB and copyJobs context values
// to the CopyImage function: its memory (Lambda gives CPU in proportion
// to it), and the most blobs one copy streams at once (FERRY_COPY_JOBS,
// which functions/copyimage reads).
func copySettings(app awscdk.App, fn awslambda.Function) error {
	memory, err := contextInt(app, "copyImageMemoryMB")
	if err != nil {
		return err
	}
	jobs, err := contextInt(app, "copyJobs")
	if err != nil {
		return err
	}
	switch {
	case memory != 0 && (memory < 128 || memory > 10240):
		return fmt.Errorf("context copyImageMemoryMB=%d: Lambda takes 128 to 10240 (MB)", memory)
	case jobs != 0 && (jobs < 1 || jobs > 64):
		return fmt.Errorf("context copyJobs=%d: want 1 to 64 blobs streamed at once", jobs)
	}
	if memory != 0 {
		fn.Node().DefaultChild().(awslambda.CfnFunction).SetMemorySize(jsii.Number(memory))
	}
	if jobs != 0 {
		fn.AddEnvironment(jsii.String("FERRY_COPY_JOBS"), jsii.String(strconv.Itoa(jobs)), nil)
	}
	return nil
}
