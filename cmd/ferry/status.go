package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/status"
)

const statusUsage = `Usage: ferry status [--config FILE] [--since 24h] [--json]
       ferry status --record FILE|DIR [--since 24h] [--json]
       ferry status --endpoints FILE [--config FILE] [--since 24h] [--json]

List the recent executions of the deployed state machines, <stack>-replicate
and <stack>-reconcile in the source account and region of the configuration:
for each, when it started, its status and image, one line per destination
with its outcome, and for one that failed, the destinations that failed and
the command that redrives it (aws stepfunctions redrive-execution ...): a
redrive replicates only the failed destinations again. It reads Step
Functions with your AWS credentials (ListExecutions, DescribeExecution,
GetExecutionHistory) and changes nothing.

--record reads local runs instead: the file ferry run --record FILE wrote,
or a directory of them; the redrive command is then ferry run --redrive,
with this --config and --endpoints (the ones the run used). Without
--record, --endpoints FILE (JSON, @FILE or FILE, as ferry run takes it)
must have an "sfn" endpoint, which is read instead of AWS's Step Functions;
ferry emulator writes none, as it runs no state machine: a local run is
kept by ferry run --record.

--json prints {"source", "since", "stateMachines" or "records",
"executions": [{"stateMachine", "kind", "executionArn", "name", "status",
"startDate", "stopDate", "redriveCount", "image", "digest", "destinations":
[{"destination", "image", "status", "error", "reason"}], "failed",
"counts", "error", "cause", "redrive", "notRedrivable", "record"}]},
newest first; fields are only ever added.
`

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := cli.NewFlagSet("ferry status", statusUsage)
	fset.SetOutput(stdout)
	cfgPath := fset.String("config", "ferry.yaml", "configuration `FILE`: the source account and region")
	since := fset.Duration("since", 24*time.Hour, "list executions started in this `DURATION` before now")
	asJSON := fset.Bool("json", false, "print the executions as JSON")
	stack := fset.String("stack", "Ferry", "the deployed stack's `NAME` (cdk deploy -c stackName=NAME)")
	record := fset.String("record", "", "read local runs: the `FILE` ferry run --record wrote, or a directory of them")
	endpoints := fset.String("endpoints", os.Getenv(ecr.EnvEndpoints), "stand-in endpoints `FILE` (or @FILE, or JSON; default $FERRY_AWS_ENDPOINTS): with --record, for the redrive command; else its \"sfn\" is read")
	limit := fset.Int("limit", status.DefaultLimit, "read at most `N` executions of each state machine, the newest")
	args, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("ferry status takes no arguments, got %q (local runs go in --record FILE)", args)
	}
	if *since <= 0 {
		return usagef("--since %s: want a positive duration, e.g. 24h or 30m", *since)
	}
	if *limit < 1 {
		return usagef("--limit %d: want 1 or more", *limit)
	}
	from := time.Now().Add(-*since)
	var rep *status.Report
	switch {
	case *record != "":
		epFlag := *endpoints
		if epFlag != "" && !strings.HasPrefix(strings.TrimSpace(epFlag), "{") && !strings.HasPrefix(epFlag, "@") {
			epFlag = "@" + epFlag
		}
		if rep, err = status.FromRecords([]string{*record}, status.LocalOptions{Since: from, Config: *cfgPath, Endpoints: epFlag}); err != nil {
			return usageError{Err: err}
		}
	default:
		if rep, err = statusFromSFN(ctx, *cfgPath, *stack, *endpoints, from, *limit, stderr); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	return status.Write(stdout, rep)
}

// statusFromSFN reads the executions of the stack's state machines from
// Step Functions: AWS's, or the "sfn" endpoint of --endpoints.
func statusFromSFN(ctx context.Context, cfgPath, stack, endpoints string, since time.Time, limit int, stderr io.Writer) (*status.Report, error) {
	cfg, err := loadConfigFile(cfgPath, "give the file with --config, or read local runs with --record FILE", stderr)
	if err != nil {
		return nil, err
	}
	src := cfg.Source
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(src.Region)}
	endpointURL := ""
	if endpoints != "" {
		if t := strings.TrimSpace(endpoints); !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "@") {
			endpoints = "@" + endpoints
		}
		ep, err := readEndpoints(endpoints)
		if err != nil {
			return nil, err
		}
		if ep.SFN == "" {
			return nil, usagef(`--endpoints has no "sfn" endpoint: ferry emulator stands in for ECR and STS, not Step Functions, and keeps no executions; local runs are kept by ferry run --record FILE: read them with ferry status --record FILE (or its directory)`)
		}
		endpointURL = ep.SFN
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALSTATUS", "ferry-local-secret", "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, configError{Err: fmt.Errorf("load the AWS configuration for %s: %w", src.ID(), err)}
	}
	if endpointURL == "" {
		// One clear line when there are no credentials, before any call.
		if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("no AWS credentials to read the executions in %s from Step Functions (%w); sign in (aws sso login, or set AWS_PROFILE), or read local runs with --record FILE", src.ID(), err)
		}
	}
	client := sfn.NewFromConfig(awsCfg, func(o *sfn.Options) {
		if endpointURL != "" {
			o.BaseEndpoint = aws.String(endpointURL)
		}
	})
	partition := config.Partition(src.Region)
	return status.FromSFN(ctx, client, status.SFNOptions{
		StateMachines: []string{
			status.StateMachineARN(partition, src.Account, src.Region, stack+"-replicate"),
			status.StateMachineARN(partition, src.Account, src.Region, stack+"-reconcile"),
		},
		Since:       since,
		Limit:       limit,
		EndpointURL: endpointURL,
	})
}
