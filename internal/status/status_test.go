package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// fakeSFN is Step Functions with a few executions; it records its calls.
type fakeSFN struct {
	list     map[string][]types.ExecutionListItem // by state machine ARN, newest first
	pageSize int
	describe map[string]*sfn.DescribeExecutionOutput
	history  map[string][]types.HistoryEvent // oldest first, as AWS keeps them
	calls    []string
}

func (f *fakeSFN) ListExecutions(_ context.Context, in *sfn.ListExecutionsInput, _ ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error) {
	f.calls = append(f.calls, "ListExecutions "+aws.ToString(in.StateMachineArn)+" "+aws.ToString(in.NextToken))
	items, ok := f.list[aws.ToString(in.StateMachineArn)]
	if !ok {
		return nil, &types.StateMachineDoesNotExist{Message: aws.String("State Machine Does Not Exist: '" + aws.ToString(in.StateMachineArn) + "'")}
	}
	start := 0
	if in.NextToken != nil {
		start = int(aws.ToString(in.NextToken)[0] - '0')
	}
	end := min(start+f.pageSize, len(items))
	out := &sfn.ListExecutionsOutput{Executions: items[start:end]}
	if end < len(items) {
		out.NextToken = aws.String(string(rune('0' + end)))
	}
	return out, nil
}

func (f *fakeSFN) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.calls = append(f.calls, "DescribeExecution "+aws.ToString(in.ExecutionArn))
	return f.describe[aws.ToString(in.ExecutionArn)], nil
}

func (f *fakeSFN) GetExecutionHistory(_ context.Context, in *sfn.GetExecutionHistoryInput, _ ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	f.calls = append(f.calls, "GetExecutionHistory "+aws.ToString(in.ExecutionArn))
	events := slices.Clone(f.history[aws.ToString(in.ExecutionArn)])
	if in.ReverseOrder {
		slices.Reverse(events)
	}
	return &sfn.GetExecutionHistoryOutput{Events: events}, nil
}

const (
	replicate = "arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-replicate"
	reconcile = "arn:aws:states:us-east-1:111111111111:stateMachine:Ferry-reconcile"
	execARN   = "arn:aws:states:us-east-1:111111111111:execution:Ferry-replicate:"
	recARN    = "arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile:"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func summaryJSON(t *testing.T, outcomes ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"repository": "team/app", "tag": "release-1.4", "digest": "sha256:" + strings.Repeat("ab", 32), "destinations": outcomes})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// world is three replicate executions (a failed one, with a Summarize in
