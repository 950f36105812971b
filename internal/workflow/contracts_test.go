package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/statemachine"
)

// This file guards the names other systems depend on, listed in
// docs/contracts.md: what the state machines read from the Go types and
// the Go types read from them, the error names their Retry and Catch
// match, and the strings deployed IAM policies, role names, dashboards and
// alarms hold. A change here is a change to a deployed contract: say so in
// docs/contracts.md and in the commit.

// TestContractStrings pins the values that deployed resources outside this
// repository's build hold: role names other accounts trust, session and
// repository tag values in their IAM conditions, metric names in users'
// dashboards and alarms, the error name a rejection sends.
func TestContractStrings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		// Function names: Lambda <stack>-<fn>, role <stack>-<region>-<fn>
		// (which the destination roles' trust policies name), functions/<fn>/.
		{FnValidate, "validate"},
		{FnAssumeRole, "assumerole"},
		{FnEnsureRepository, "ensurerepo"},
		{FnCopyImage, "copyimage"},
		{FnVerify, "verify"},
		{FnSummarize, "summarize"},
		{FnApprovalRequest, "approvalrequest"},
		{FnApprovalCallback, "approvalcallback"},
		{FnCheckGates, "checkgates"},
		{FnDiscover, "discover"},
		{FnReconcileSummarize, "reconcilesummary"},
		// The session tag and its values, in the destination roles' trust
		// and permission policies.
		{ecr.TagAccess, "ferry-access"},
		{ecr.AccessRead, "read"},
		{ecr.AccessWrite, "write"},
		{ecr.AccessAdmin, "admin"},
		// Ferry's repository marker, in the destination roles' conditions.
		{ecr.SettingsTag, "ferry:settings"},
		{ecr.SettingsPending, "pending"},
		{ecr.SettingsApplied, "applied"},
		// Metrics (embedded metric format).
		{MetricsNamespace, "Ferry"},
		{DimensionStateMachine, "StateMachine"},
		{DimensionDestination, "Destination"},
		{MetricCopied, "Copied"},
		{MetricUnchanged, "Unchanged"},
		{MetricFailed, "Failed"},
		{MetricBlocked, "Blocked"},
		{MetricSuperseded, "Superseded"},
		{MetricSkipped, "Skipped"},
		{MetricUntagged, "Untagged"},
		{MetricBytesCopied, "BytesCopied"},
		{MetricReplicationLag, "ReplicationLag"},
		{MetricReplicationsBlocked, "ReplicationsBlocked"},
		// The gate statuses "Gates passed?" matches.
		{GateWaiting, "waiting"},
		{GateBlocked, "blocked"},
		// SendTaskFailure's error for a rejection, which Summarize reads.
		{ErrorApprovalRejected, "ApprovalRejected"},
		// The reconcile bucket's prefix, which the stack's IAM grants and
		// lifecycle rule name (infra/stacks ReconcileRunsPrefix).
		{runsPrefix, "runs/"},
	} {
		if c.got != c.want {
			t.Errorf("contract string %q is now %q: deployed policies, roles or alarms hold %q (see docs/contracts.md)", c.want, c.got, c.want)
		}
	}
}

// errorName is the name Step Functions sees for an error a handler
// returns: its Go type's name, without the pointer (aws-lambda-go's
// lambdaErrorResponse, and the local runner's errorType).
func errorName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// namedErrors are the error types that reach Step Functions, by the name
// it sees: the ASL's ErrorEquals, the local runner's printer
// (VerificationError, ReplicationFailed, ReconcileFailed) and anyone's
// alarms on the execution's error read these names.
var namedErrors = map[string]error{
	"ValidationError":    &ValidationError{},
	"RetryableError":     &RetryableError{},
	"AccessDeniedError":  &AccessDeniedError{},
	"ConflictError":      &ConflictError{},
	"VerificationError":  &VerificationError{},
	"ReplicationError":   &ReplicationError{},
	"ConfigurationError": &ConfigurationError{},
	"ReplicationFailed":  &ReplicationFailed{},
	"ReconcileFailed":    &ReconcileFailed{},
}

