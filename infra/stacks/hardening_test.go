package stacks

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// Every Lambda task of each state machine waits longer than its function
// may run: a state that timed out while its function went on would report a
// failure for a copy that then writes its tag anyway.
func TestTaskTimeoutsOutlastTheirFunctions(t *testing.T) {
	for _, tc := range []struct {
		asl       string
		functions []string
		// known are the states known to wait no longer than their
		// function, by name: each must still be short, so that the list
		// goes once the definition is fixed.
		known map[string]bool
	}{
		{asl: aslFile(t), functions: ReplicateFunctions},
		{asl: reconcileASLFile(t), functions: ReconcileFunctions},
	} {
		b, err := os.ReadFile(tc.asl)
		if err != nil {
			t.Fatal(err)
		}
		asl := strings.NewReplacer("${"+PlaceholderApprovalTimeout+"}", "86400", "${"+PlaceholderMaxConcurrency+"}", "10",
			"${"+PlaceholderReconcileConcurrency+"}", "10").Replace(string(b))
		var def struct{ States map[string]json.RawMessage }
		if err := json.Unmarshal([]byte(asl), &def); err != nil {
			t.Fatalf("%s: %v", tc.asl, err)
		}
		checked := map[string]bool{}
		var walk func(states map[string]json.RawMessage)
		walk = func(states map[string]json.RawMessage) {
			for name, raw := range states {
				var st struct {
					Type           string
					TimeoutSeconds int
					Parameters     struct{ FunctionName string }
					ItemProcessor  *struct{ States map[string]json.RawMessage }
					Iterator       *struct{ States map[string]json.RawMessage }
				}
				if err := json.Unmarshal(raw, &st); err != nil {
					t.Fatalf("%s: state %q: %v", tc.asl, name, err)
				}
				if st.ItemProcessor != nil {
					walk(st.ItemProcessor.States)
				}
				if st.Iterator != nil {
					walk(st.Iterator.States)
				}
				ph := strings.TrimSuffix(strings.TrimPrefix(st.Parameters.FunctionName, "${"), "}")
				fn, ok := FunctionForPlaceholder(ph)
				if st.Type != "Task" || !ok {
					continue
				}
				checked[fn] = true
				limit := FunctionSpecs[fn].Timeout
				got := time.Duration(st.TimeoutSeconds) * time.Second
				switch {
				case got <= limit && !tc.known[name]:
					t.Errorf("%s: state %q waits %s for the %s function, which may run %s: want longer", tc.asl, name, got, fn, limit)
				case got > limit && tc.known[name]:
					t.Errorf("%s: state %q now outlasts its function: take it off the known list", tc.asl, name)
				}
			}
		}
		walk(def.States)
		for _, fn := range tc.functions {
			if !checked[fn] {
				t.Errorf("%s: no Lambda task of the %s function checked", tc.asl, fn)
			}
		}
	}
}

// No resource policy grants an AWS service without a condition that ties
// it to this account or resource: "events.amazonaws.com may publish" alone
// would let any account's EventBridge rule publish to Ferry's topics.
func TestServiceGrantsAreConditioned(t *testing.T) {
	b := build(t, exampleConfigPath(t))
	policies := map[string]string{"AWS::KMS::Key": "KeyPolicy", "AWS::SNS::TopicPolicy": "PolicyDocument", "AWS::SQS::QueuePolicy": "PolicyDocument"}
	checked := 0
	for stack, tmpl := range b.json {
		for typ, field := range policies {
			for id, r := range resources(tmpl, typ) {
				doc, _ := props(r)[field].(map[string]any)
				stmts, _ := doc["Statement"].([]any)
				for _, s := range stmts {
					st := s.(map[string]any)
					p, _ := st["Principal"].(map[string]any)
					if _, ok := p["Service"]; !ok || st["Effect"] != "Allow" {
						continue
					}
					checked++
					if st["Condition"] == nil {
						t.Errorf("%s/%s grants %v %v with no condition", stack, id, p["Service"], st["Action"])
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no service grant found: the test looks in the wrong place")
	}
}
