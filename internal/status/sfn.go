package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// SFNAPI is the part of the Step Functions API that status reads.
type SFNAPI interface {
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

var _ SFNAPI = (*sfn.Client)(nil)

// DefaultLimit is how many executions of each state machine FromSFN reads
// at most, unless told.
const DefaultLimit = 50

// historyPages bounds the history read to find an execution's summary:
// Summarize is among the last events, and the history of a long run is
// long.
const historyPages = 5

// SFNOptions say what FromSFN reads.
type SFNOptions struct {
	// StateMachines are the ARNs of the state machines whose executions
	// are listed (see StateMachineARN).
	StateMachines []string
	// Since: executions started before it are left out.
	Since time.Time
	// Limit is the most executions read per state machine (0:
	// DefaultLimit); the newest are kept.
	Limit int
	// EndpointURL, when Step Functions is not AWS's own endpoint, goes
	// into the redrive commands (--endpoint-url).
	EndpointURL string
}

// StateMachineARN is the ARN of a Ferry state machine: the stack's name
// and "-replicate" or "-reconcile", in the source account and region (as
// infra names them).
func StateMachineARN(partition, account, region, name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", partition, region, account, name)
}

// FromSFN lists the executions of the state machines started since
// opts.Since, newest first, with each one's outcome per destination (from
// its Summarize state) and, for one that failed, how to redrive it.
func FromSFN(ctx context.Context, api SFNAPI, opts SFNOptions) (*Report, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	rep := &Report{Source: "aws", Since: opts.Since, StateMachines: opts.StateMachines, Executions: []Execution{}}
	for _, machine := range opts.StateMachines {
		items, err := listExecutions(ctx, api, machine, opts.Since, limit)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			e, err := describe(ctx, api, aws.ToString(it.ExecutionArn), opts.EndpointURL)
			if err != nil {
				return nil, err
			}
			rep.Executions = append(rep.Executions, e)
		}
	}
	sortNewestFirst(rep.Executions)
	return rep, nil
}

func listExecutions(ctx context.Context, api SFNAPI, machine string, since time.Time, limit int) ([]types.ExecutionListItem, error) {
	var out []types.ExecutionListItem
	in := &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine), MaxResults: int32(min(limit, 1000))}
	for {
		page, err := api.ListExecutions(ctx, in)
		if err != nil {
			var missing *types.StateMachineDoesNotExist
			if errors.As(err, &missing) {
				return nil, fmt.Errorf("list executions of %s: %w; is Ferry deployed in that account and region under that stack name? (ferry status --stack NAME names another stack)", machine, err)
			}
			return nil, fmt.Errorf("list executions of %s: %w", machine, err)
		}
		// Step Functions lists the newest first.
		for _, it := range page.Executions {
			if it.StartDate != nil && it.StartDate.Before(since) {
				return out, nil
			}
			out = append(out, it)
			if len(out) >= limit {
				return out, nil
			}
		}
		if page.NextToken == nil {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

func describe(ctx context.Context, api SFNAPI, arn, endpointURL string) (Execution, error) {
	d, err := api.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return Execution{}, fmt.Errorf("describe execution %s: %w", arn, err)
	}
	e := Execution{
		StateMachine: stateMachineOf(arn),
		ARN:          arn,
		Name:         aws.ToString(d.Name),
		Status:       string(d.Status),
		Start:        aws.ToTime(d.StartDate),
		Stop:         d.StopDate,
		RedriveCount: int(aws.ToInt32(d.RedriveCount)),
		Error:        aws.ToString(d.Error),
		Cause:        causeText(aws.ToString(d.Cause)),
	}
	var summary json.RawMessage
	if out := aws.ToString(d.Output); out != "" && hasSummary([]byte(out)) {
		summary = json.RawMessage(out)
	} else if summary, err = summaryFromHistory(ctx, api, arn); err != nil {
		// A failed run has no output: its summary is in the history.
		return Execution{}, err
	}
	e.fill(json.RawMessage(aws.ToString(d.Input)), summary)
	if e.Unsuccessful() {
		if d.RedriveStatus == types.ExecutionRedriveStatusRedrivable {
			e.Redrive = awsRedrive(arn, endpointURL)
		} else {
			e.NotRedrivable = cmpOr(aws.ToString(d.RedriveStatusReason), "Step Functions says it is "+strings.ToLower(strings.ReplaceAll(string(d.RedriveStatus), "_", " ")))
		}
	}
	return e, nil
}

// hasSummary reports whether an execution's output is a summary, which a
// replicate execution that succeeded ends with.
func hasSummary(out []byte) bool {
	var v struct {
		Destinations json.RawMessage `json:"destinations"`
		Counts       json.RawMessage `json:"counts"`
	}
	return json.Unmarshal(out, &v) == nil && (len(v.Destinations) > 0 || len(v.Counts) > 0)
}

// summaryFromHistory finds the output of the last Summarize state in an
// execution's history, or nil.
func summaryFromHistory(ctx context.Context, api SFNAPI, arn string) (json.RawMessage, error) {
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), ReverseOrder: true, IncludeExecutionData: aws.Bool(true), MaxResults: 200}
	for range historyPages {
		page, err := api.GetExecutionHistory(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("get the history of execution %s: %w", arn, err)
		}
		for _, ev := range page.Events {
			if x := ev.StateExitedEventDetails; x != nil && aws.ToString(x.Name) == SummarizeState {
				return json.RawMessage(aws.ToString(x.Output)), nil
			}
		}
		if page.NextToken == nil {
			return nil, nil
		}
		in.NextToken = page.NextToken
	}
	return nil, nil
}

// awsRedrive is the AWS CLI command that redrives an execution. The region
// is the execution's, so the command works whatever the CLI's default.
func awsRedrive(arn, endpointURL string) string {
	cmd := "aws stepfunctions redrive-execution"
	if parts := strings.Split(arn, ":"); len(parts) > 3 && parts[3] != "" {
		cmd += " --region " + parts[3]
	}
	if endpointURL != "" {
		cmd += " --endpoint-url " + endpointURL
	}
	return cmd + " --execution-arn " + arn
}

func sortNewestFirst(es []Execution) {
	slices.SortStableFunc(es, func(a, b Execution) int { return b.Start.Compare(a.Start) })
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