// Errors Step Functions itself raises for a Lambda task, which the ASL may
// match (the Step Functions Developer Guide, "Handling errors").
var serviceErrors = []string{
	"States.ALL", "States.Timeout", "States.HeartbeatTimeout", "States.TaskFailed", "States.Runtime",
	"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
	"Lambda.TooManyRequestsException", "Lambda.Unknown", "Lambda.ClientExecutionTimeoutException",
}

// TestErrorNames: every name in an ErrorEquals of either state machine is
// a Step Functions error or the type name of an error the Go steps return,
// so that renaming a Go error type cannot silently turn a Retry or Catch
// off.
func TestErrorNames(t *testing.T) {
	t.Parallel()
	for name, err := range namedErrors {
		if got := errorName(err); got != name {
			t.Errorf("%T reaches Step Functions as %q, not %q", err, got, name)
		}
	}
	for file, def := range definitions(t) {
		seen := 0
		walkJSON(def, func(key string, v any) {
			if key != "ErrorEquals" {
				return
			}
			for _, e := range v.([]any) {
				name := e.(string)
				seen++
				if _, ok := namedErrors[name]; !ok && !slices.Contains(serviceErrors, name) {
					t.Errorf("%s: ErrorEquals %q is neither a Step Functions error nor the type name of an error the steps return (%v)", file, name, sortedKeys(namedErrors))
				}
			}
		})
		if seen == 0 {
			t.Errorf("%s: no ErrorEquals found: the walk is broken", file)
		}
	}
}

// shape is what JSON a Go type writes and reads: its fields by JSON name.
type shape struct {
	name   string
	fields map[string]*shape // a struct's fields; nil for anything else
	elem   *shape            // a slice's element
	open   bool              // any field: a map, json.RawMessage or any
}

func shapeOf(v any) *shape { return buildShape(reflect.TypeOf(v), map[reflect.Type]*shape{}) }

func buildShape(t reflect.Type, seen map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := seen[t]; ok {
		return s
	}
	s := &shape{name: t.String()}
	seen[t] = s
	switch {
	case t == reflect.TypeFor[json.RawMessage](), t.Kind() == reflect.Interface, t.Kind() == reflect.Map:
		s.open = true
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Array:
		s.elem = buildShape(t.Elem(), seen)
	case t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]():
		s.fields = map[string]*shape{}
		addFields(s, t, seen)
	}
	return s
}

// addFields adds t's fields as encoding/json names them, embedded structs'
// fields included.
func addFields(s *shape, t reflect.Type, seen map[reflect.Type]*shape) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(s, ft, seen)
				continue
			}
		}
		if tag == "" {
			tag = f.Name
		}
		s.fields[tag] = buildShape(f.Type, seen)
	}
}

// objectShape is a shape made of named parts, for what no single Go type is.
func objectShape(name string, fields map[string]*shape) *shape {
	return &shape{name: name, fields: fields}
}

// with is s and the fields of more, under another name.
func (s *shape) with(name string, more map[string]*shape) *shape {
	out := &shape{name: name, fields: map[string]*shape{}}
	for k, v := range s.fields {
		out.fields[k] = v
	}
	for k, v := range more {
		out.fields[k] = v
	}
	return out
}

// at is the shape at a path of field names, or nil if s has no such field.
func (s *shape) at(path []string) *shape {
	for _, p := range path {
		switch {
		case s.open:
			return &shape{name: "any", open: true}
		case s.fields == nil || s.fields[p] == nil:
			return nil
		}
		s = s.fields[p]
	}
	return s
}

var pathRE = regexp.MustCompile(`^\$(\.[A-Za-z][A-Za-z0-9]*)*$`)

// fieldPath splits a JSONPath of plain field names ("$.a.b") into its
// fields; ok is false for any other form, which this test would have to
// learn first.
func fieldPath(p string) ([]string, bool) {
	if !pathRE.MatchString(p) {
		return nil, false
	}
	if p == "$" {
		return nil, true
	}
	return strings.Split(strings.TrimPrefix(p, "$."), "."), true
}