// its history; a succeeded one, whose output is the summary; one from two
// days ago) and a failed reconcile that cannot be redriven.
func world(t *testing.T) *fakeSFN {
	t.Helper()
	at := func(h time.Duration) *time.Time { v := now.Add(-h); return &v }
	failed := execARN + "0e4c9a5e-2c1d-4c55-9a5e-2c1d4c559a5e"
	ok, old := execARN+"ok-1", execARN+"old-1"
	rec := recARN + "nightly-1"
	sum := summaryJSON(t,
		map[string]any{"destination": "222222222222/eu-west-1", "image": "team/app:release-1.4", "status": "copied"},
		map[string]any{"destination": "333333333333/us-west-2", "image": "team/app:release-1.4", "status": "failed", "error": "AccessDeniedError", "reason": "assume role arn:aws:iam::333333333333:role/ferry-replication: " + strings.Repeat("denied ", 20)},
		map[string]any{"destination": "444444444444/ap-southeast-2", "image": "mirror/team/app:release-1.4", "status": "approval timed out"},
	)
	return &fakeSFN{
		pageSize: 2,
		list: map[string][]types.ExecutionListItem{
			replicate: {
				{ExecutionArn: aws.String(ok), StartDate: at(time.Hour)},
				{ExecutionArn: aws.String(failed), StartDate: at(2 * time.Hour)},
				{ExecutionArn: aws.String(old), StartDate: at(48 * time.Hour)},
				{ExecutionArn: aws.String(old + "-never-read"), StartDate: at(49 * time.Hour)},
			},
			reconcile: {{ExecutionArn: aws.String(rec), StartDate: at(3 * time.Hour)}},
		},
		describe: map[string]*sfn.DescribeExecutionOutput{
			failed: {ExecutionArn: aws.String(failed), Name: aws.String("0e4c9a5e-2c1d-4c55-9a5e-2c1d4c559a5e"), Status: types.ExecutionStatusFailed,
				StartDate: at(2 * time.Hour), StopDate: at(2*time.Hour - 90*time.Second),
				Input:         aws.String(`{"detail-type":"ECR Image Action","detail":{"repository-name":"team/app","image-tag":"release-1.4"}}`),
				Error:         aws.String("ReplicationFailed"),
				Cause:         aws.String(`{"errorMessage":"2 of 3 destinations failed"}`),
				RedriveStatus: types.ExecutionRedriveStatusRedrivable},
			ok: {ExecutionArn: aws.String(ok), Name: aws.String("ok-1"), Status: types.ExecutionStatusSucceeded, StartDate: at(time.Hour), StopDate: at(time.Hour - time.Minute),
				Input:        aws.String(`{"repository":"team/app","tag":"release-1.5"}`),
				Output:       aws.String(summaryJSON(t, map[string]any{"destination": "222222222222/eu-west-1", "image": "team/app:release-1.4", "status": "unchanged"})),
				RedriveCount: aws.Int32(1), RedriveStatus: types.ExecutionRedriveStatusNotRedrivable},
			rec: {ExecutionArn: aws.String(rec), Name: aws.String("nightly-1"), Status: types.ExecutionStatusFailed, StartDate: at(3 * time.Hour),
				Input: aws.String(`{}`), Error: aws.String("States.Runtime"), Cause: aws.String("An error occurred while executing the state 'Discover'"),
				RedriveStatus: types.ExecutionRedriveStatusNotRedrivable, RedriveStatusReason: aws.String("Execution is RUNNING and cannot be redriven")},
		},
		history: map[string][]types.HistoryEvent{
			failed: {
				{Type: types.HistoryEventTypeExecutionStarted},
				{Type: types.HistoryEventTypeTaskStateExited, StateExitedEventDetails: &types.StateExitedEventDetails{Name: aws.String("Summarize"), Output: aws.String(sum)}},
				{Type: types.HistoryEventTypeTaskStateExited, StateExitedEventDetails: &types.StateExitedEventDetails{Name: aws.String("Some destinations failed"), Output: aws.String(`{}`)}},
				{Type: types.HistoryEventTypeExecutionFailed},
			},
			rec: {
				{Type: types.HistoryEventTypeExecutionStarted},
				{Type: types.HistoryEventTypeExecutionFailed},
			},
		},
	}
}

