package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestSearchBudget: a search stops when the Parse's budget is spent, and
// finds with enough of it what it could not find without.
func TestSearchBudget(t *testing.T) {
	t.Parallel()
	// Both match "a" then "c" twelve runes apart: a long name, found only
	// after many states.
	pos := []string{`(?s:.*)(?:a.{12}b)(?s:.*)`, `(?s:.*)(?:c.{12}d)(?s:.*)`, `^[a-z]+$`}
	small := &budget{states: 50}
	if got := search(small, pos, nil, 1); len(got) != 0 || small.states != 0 {
		t.Errorf("with 50 states: found %v, %d states left; want nothing found and the budget spent", got, small.states)
	}
	easy := &budget{states: 50}
	if got := search(easy, []string{`^team/[^/]*$`, `^[^/]*/app$`}, nil, 1); len(got) != 1 || got[0] != "team/app" {
		t.Errorf("found %v, want [team/app]", got)
	}
}

// TestOverlapBudget: a file of rules whose patterns blow the search up
// spends the budget of one Parse and no more, and still parses.
func TestOverlapBudget(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\nsource: {account: \"111111111111\", region: us-east-1}\nrules:\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  - {name: r%d, repositories: [\"/%c.{12}%c/\"], tags: [\"**\"], destinations: [{account: \"222222222222\", region: eu-west-1, role: role-%d}]}\n", i, 'a'+i, 'b'+i, i)
	}
	d := &decoder{file: "ferry.yaml", src: []byte(b.String())}
	cfg := d.parse(d.src)
	if len(d.errs) != 0 || cfg == nil {
		t.Fatalf("parse: %v", d.errs)
	}
	// The overlaps ran inside parse with their own budget; run them
	// again with a counted one.
	bud := &budget{states: overlapStates}
	for j := range cfg.Rules {
		for i := range j {
			overlap(cfg.Rules[i], cfg.Rules[j], cfg.Rules[i].Destinations[0], cfg.Rules[j].Destinations[0], cfg.Source, nil, bud)
		}
	}
	if bud.states != 0 {
		t.Errorf("66 pairs of blown-up searches left %d of %d states: the test does not reach the budget", bud.states, overlapStates)
	}
	// Once spent, no search runs: even a plain overlap goes unfound.
	all := Rule{Name: "all", Repositories: []string{"**"}, Tags: []string{"**"}}
	dst := Destination{Account: "222222222222", Region: "eu-west-1"}
	if _, _, ok := overlap(all, all, dst, dst, cfg.Source, nil, bud); ok || bud.states != 0 {
		t.Errorf("with the budget spent, overlap found one (%v) or spent more (%d)", ok, bud.states)
	}
	if _, _, ok := overlap(all, all, dst, dst, cfg.Source, nil, &budget{states: overlapStates}); !ok {
		t.Error("with a budget, overlap does not find that two rules of ** overlap")
	}
}