// flow is what the test knows of one state: the Go shapes its input can
// have (every path it reads must be in each), and for the states that
// build an object the Go types read, that object's shape.
type flow struct {
	in []*shape
	// iter is a Map's iteration input, which its ItemSelector builds;
	// item is one item a Distributed Map reads (an inline Map's items are
	// the elements of ItemsPath).
	iter, item *shape
	// out reads what a Pass's Parameters, a ResultSelector other than
	// {"result.$": "$.Payload"}, or a Map's ResultPath make.
	out *shape
	// aslOnly are the fields a ResultPath adds, or a Pass's Parameters
	// write, for the state machine's own later states or for people
	// reading the execution, which no Go type reads.
	aslOnly []string
}

// aslFunction is a Lambda as its Task state sees it: the payload it reads and
// the result it returns, by the payload's keys.
type aslFunction func(keys []string) (req, result *shape)

// handlerTypes is a handler's payload and result types.
func handlerTypes(v any, name string) aslFunction {
	m, ok := reflect.TypeOf(v).MethodByName(name)
	if !ok {
		panic(fmt.Sprintf("%T has no method %s", v, name))
	}
	in := buildShape(m.Type.In(2), map[reflect.Type]*shape{})
	out := buildShape(m.Type.Out(0), map[reflect.Type]*shape{})
	return func([]string) (*shape, *shape) { return in, out }
}

var (
	shPlan        = shapeOf(Plan{})
	shNextPass    = shapeOf(NextPass{})
	shReplication = shapeOf(Replication{})
	shOutcome     = shapeOf(Outcome{})
	shSummary     = shapeOf(Summary{})
	shRPlan       = shapeOf(ReconcilePlan{})
	shRSummary    = shapeOf(ReconcileSummary{})
	shAnyInput    = &shape{name: "execution input", open: true}
	// shSummarizeRun is the state Summarize gets as "run": the plan's fields
	// with the Map's "results" and, after a redrive, "earlier" (what
	// SummarizeRequest.UnmarshalJSON reads).
	shSummarizeRun = shPlan.with("run: the plan with the Map's results", map[string]*shape{
		"results": shapeOf([]Outcome{}), "earlier": shSummary,
	})
	// shApprovalIteration is an iteration of the reconcile's approvals: the
	// batch, then the decision ApprovalCallback sends (SendTaskSuccess's
	// output, ResultPath $.approval) or the Catch's error.
	shApprovalIteration = objectShape("approval iteration", map[string]*shape{
		"batch": shapeOf(ApprovalBatch{}), "approval": shapeOf(ApprovalDecision{}), "error": shapeOf(StepError{}),
	})
)

// aslFunctions maps the ASL's function placeholders to the handlers'.
var aslFunctions = map[string]aslFunction{
	"ValidateFunctionArn":         handlerTypes(&Validate{}, "Handle"),
	"CheckGatesFunctionArn":       handlerTypes(&CheckGates{}, "Handle"),
	"AssumeRoleFunctionArn":       handlerTypes(&AssumeRole{}, "Handle"),
	"EnsureRepositoryFunctionArn": handlerTypes(&EnsureRepository{}, "Handle"),
	"CopyImageFunctionArn":        handlerTypes(&CopyImage{}, "Handle"),
	"VerifyFunctionArn":           handlerTypes(&Verify{}, "Handle"),
	"ApprovalRequestFunctionArn":  handlerTypes(&ApprovalRequest{}, "Handle"),
	"DiscoverFunctionArn":         handlerTypes(&Discover{}, "Handle"),
	// Summarize.Invoke picks by the payload's key.
	"SummarizeFunctionArn": func(keys []string) (*shape, *shape) {
		switch {
		case slices.Contains(keys, "outcome"):
			return handlerTypes(&Summarize{}, "Outcome")(nil)
		case slices.Contains(keys, "failed"):
			return handlerTypes(&Summarize{}, "Settle")(nil)
		}
		req, res := handlerTypes(&Summarize{}, "Handle")(nil)
		return req.with(req.name, map[string]*shape{"run": shSummarizeRun}), res
	},
	// ReconcileSummarize.Handle returns any: a ReconcileSummary for "run"
	// (summarize), the next pass's ReconcilePlan for "failed"
	// (failedOrRetry).
	"ReconcileSummaryFunctionArn": func(keys []string) (*shape, *shape) {
		req := shapeOf(ReconcileSummaryRequest{})
		if slices.Contains(keys, "failed") {
			return req, shRPlan
		}
		return req, shRSummary
	},
}

