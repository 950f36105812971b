package workflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ferry-dev/ferry/internal/config"
)

// fakeGates answers each check with the next verdict, and records what
// it was asked.
type fakeGates struct {
	mu       sync.Mutex
	verdicts []GateVerdict
	err      error
	asked    []string
	waited   []time.Duration
}

func (f *fakeGates) Check(_ context.Context, d config.Destination, repository, digest string, waited time.Duration) (GateVerdict, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, d.ID()+" "+repository+"@"+digest)
	f.waited = append(f.waited, waited)
	if f.err != nil {
		return GateVerdict{}, f.err
	}
	v := f.verdicts[0]
	if len(f.verdicts) > 1 {
		f.verdicts = f.verdicts[1:]
	}
	return v, nil
}

// gateEnv is testEnv with a scan gate on production.
func gateEnv(t *testing.T) *Env {
	t.Helper()
	text := strings.Replace(testConfig, "        approval: required\n", "        approval: required\n        gates: {scan: {maxSeverity: MEDIUM, wait: 70s}}\n", 1)
	cfg, err := config.Parse("ferry.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Rules[0].Destinations[0].Gates.Any() {
		t.Fatal("the test configuration has no gates on production")
	}
	env := &Env{Config: cfg}
	env.Getenv = func(k string) string {
		if k == EnvAlertsTopic {
			return "arn:aws:sns:us-east-1:111111111111:alerts"
		}
		return ""
	}
	return env
}