func TestStatusFromSFN(t *testing.T) {
	t.Parallel()
	f := world(t)
	rep, err := FromSFN(context.Background(), f, SFNOptions{StateMachines: []string{replicate, reconcile}, Since: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range rep.Executions {
		names = append(names, e.Name)
	}
	if want := []string{"ok-1", "0e4c9a5e-2c1d-4c55-9a5e-2c1d4c559a5e", "nightly-1"}; !slices.Equal(names, want) {
		t.Fatalf("executions %v, want %v (newest first, none older than --since)", names, want)
	}
	okEx, failed, rec := rep.Executions[0], rep.Executions[1], rep.Executions[2]

	if failed.Image != "team/app:release-1.4" || failed.Kind != "replicate" || failed.StateMachine != "Ferry-replicate" {
		t.Errorf("failed execution: image %q kind %q machine %q", failed.Image, failed.Kind, failed.StateMachine)
	}
	if want := []string{"333333333333/us-west-2", "444444444444/ap-southeast-2"}; !slices.Equal(failed.Failed, want) {
		t.Errorf("failed destinations %v, want %v", failed.Failed, want)
	}
	if len(failed.Destinations) != 3 || failed.Destinations[1].Error != "AccessDeniedError" {
		t.Errorf("destinations %+v", failed.Destinations)
	}
	if want := "aws stepfunctions redrive-execution --region us-east-1 --execution-arn " + failed.ARN; failed.Redrive != want {
		t.Errorf("redrive %q, want %q", failed.Redrive, want)
	}
	if failed.Cause != "2 of 3 destinations failed" {
		t.Errorf("cause %q: want the Lambda error's message", failed.Cause)
	}

	// The succeeded one's output is its summary: its history is not read.
	if okEx.Image != "team/app:release-1.4" || len(okEx.Destinations) != 1 || okEx.Redrive != "" || okEx.RedriveCount != 1 {
		t.Errorf("succeeded execution: %+v", okEx)
	}
	if slices.Contains(f.calls, "GetExecutionHistory "+okEx.ARN) {
		t.Errorf("read the history of an execution whose output is its summary: %v", f.calls)
	}
	// Listing stops at the first execution older than --since.
	for _, c := range f.calls {
		if strings.Contains(c, "old-1") || strings.HasSuffix(c, " 4") {
			t.Errorf("read past --since: %s", c)
		}
	}

	if rec.Kind != "reconcile" || rec.Redrive != "" || rec.NotRedrivable != "Execution is RUNNING and cannot be redriven" || rec.Error != "States.Runtime" {
		t.Errorf("reconcile: %+v", rec)
	}
}

func TestStatusFromSFNMissingStateMachine(t *testing.T) {
	t.Parallel()
	f := world(t)
	other := "arn:aws:states:us-east-1:111111111111:stateMachine:Other-replicate"
	_, err := FromSFN(context.Background(), f, SFNOptions{StateMachines: []string{other}, Since: now.Add(-time.Hour)})
	var missing *types.StateMachineDoesNotExist
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "--stack NAME") {
		t.Errorf("err = %v; want StateMachineDoesNotExist naming %s and --stack", err, other)
	}
}

func TestStatusFromSFNLimit(t *testing.T) {
	t.Parallel()
	f := world(t)
	rep, err := FromSFN(context.Background(), f, SFNOptions{StateMachines: []string{replicate}, Since: now.Add(-24 * time.Hour), Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Executions) != 1 || rep.Executions[0].Name != "ok-1" {
		t.Errorf("--limit 1 gave %+v", rep.Executions)
	}
}

// TestStatusWrite: the text report names what failed and how to redrive it, and
// every line fits 100 columns, the redrive command too, which the shell
// joins back whole.
func TestStatusWrite(t *testing.T) {
	t.Parallel()
	rep, err := FromSFN(context.Background(), world(t), SFNOptions{StateMachines: []string{replicate, reconcile}, Since: now.Add(-24 * time.Hour), EndpointURL: "http://127.0.0.1:4566"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for i, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > Width {
			t.Errorf("line %d is %d columns:\n%s", i+1, n, l)
		}
	}
	for _, want := range []string{
		"Ferry-replicate and Ferry-reconcile: 3 executions since 2026-12-01 12:00 UTC, 2 failed\n",
		"2026-12-02 10:00:00 UTC  FAILED  team/app:release-1.4 (in 1m30s)\n",
		"  ✓ 222222222222/eu-west-1       copied              team/app:release-1.4\n",
		"  ✗ 333333333333/us-west-2       failed              AccessDeniedError: assume role arn:aws:iam::33…\n",
		"  ✗ 444444444444/ap-southeast-2  approval timed out\n",
		"  failed: 333333333333/us-west-2, 444444444444/ap-southeast-2\n",
		"  redrive, once the cause is fixed (only the failed destinations are replicated again):\n",
		"(in 1m0s, redriven once)\n",
		"  ✗ States.Runtime: An error occurred while executing the state 'Discover'\n",
		"  not redrivable: Execution is RUNNING and cannot be redriven; start a new execution instead\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	failed := rep.Executions[1]
	i := strings.Index(out, "    aws stepfunctions redrive-execution")
	if i < 0 {
		t.Fatalf("no redrive command:\n%s", out)
	}
	block := out[i:]
	block = block[:strings.Index(block, "\n\n")]
	if got := shellWords(block); got != failed.Redrive {
		t.Errorf("the printed command, as the shell reads it:\n%s\nwant:\n%s\nprinted:\n%s", got, failed.Redrive, block)
	}
	if !strings.Contains(failed.Redrive, "--endpoint-url http://127.0.0.1:4566") {
		t.Errorf("redrive %q lacks the endpoint", failed.Redrive)
	}
}

// shellWords reads a command as a POSIX shell does: backslash-newline is
// removed, then blanks separate words.
func shellWords(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\\\n", "")), " ")
}

func TestStatusWrapCommand(t *testing.T) {
	t.Parallel()
	long := "x" + strings.Repeat("0123456789", 25)
	for _, cmd := range []string{
		"short command",
		"aws stepfunctions redrive-execution --region us-east-1 --execution-arn arn:aws:states:us-east-1:111111111111:execution:Ferry-replicate:0e4c9a5e-2c1d-4c55-9a5e-2c1d4c559a5e",
		"ferry run --config ferry.yaml --redrive " + long + " --record " + long,
		strings.Repeat("word ", 60),
	} {
		lines := wrapCommand(cmd, 4, Width)
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > Width {
				t.Errorf("%d columns: %q", n, l)
			}
		}
		if got := shellWords(strings.Join(lines, "\n")); got != strings.Join(strings.Fields(cmd), " ") {
			t.Errorf("wrapped %q reads back as %q", cmd, got)
		}
	}
}

func TestStatusWriteNone(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Write(&buf, &Report{Source: "aws", Since: now, StateMachines: []string{replicate}}); err != nil {
		t.Fatal(err)
	}
	if want := "Ferry-replicate: no executions since 2026-12-02 12:00 UTC\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

// TestStatusJSONFields guards the --json contract: the field names scripts read.
func TestStatusJSONFields(t *testing.T) {
	t.Parallel()
	stop := now
	e := Execution{StateMachine: "m", Kind: "replicate", ARN: "a", Name: "n", Status: "FAILED", Start: now, Stop: &stop, RedriveCount: 1,
		Image: "i", Digest: "d", Destinations: []Destination{{Destination: "x", Image: "i", Status: "failed", Error: "E", Reason: "r"}},
		Failed: []string{"x"}, Counts: map[string]int{"copied": 1}, Error: "e", Cause: "c", Redrive: "r", NotRedrivable: "n", Record: "f"}
	rep := Report{Source: "local", Since: now, StateMachines: []string{"s"}, Records: []string{"f"}, Executions: []Execution{e}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Executions []map[string]json.RawMessage `json:"executions"`
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(b, &top)
	_ = json.Unmarshal(b, &v)
	check := func(what string, m map[string]json.RawMessage, want ...string) {
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s fields %v, want %v", what, got, want)
		}
	}
	check("report", top, "source", "since", "stateMachines", "records", "executions")
	check("execution", v.Executions[0], "stateMachine", "kind", "executionArn", "name", "status", "startDate", "stopDate", "redriveCount",
		"image", "digest", "destinations", "failed", "counts", "error", "cause", "redrive", "notRedrivable", "record")
	var d []map[string]json.RawMessage
	_ = json.Unmarshal(v.Executions[0]["destinations"], &d)
	check("destination", d[0], "destination", "image", "status", "error", "reason")
}

func TestStatusShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ferry.yaml":         "ferry.yaml",
		"/tmp/runs/a.json":   "/tmp/runs/a.json",
		"@endpoints.json":    "@endpoints.json",
		"my runs/a.json":     "'my runs/a.json'",
		"it's":               `'it'\''s'`,
		`{"sts":"http://x"}`: `'{"sts":"http://x"}'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