// aslFlows describes every state of both state machines, by file and state
// (a Map's own states as "Map/State").
var aslFlows = map[string]map[string]flow{
	"replicate.asl.json": {
		"Validate":                                      {in: []*shape{shAnyInput}},
		"Anything to copy?":                             {in: []*shape{shPlan}},
		"Nothing to copy":                               {in: []*shape{shPlan}},
		"Replicate to destinations":                     {in: []*shape{shPlan, shNextPass}, iter: shReplication, out: shSummarizeRun},
		"Summarize":                                     {in: []*shape{shSummarizeRun}},
		"All destinations replicated?":                  {in: []*shape{shSummary}},
		"Replicated":                                    {in: []*shape{shSummary}},
		"Some destinations failed":                      {in: []*shape{shSummary}},
		"Replicate to destinations/Check gates":         {in: []*shape{shReplication}},
		"Replicate to destinations/Gates passed?":       {in: []*shape{shReplication}},
		"Replicate to destinations/Wait for gates":      {in: []*shape{shReplication}},
		"Replicate to destinations/Destination blocked": {in: []*shape{shReplication}, out: shOutcome},
		"Replicate to destinations/Approval required?":  {in: []*shape{shReplication}},
		"Replicate to destinations/Approved earlier in this execution":  {in: []*shape{shReplication}},
		"Replicate to destinations/Already replicated?":                 {in: []*shape{shReplication}},
		"Replicate to destinations/Already replicated":                  {in: []*shape{shReplication}, out: shOutcome},
		"Replicate to destinations/Wait for approval":                   {in: []*shape{shReplication}},
		"Replicate to destinations/AssumeRole":                          {in: []*shape{shReplication}},
		"Replicate to destinations/EnsureRepository":                    {in: []*shape{shReplication}},
		"Replicate to destinations/CopyImage":                           {in: []*shape{shReplication}},
		"Replicate to destinations/Verify":                              {in: []*shape{shReplication}, out: shOutcome},
		"Replicate to destinations/Destination failed":                  {in: []*shape{shReplication}, aslOnly: []string{"outcomeError"}},
		"Replicate to destinations/Destination failed, reason not kept": {in: []*shape{shReplication}, out: shOutcome},
	},
	"reconcile.asl.json": {
		"Discover":                            {in: []*shape{shAnyInput}},
		"Dry run?":                            {in: []*shape{shRPlan}},
		"Dry run: nothing copied":             {in: []*shape{shRPlan}},
		"Approvals needed?":                   {in: []*shape{shRPlan}},
		"Ask for approvals":                   {in: []*shape{shRPlan}, iter: shApprovalIteration},
		"Add approved jobs":                   {in: []*shape{shRPlan}},
		"Anything to copy?":                   {in: []*shape{shRPlan}},
		"Copy to destinations":                {in: []*shape{shRPlan}, iter: shReplication, item: shapeOf(Job{})},
		"Summarize":                           {in: []*shape{shRPlan}},
		"All jobs done?":                      {in: []*shape{shRSummary}},
		"Reconciled":                          {in: []*shape{shRSummary}},
		"Some jobs failed":                    {in: []*shape{shRSummary}},
		"Ask for approvals/Wait for approval": {in: []*shape{shApprovalIteration}},
		// "approval" keeps the decision's record in the execution history;
		// Discover's BatchDecision does not read it.
		"Ask for approvals/Approved":            {in: []*shape{shApprovalIteration}, out: shapeOf(BatchDecision{}), aslOnly: []string{"approval"}},
		"Ask for approvals/Not approved":        {in: []*shape{shApprovalIteration}, out: shapeOf(BatchDecision{})},
		"Copy to destinations/AssumeRole":       {in: []*shape{shReplication}},
		"Copy to destinations/EnsureRepository": {in: []*shape{shReplication}},
		"Copy to destinations/CopyImage":        {in: []*shape{shReplication}},
		"Copy to destinations/Verify":           {in: []*shape{shReplication}},
		"Copy to destinations/Job failed":       {in: []*shape{shReplication}},
	},
}