// TestCheckGates: a pass goes on; a pending scan waits, counting the
// seconds waited in the state, until the gate's wait is used up and it
// blocks; a block is published to the alerts topic and counted in the
// ReplicationsBlocked metric; an error of the gates is the step's error.
func TestCheckGates(t *testing.T) {
	t.Parallel()
	pending := GateVerdict{Pending: true, Gate: "scan", Reason: "the scan of team/app@sha256:aa is IN_PROGRESS", Wait: 70 * time.Second}
	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		gates, topic := &fakeGates{verdicts: []GateVerdict{{Passed: true, Reason: "scan: no findings above MEDIUM"}}}, &fakeSNS{}
		log, buf := testLogger()
		h := NewCheckGates(log, gateEnv(t), gates, topic)
		out, err := h.Handle(t.Context(), Replication{Job: testJob(prodID)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Gate == nil || out.Gate.Status != GatePassed || out.Gate.Checks != 1 {
			t.Fatalf("gate = %+v, want passed after 1 check", out.Gate)
		}
		if len(gates.asked) != 1 || gates.asked[0] != prodID+" team/app@"+digestA {
			t.Errorf("asked %v, want the source image for %s", gates.asked, prodID)
		}
		if len(topic.published) != 0 || strings.Contains(buf.String(), MetricReplicationsBlocked) {
			t.Errorf("a pass published %d alerts and logged %q", len(topic.published), buf.String())
		}
	})
	t.Run("waits, then blocks", func(t *testing.T) {
		t.Parallel()
		gates, topic := &fakeGates{verdicts: []GateVerdict{pending}}, &fakeSNS{}
		log, buf := testLogger()
		h := NewCheckGates(log, gateEnv(t), gates, topic)
		r := Replication{Job: testJob(prodID), ReasonLimit: 60}
		var polls []int
		for range 10 {
			var err error
			if r, err = h.Handle(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			if r.Gate.Status != GateWaiting {
				break
			}
			polls = append(polls, r.Gate.PollSeconds)
		}
		// 70s: 30s, then what is left of the wait (not the 60s the
		// backoff would take), then the wait is over.
		if want := []int{30, 40}; !slices.Equal(polls, want) {
			t.Errorf("polls %v, want %v", polls, want)
		}
		g := r.Gate
		if g.Status != GateBlocked || g.WaitedSeconds != 70 || g.Checks != 3 || g.Gate != "scan" {
			t.Fatalf("gate = %+v, want blocked by scan after 70s and 3 checks", g)
		}
		if want := []time.Duration{0, 30 * time.Second, 70 * time.Second}; !slices.Equal(gates.waited, want) {
			t.Errorf("the gates were told %v waited, want %v", gates.waited, want)
		}
		if !strings.Contains(g.Reason, "no complete scan within gates.scan.wait (1m10s)") || !strings.Contains(g.Reason, "IN_PROGRESS") {
			t.Errorf("reason %q does not say the scan did not complete in time", g.Reason)
		}
		if len(g.Brief) > 60 || g.Brief == "" {
			t.Errorf("brief %q is not the reason within the reasonLimit 60", g.Brief)
		}
		if len(topic.published) != 1 || aws.ToString(topic.published[0].TopicArn) != "arn:aws:sns:us-east-1:111111111111:alerts" ||
			!strings.Contains(aws.ToString(topic.published[0].Message), g.Reason) || len(aws.ToString(topic.published[0].Subject)) > 100 {
			t.Errorf("alerts published: %+v; want one to the alerts topic with the reason", topic.published)
		}
		if n := strings.Count(buf.String(), `"`+MetricReplicationsBlocked+`":1`); n != 1 {
			t.Errorf("%d ReplicationsBlocked metric lines, want 1: %s", n, buf.String())
		}
	})
	t.Run("blocked at once", func(t *testing.T) {
		t.Parallel()
		verdict := GateVerdict{Gate: "signature", Reason: "no signature by a trusted key: keys/release.pub: no signature found"}
		topic := &fakeSNS{err: errors.New("sns down")}
		h := NewCheckGates(slog0(), gateEnv(t), &fakeGates{verdicts: []GateVerdict{verdict}}, topic)
		out, err := h.Handle(t.Context(), Replication{Job: testJob(prodID)})
		if err != nil {
			t.Fatalf("a failed alert failed the step: %v", err)
		}
		if out.Gate.Status != GateBlocked || out.Gate.Reason != verdict.Reason || out.Gate.Brief != verdict.Reason {
			t.Errorf("gate = %+v, want blocked with the verdict's reason", out.Gate)
		}
		if len(topic.published) != 1 {
			t.Errorf("%d publish attempts, want 1", len(topic.published))
		}
	})
	t.Run("a scan that completes in time passes", func(t *testing.T) {
		t.Parallel()
		gates := &fakeGates{verdicts: []GateVerdict{pending, {Passed: true, Gate: "scan"}}}
		h := NewCheckGates(slog0(), gateEnv(t), gates, &fakeSNS{})
		r, err := h.Handle(t.Context(), Replication{Job: testJob(prodID)})
		if err != nil || r.Gate.Status != GateWaiting {
			t.Fatalf("first check: %v, %+v; want waiting", err, r.Gate)
		}
		if r, err = h.Handle(t.Context(), r); err != nil || r.Gate.Status != GatePassed || r.Gate.WaitedSeconds != 30 {
			t.Fatalf("second check: %v, %+v; want passed after 30s", err, r.Gate)
		}
	})
	t.Run("no gates, or no image copied", func(t *testing.T) {
		t.Parallel()
		gates := &fakeGates{err: errors.New("the gates were asked")}
		h := NewCheckGates(slog0(), gateEnv(t), gates, &fakeSNS{})
		referrers := testJob(prodID)
		referrers.Action = ActionReferrers
		for _, j := range []Job{testJob(mirrorID), referrers} {
			out, err := h.Handle(t.Context(), Replication{Job: j})
			if err != nil || out.Gate.Status != GatePassed {
				t.Errorf("%s %s: %v, %+v; want passed", j.Destination, j.Action, err, out.Gate)
			}
		}
		if len(gates.asked) != 0 {
			t.Errorf("the gates were asked about %v", gates.asked)
		}
	})
	t.Run("backoff", func(t *testing.T) {
		t.Parallel()
		var got []int
		for n := 1; n <= 7; n++ {
			got = append(got, pollSeconds(n))
		}
		if want := []int{30, 60, 120, 240, 480, 600, 600}; !slices.Equal(got, want) {
			t.Errorf("polls %v, want %v (doubling from 30s, at most 10m)", got, want)
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		h := NewCheckGates(slog0(), gateEnv(t), &fakeGates{err: apiErr("ThrottlingException")}, &fakeSNS{})
		_, err := h.Handle(t.Context(), Replication{Job: testJob(prodID)})
		if !errors.As(err, new(*RetryableError)) || !strings.Contains(err.Error(), "check the gates of "+prodID) {
			t.Errorf("throttled: %v, want a RetryableError naming the destination", err)
		}
		j := testJob(prodID)
		j.Rule = "other"
		_, err = h.Handle(t.Context(), Replication{Job: j})
		if !errors.As(err, new(*ValidationError)) {
			t.Errorf("a job the configuration does not make: %v, want a ValidationError", err)
		}
	})
}

// TestSummarizeBlocked: a destination a gate blocked is counted as
// blocked, does not fail the run, is not handed to a redrive, and adds to
// the Blocked metric.
func TestSummarizeBlocked(t *testing.T) {
	t.Parallel()
	jobs := []PlannedJob{testJob(prodID).Planned(nil), testJob(mirrorID).Planned(nil)}
	plan := Plan{Execution: "arn:aws:states:us-east-1:111111111111:execution:ferry-replicate:run-1", Repository: "team/app", Tag: "release-1.0", Digest: digestA, Jobs: jobs}
	log, buf := testLogger()
	sum, err := NewSummarize(log).Handle(t.Context(), SummarizeRequest{Plan: plan, Results: []Outcome{
		{Destination: prodID, Status: StatusBlocked, Reason: "team/app@sha256:aaaa: findings above MEDIUM"},
		{Destination: mirrorID, Status: StatusCopied, BytesCopied: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != "succeeded" || sum.Blocked != 1 || sum.Failed != 0 || sum.Copied != 1 || len(sum.Retry) != 0 {
		t.Errorf("summary %+v; want succeeded, 1 blocked, 1 copied, nothing to redrive", sum)
	}
	if sum.Destinations[0].Status != StatusBlocked || !strings.Contains(sum.Destinations[0].Reason, "findings above MEDIUM") {
		t.Errorf("production's line %+v, want blocked with the gate's reason", sum.Destinations[0])
	}
	if !strings.Contains(buf.String(), `"`+MetricBlocked+`":1`) {
		t.Errorf("no Blocked metric in %s", buf.String())
	}
}