// placeholderRE is a ${...} substitution.
var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z]+)\}`)

// definitions are both ASL files, parsed, with each placeholder that
// stands for a number filled with 1; those in strings (the function ARNs)
// stay as they are, to tell the functions apart.
func definitions(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for file, b := range map[string][]byte{"replicate.asl.json": statemachine.Replicate, "reconcile.asl.json": statemachine.Reconcile} {
		var filled []byte
		last := 0
		for _, m := range placeholderRE.FindAllIndex(b, -1) {
			if m[0] > 0 && b[m[0]-1] == '"' {
				continue
			}
			filled = append(append(filled, b[last:m[0]]...), '1')
			last = m[1]
		}
		filled = append(filled, b[last:]...)
		var def map[string]any
		if err := json.Unmarshal(filled, &def); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[file] = def
	}
	return out
}

// TestPlaceholders: the ASL files use the placeholders CDK and the local
// runner fill, no more and no fewer (infra/stacks
// TestStateMachineSubstitutions and TestReconcileDefinition check that
// CDK fills each, a function's with that function's ARN).
func TestPlaceholders(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"replicate.asl.json": {"ApprovalRequestFunctionArn", "ApprovalTimeoutSeconds", "AssumeRoleFunctionArn", "CheckGatesFunctionArn", "CopyImageFunctionArn",
			"EnsureRepositoryFunctionArn", "MaxConcurrency", "SummarizeFunctionArn", "ValidateFunctionArn", "VerifyFunctionArn"},
		"reconcile.asl.json": {"ApprovalRequestFunctionArn", "ApprovalTimeoutSeconds", "AssumeRoleFunctionArn", "CopyImageFunctionArn",
			"DiscoverFunctionArn", "EnsureRepositoryFunctionArn", "ReconcileConcurrency", "ReconcileSummaryFunctionArn", "VerifyFunctionArn"},
	}
	for file, b := range map[string][]byte{"replicate.asl.json": statemachine.Replicate, "reconcile.asl.json": statemachine.Reconcile} {
		var got []string
		for _, m := range placeholderRE.FindAllSubmatch(b, -1) {
			got = append(got, string(m[1]))
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, want[file]) {
			t.Errorf("%s uses the placeholders %v, want %v: CDK (infra/stacks) and the local runner (internal/runner) fill these", file, got, want[file])
		}
	}
}

// TestASLReadsWhatGoWrites walks both state machines, state by state, with
// the Go types aslFlows gives each state's input:
//
//   - every path the ASL reads (a Choice's Variable; a Wait's SecondsPath; a path in Parameters,
//     ItemSelector, ResultSelector, ItemsPath, ItemReader or ResultWriter;
//     $$.Map.Item.Value...) is a JSON field of the Go type it reads from;
//   - every key the ASL writes for Go to read (a Task's Payload, a Map's
//     ItemSelector, a Pass's Parameters, Verify's ResultSelector, a
//     ResultPath) is a JSON field of the Go type that reads it, and an
//     object handed whole to a field is of that field's type;
//   - each state's input is what the state before it outputs (the
//     handler's result type, found by reflection, or its input passed on),
//     so the table cannot drift from the files.
//
// Renaming a JSON tag, a state or a path on one side only fails here.
func TestASLReadsWhatGoWrites(t *testing.T) {
	t.Parallel()
	for file, def := range definitions(t) {
		c := &aslCheck{t: t, file: file, flows: aslFlows[file], seen: map[string]bool{}}
		c.states("", def, []*shape{shAnyInput})
		for name := range c.flows {
			if !c.seen[name] {
				t.Errorf("%s: state %q is described here but not in the file", file, name)
			}
		}
		if c.reads < 20 {
			t.Errorf("%s: only %d paths checked: the walk is broken", file, c.reads)
		}
	}
}

type aslCheck struct {
	t     *testing.T
	file  string
	flows map[string]flow
	seen  map[string]bool
	reads int
	cur   flow // the state being checked
}

func (c *aslCheck) errorf(state, format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s: state %q: %s", c.file, state, fmt.Sprintf(format, args...))
}

// states checks a States object (the top level's, or a Map's), whose
// StartAt gets start.
func (c *aslCheck) states(scope string, def map[string]any, start []*shape) {
	states, _ := def["States"].(map[string]any)
	outs := map[string][]*shape{}
	for name, raw := range states {
		st := raw.(map[string]any)
		key := scope + name
		c.seen[key] = true
		f, ok := c.flows[key]
		if !ok {
			c.errorf(key, "not described in contracts_test.go's flows: say what Go types its input and output are")
			continue
		}
		outs[name] = c.state(key, st, f)
	}
	// Each transition hands on what the table says the next state gets.
	check := func(from, to string, got []*shape) {
		f, ok := c.flows[scope+to]
		if !ok {
			return
		}
		for _, g := range got {
			if !slices.ContainsFunc(f.in, func(s *shape) bool { return s.name == g.name }) {
				c.errorf(scope+to, "gets %s from %q, which the table does not list as its input (%s)", g.name, from, shapeNames(f.in))
			}
		}
	}
	if s, ok := def["StartAt"].(string); ok {
		check("StartAt", s, start)
	}
	for name, raw := range states {
		st := raw.(map[string]any)
		f := c.flows[scope+name]
		for _, next := range nexts(st) {
			check(name, next, outs[name])
		}
		for _, ct := range jsonList(st["Catch"]) {
			check(name, ct.(map[string]any)["Next"].(string), f.in)
		}
	}
}

// state checks one state and returns the shapes of its output.
func (c *aslCheck) state(key string, st map[string]any, f flow) []*shape {
	c.cur = f
	if v, ok := st["InputPath"].(string); ok && v != "$" {
		c.errorf(key, "InputPath %q: teach this test what it selects", v)
	}
	if v, ok := st["OutputPath"].(string); ok && v != "$.result" {
		c.errorf(key, "OutputPath %q: teach this test what it selects", v)
	}
	for _, ct := range jsonList(st["Catch"]) {
		c.resultPath(key, ct.(map[string]any)["ResultPath"], f, f.in)
	}
	switch st["Type"] {
	case "Choice":
		for _, ch := range jsonList(st["Choices"]) {
			c.choice(key, ch.(map[string]any), f.in)
		}
		return f.in
	case "Pass":
		params, ok := st["Parameters"].(map[string]any)
		if !ok {
			return f.in
		}
		if f.out == nil {
			c.errorf(key, "its Parameters make its output: the table must name the Go type that reads it (out)")
			return f.in
		}
		c.object(key, "Parameters", params, f.out, f.in, nil)
		return []*shape{f.out}
	case "Task":
		return c.task(key, st, f)
	case "Map":
		return c.mapState(key, st, f)
	case "Wait":
		// Its SecondsPath (or TimestampPath) reads the input, which it
		// passes on.
		for _, p := range []string{"SecondsPath", "TimestampPath"} {
			if v, ok := st[p].(string); ok {
				c.read(key, p, v, f.in)
			}
		}
		return f.in
	case "Succeed", "Fail":
		return nil
	}
	c.errorf(key, "type %v: teach this test what it reads", st["Type"])
	return nil
}

// choice checks a Choice rule's Variables, And, Or and Not included.
func (c *aslCheck) choice(key string, rule map[string]any, in []*shape) {
	if v, ok := rule["Variable"].(string); ok {
		c.read(key, "Variable", v, in)
	}
	for _, sub := range append(jsonList(rule["And"]), jsonList(rule["Or"])...) {
		c.choice(key, sub.(map[string]any), in)
	}
	if n, ok := rule["Not"].(map[string]any); ok {
		c.choice(key, n, in)
	}
}

func (c *aslCheck) task(key string, st map[string]any, f flow) []*shape {
	res, _ := st["Resource"].(string)
	if res != "arn:aws:states:::lambda:invoke" && res != "arn:aws:states:::lambda:invoke.waitForTaskToken" {
		c.errorf(key, "resource %q: teach this test what it reads", res)
		return f.in
	}
	params := st["Parameters"].(map[string]any)
	fn := params["FunctionName"].(string)
	var keys []string
	payload, isObject := params["Payload"].(map[string]any)
	for k := range payload {
		keys = append(keys, strings.TrimSuffix(k, ".$"))
	}
	ph := strings.TrimSuffix(strings.TrimPrefix(fn, "${"), "}")
	function, ok := aslFunctions[ph]
	if !ok {
		c.errorf(key, "FunctionName %q is not a function placeholder this test knows (%v)", fn, keys)
		return f.in
	}
	req, result := function(keys)
	switch {
	case isObject:
		c.object(key, "Payload", payload, req, f.in, nil)
	case params["Payload.$"] == "$":
		for _, in := range f.in {
			if in.name != req.name {
				c.errorf(key, "passes its input (%s) as the payload, but the function reads %s", in.name, req.name)
			}
		}
	default:
		c.errorf(key, "Payload: teach this test what it reads")
	}
	if rp, ok := st["ResultPath"]; ok {
		c.resultPath(key, rp, f, f.in)
		return f.in
	}
	sel, _ := st["ResultSelector"].(map[string]any)
	if len(sel) == 1 && sel["result.$"] == "$.Payload" && st["OutputPath"] == "$.result" {
		return []*shape{result}
	}
	if sel == nil || f.out == nil {
		c.errorf(key, "its output is neither the function's result ({\"result.$\": \"$.Payload\"}, OutputPath $.result) nor an object the table names the reader of")
		return f.in
	}
	invoke := objectShape("Lambda invoke result", map[string]*shape{"Payload": result})
	c.object(key, "ResultSelector", sel, f.out, []*shape{invoke}, nil)
	return []*shape{f.out}
}

func (c *aslCheck) mapState(key string, st map[string]any, f flow) []*shape {
	item := f.item
	if p, ok := st["ItemsPath"].(string); ok {
		for _, in := range f.in {
			s := c.read(key, "ItemsPath", p, []*shape{in})
			switch {
			case s == nil:
			case s.elem == nil:
				c.errorf(key, "ItemsPath %s is %s, not a list", p, s.name)
			case item != nil && item.name != s.elem.name:
				c.errorf(key, "ItemsPath %s holds %s in one input, %s in another", p, item.name, s.elem.name)
			default:
				item = s.elem
			}
		}
	}
	if r, ok := st["ItemReader"].(map[string]any); ok {
		c.object(key, "ItemReader.Parameters", r["Parameters"].(map[string]any), nil, f.in, nil)
		if f.item == nil {
			c.errorf(key, "reads its items from S3: the table must name their Go type (item)")
		}
	}
	if w, ok := st["ResultWriter"].(map[string]any); ok {
		c.object(key, "ResultWriter.Parameters", w["Parameters"].(map[string]any), nil, f.in, nil)
	}
	if sel, ok := st["ItemSelector"].(map[string]any); ok {
		c.object(key, "ItemSelector", sel, f.iter, f.in, item)
	} else {
		c.errorf(key, "no ItemSelector: teach this test what an iteration gets")
	}
	proc := st["ItemProcessor"].(map[string]any)
	c.states(key+"/", proc, []*shape{f.iter})
	if rp, ok := st["ResultPath"]; ok {
		target := f.in
		if f.out != nil {
			target = []*shape{f.out}
		}
		c.resultPath(key, rp, flow{aslOnly: f.aslOnly}, target)
		if f.out != nil {
			return []*shape{f.out}
		}
	}
	return f.in
}

// object checks an object the state machine builds: its keys must be
// fields of reader (nil: no Go type reads it, as S3 parameters), and its
// paths must be in the input shapes, or for $$.Map.Item.Value in item.
func (c *aslCheck) object(key, what string, obj map[string]any, reader *shape, in []*shape, item *shape) {
	for k, v := range obj {
		field := strings.TrimSuffix(k, ".$")
		var sub *shape
		if reader != nil {
			if sub = reader.at([]string{field}); sub == nil && !slices.Contains(c.cur.aslOnly, field) {
				c.errorf(key, "%s writes %q, which %s (the Go type that reads it) has no field for", what, field, reader.name)
			}
		}
		switch {
		case strings.HasSuffix(k, ".$"):
			p := v.(string)
			var got *shape
			switch {
			case strings.HasPrefix(p, "$$.Map.Item.Value"):
				if item == nil {
					c.errorf(key, "%s reads %s, but the table gives no item type", what, p)
					continue
				}
				got = c.read(key, what, "$"+strings.TrimPrefix(p, "$$.Map.Item.Value"), []*shape{item})
			case strings.HasPrefix(p, "$$."):
				continue // the context object: Execution.Id, Task.Token, Execution.RedriveCount
			default:
				got = c.read(key, what, p, in)
			}
			// A whole object handed to a Go field must be what it reads.
			if got != nil && sub != nil && (got.fields != nil || sub.fields != nil) && !sub.open && got.name != sub.name {
				c.errorf(key, "%s hands %s to %q, which reads %s", what, got.name, field, sub.name)
			}
		default:
			if nested, ok := v.(map[string]any); ok {
				c.object(key, what+"."+field, nested, sub, in, item)
			}
		}
	}
}

// read checks that path is in every input shape and returns what it
// names in the first.
func (c *aslCheck) read(key, what, path string, in []*shape) *shape {
	c.t.Helper()
	c.reads++
	fields, ok := fieldPath(path)
	if !ok {
		c.errorf(key, "%s %q: teach this test that form of path", what, path)
		return nil
	}
	var first *shape
	for i, s := range in {
		got := s.at(fields)
		if got == nil {
			c.errorf(key, "%s reads %s, which %s has no JSON field for", what, path, s.name)
			continue
		}
		if i == 0 {
			first = got
		}
	}
	return first
}

// resultPath checks that a ResultPath puts its result in a field the Go
// types read (or one the table says only the state machine reads).
func (c *aslCheck) resultPath(key string, rp any, f flow, target []*shape) {
	p, ok := rp.(string)
	if !ok {
		return // null: the input passes through
	}
	fields, ok := fieldPath(p)
	if !ok || len(fields) != 1 {
		c.errorf(key, "ResultPath %q: teach this test that form", p)
		return
	}
	if slices.Contains(f.aslOnly, fields[0]) {
		return
	}
	c.read(key, "ResultPath", p, target)
}

// nexts are the states a state hands its output to.
func nexts(st map[string]any) []string {
	var out []string
	if n, ok := st["Next"].(string); ok {
		out = append(out, n)
	}
	if d, ok := st["Default"].(string); ok {
		out = append(out, d)
	}
	for _, ch := range jsonList(st["Choices"]) {
		out = append(out, ch.(map[string]any)["Next"].(string))
	}
	return out
}

func jsonList(v any) []any {
	l, _ := v.([]any)
	return l
}

func shapeNames(ss []*shape) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.name)
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// walkJSON calls f with every key and value in v, depth first.
func walkJSON(v any, f func(key string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			f(k, x)
			walkJSON(x, f)
		}
	case []any:
		for _, x := range v {
			walkJSON(x, f)
		}
	}
}

// TestReconcileRunLayout: a reconcile run keeps its objects under
// runs/<execution name>/, with the names docs/contracts.md lists: the
// stack grants the functions and the state machine runs/* only, and
// expires runs/ after 30 days (infra/stacks TestReconcileBucket).
func TestReconcileRunLayout(t *testing.T) {
	t.Parallel()
	src := &pagingECR{fakeECR: newFakeECR("111111111111/us-east-1"), repo: "team/app", n: 3}
	roles := &fakeRoles{ecr: map[string]*fakeECR{prodID: newFakeECR(prodID), mirrorID: newFakeECR(mirrorID)}}
	env := testEnv(t)
	env.Getenv = func(k string) string { return map[string]string{EnvReconcileBucket: "bucket"}[k] }
	bucket := &fakeS3{}
	exec := "arn:aws:states:us-east-1:111111111111:execution:Ferry-reconcile:nightly"
	p, err := NewDiscover(slog0(), env, pagingRoles{roles, src}, bucket).Handle(context.Background(), DiscoverRequest{Execution: exec, Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "runs/nightly/"
	for got, want := range map[string]string{
		p.Bucket: "bucket", p.Prefix: prefix, p.PlanKey: prefix + "plan.jsonl", p.JobsKey: prefix + "jobs-0.jsonl", p.ResultsPrefix: prefix + "results-0",
	} {
		if got != want {
			t.Errorf("reconcile plan names %q, want %q", got, want)
		}
	}
	bucket.mu.Lock()
	defer bucket.mu.Unlock()
	if len(bucket.objs) == 0 {
		t.Fatal("Discover wrote nothing")
	}
	for k := range bucket.objs {
		if !strings.HasPrefix(k, "bucket/"+prefix) {
			t.Errorf("Discover wrote %s, outside %s", k, prefix)
		}
	}
}
