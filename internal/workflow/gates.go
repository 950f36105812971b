package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/gate"
	"github.com/ferry-dev/ferry/internal/reconcile"
)

// Promotion gates: a destination may take only images whose scan passed
// and that carry a trusted signature (ferry.yaml's gates:, evaluated by
// internal/gate). CheckGates runs first in every Map iteration, before any
// approval is asked for, so approvers only see images that can go. A
// destination without gates, and a job that copies no image (a referrer
// of an image the destination holds, an untag), pass at once, with no
// call: one short invocation per destination, where a per-job "gated"
// field for a Choice to read would have cost 500-destination plans their
// room in the state.
//
// While a scan is not complete, or an image has no signature at all yet
// (a pipeline signs just after it pushes), CheckGates answers "waiting" with the
// seconds to wait (30s, then twice as long each time: pollSeconds), and
// the state machine's "Wait for gates" Wait state waits that long before
// "Check gates" runs again: no Lambda sleeps. Each
// pass adds the seconds it waited to the state (waitedSeconds), and once
// they reach the gate's wait the destination is blocked: the time is
// counted in the state, not by a clock, so a redrive or a local run with
// short pauses counts the same waits.
//
// A blocked destination writes nothing and asks no one; its outcome's
// status is "blocked" with the gate's reason, which does not fail the run.
// CheckGates publishes the reason to the alerts topic and emits the
// ReplicationsBlocked metric. A new run (a manual one after a rescan or an
// added ignore) checks again.

// Gate statuses (GateResult.Status), which "Gates passed?" reads.
const (
	GatePassed  = "passed"
	GateWaiting = "waiting"
	GateBlocked = "blocked"
)

// EnvAlertsTopic is the alerts topic a blocked destination is reported to.
const EnvAlertsTopic = "FERRY_ALERTS_TOPIC_ARN"

// MetricReplicationsBlocked counts destinations a gate refused (emitted by
// CheckGates when it blocks one, beside Summarize's per-status Blocked).
const MetricReplicationsBlocked = "ReplicationsBlocked"

// How long "Wait for gates" waits between checks of a scan that is not
// complete: GatePoll first (ECR's basic scans take a minute or two), then
// twice as long each time, up to MaxGatePoll. The backoff bounds the
// execution's history, which Step Functions caps at 25,000 events (every
// destination of a run shares it): each check and wait adds about ten,
// so a 30-minute wait takes 7 of them, a day's about 150, not 2,880.
const (
	GatePoll    = 30 * time.Second
	MaxGatePoll = 10 * time.Minute
)

// pollSeconds is the wait before check n+1 (n checks made), in seconds.
func pollSeconds(n int) int {
	d := GatePoll
	for i := 1; i < n && d < MaxGatePoll; i++ {
		d *= 2
	}
	return int(min(d, MaxGatePoll) / time.Second)
}

// GateResult is what CheckGates found, in Replication.Gate.
type GateResult struct {
	// Status is GatePassed, GateWaiting or GateBlocked ("Gates passed?").
	Status string `json:"status"`
	// Gate names the gate that blocked or waits: "scan" or "signature".
	Gate string `json:"gate,omitempty"`
	// Reason says why, in full: what the scan found (counts per severity,
	// the top findings) or which keys were tried and why each failed; for
	// a pass, what was checked.
	Reason string `json:"reason,omitempty"`
	// Brief is Reason shortened to the plan's reasonLimit, for the
	// iteration's outcome. Never omitted: "Destination blocked" reads it.
	Brief string `json:"brief"`
	// PollSeconds is how long "Wait for gates" waits before the next
	// check. Never omitted: the Wait state's SecondsPath reads it.
	PollSeconds int `json:"pollSeconds"`
	// WaitedSeconds is the time waited for the scan so far, and
	// WaitSeconds the gate's wait (the scan gate's wait: setting).
	WaitedSeconds int `json:"waitedSeconds"`
	WaitSeconds   int `json:"waitSeconds,omitempty"`
	// Checks counts the checks made in this execution.
	Checks int `json:"checks"`
}

// GateVerdict is one evaluation of a destination's gates for an image.
type GateVerdict struct {
	// Passed: every gate passed. Otherwise Pending (a scan is not complete
	// yet, and the gate's wait has not run out: check again) or blocked.
	Passed  bool
	Pending bool
	Gate    string // "scan" or "signature": the gate that blocks or waits
	Reason  string
	// Wait is how long the scan gate waits for a scan to complete.
	Wait time.Duration
}

// Gatekeeper evaluates a destination's gates for one source image (by
// digest, in the source repository), after waited of waiting for its
// scans. internal/gate implements it (gatekeeper.go); tests pass a fake.
type Gatekeeper interface {
	Check(ctx context.Context, d config.Destination, repository, digest string, waited time.Duration) (GateVerdict, error)
}

// CheckGates is the "Check gates" step.
type CheckGates struct {
	log    *slog.Logger
	cfg    *config.Config
	gates  Gatekeeper
	sns    ecr.SNSAPI
	topic  string
	logger *slog.Logger // for metrics: the function's own logger, with no job attributes
}

// NewCheckGates returns the CheckGates step. gates nil means the gates of
// internal/gate with env's clients; snsAPI nil means env's SNS client.
func NewCheckGates(logger *slog.Logger, env *Env, gates Gatekeeper, snsAPI ecr.SNSAPI) *CheckGates {
	if gates == nil {
		gates = newGateKeeper(newStep(logger, env, nil), env)
	}
	if snsAPI == nil && env.Clients != nil {
		snsAPI = env.Clients.SNS()
	}
	topic := ""
	if env.Getenv != nil {
		topic = env.Getenv(EnvAlertsTopic)
	}
	return &CheckGates{log: logger, logger: logger, cfg: env.Config, gates: gates, sns: snsAPI, topic: topic}
}

// Handle is the Lambda handler.
func (c *CheckGates) Handle(ctx context.Context, r Replication) (Replication, error) {
	d, err := destination(c.cfg, r.Job)
	if err != nil {
		return r, err
	}
	log := jobLogger(c.log, r.Job)
	prev := r.Gate
	g := &GateResult{Checks: 1}
	if prev != nil {
		g.Checks = prev.Checks + 1
		g.WaitedSeconds = prev.WaitedSeconds
		if prev.Status == GateWaiting {
			g.WaitedSeconds += prev.PollSeconds // "Wait for gates" waited that long
		}
	}
	r.Gate = g
	if !hasGates(d) || r.Job.Action == ActionReferrers || r.Job.Action == ActionUntag {
		g.Status, g.Reason = GatePassed, "no gates for this job"
		return r, nil
	}
	v, err := c.gates.Check(ctx, d, r.Job.SourceRepository, r.Job.Digest, time.Duration(g.WaitedSeconds)*time.Second)
	if err != nil {
		return r, classifyAWS(fmt.Sprintf("check the gates of %s for %s@%s", d.ID(), r.Job.SourceRepository, r.Job.Digest), err)
	}
	g.Gate, g.Reason, g.WaitSeconds = v.Gate, v.Reason, int(v.Wait.Round(time.Second)/time.Second)
	switch {
	case v.Passed:
		g.Status = GatePassed
	case v.Pending && g.WaitedSeconds < g.WaitSeconds:
		g.Status = GateWaiting
		g.PollSeconds = max(1, min(pollSeconds(g.Checks), g.WaitSeconds-g.WaitedSeconds))
		log.InfoContext(ctx, "waiting for the "+v.Gate+" gate", slog.String("reason", v.Reason), slog.Int("waitedSeconds", g.WaitedSeconds), slog.Int("waitSeconds", g.WaitSeconds))
	case v.Pending:
		// The gates say wait, but the time is up by this state's count
		// (a wait of 0s, or rounding).
		g.Status = GateBlocked
		if v.Gate == gate.GateSignature {
			g.Reason = fmt.Sprintf("no signature within gates.signature.wait (%s): %s",
				time.Duration(g.WaitSeconds)*time.Second, v.Reason)
		} else {
			g.Reason = fmt.Sprintf("no complete scan within gates.scan.wait (%s): %s; once the scan completes, run again",
				time.Duration(g.WaitSeconds)*time.Second, v.Reason)
		}
	default:
		g.Status = GateBlocked
	}
	g.Brief = brief(g.Reason, r.ReasonLimit)
	if g.Status == GateBlocked {
		log.WarnContext(ctx, "blocked by a gate", slog.String("gate", g.Gate), slog.String("reason", g.Reason))
		c.alert(ctx, r.Job, g)
		m := newRunMetrics(r.Job.Execution)
		m.add(r.Job.Destination, MetricReplicationsBlocked, 1)
		m.emit(ctx, c.logger, time.Now())
	}
	return r, nil
}

// alert tells the alerts topic about a blocked destination. A failure to
// publish is logged, not returned: the block stands either way, and the
// outcome and the metric still say so.
func (c *CheckGates) alert(ctx context.Context, j Job, g *GateResult) {
	if c.topic == "" || c.sns == nil {
		return
	}
	// SNS subjects are at most 100 characters.
	subject := clip(fmt.Sprintf("Ferry: %s gate blocked %s:%s for %s", g.Gate, j.SourceRepository, j.Tag, j.Destination), 100)
	msg := fmt.Sprintf("The %s gate of destination %s refused %s:%s (%s), so nothing was copied there and no approval was asked for.\n\n%s\n\nExecution: %s\n\n"+
		"Once the image can pass (a rescan, an ignore added to the scan gate, a signature pushed), start a run for it by hand to check again.",
		g.Gate, j.Destination, j.SourceRepository, j.Tag, j.Digest, g.Reason, j.Execution)
	if _, err := c.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(c.topic), Subject: aws.String(subject), Message: aws.String(msg)}); err != nil {
		jobLogger(c.log, j).WarnContext(ctx, "could not tell the alerts topic about a blocked destination", slog.String("topic", c.topic), slog.String("error", err.Error()))
	}
}

// itemGates checks the gates of a listed item's destination, for ferry
// sync and the reconcile's Discover, which do not wait for scans: a scan
// not complete yet blocks the item until a later run. ok is true when the
// item may be copied (its destination has no gates, or they passed);
// otherwise reason says why it is blocked. Verdicts are kept in seen (by
// destination and digest), so an image with several tags is checked once
// per destination.
func itemGates(ctx context.Context, gates Gatekeeper, cfg *config.Config, it reconcile.Item, seen *gateVerdicts) (ok bool, reason string, err error) {
	d, found := gatedDestination(cfg, it)
	if !found {
		return true, "", nil
	}
	key := it.Destination + " " + it.SourceRepository + "@" + it.Digest
	v, checked := seen.get(key)
	if !checked {
		// Checked once, as if nothing had been waited: a scan not complete
		// yet is Pending, and reported as such. Not under seen's lock: the
		// check asks ECR, the registry and KMS, and sync's images go at
		// once (two of them may check the same image; both get its verdict).
		if v, err = gates.Check(ctx, d, it.SourceRepository, it.Digest, 0); err != nil {
			return false, "", classifyAWS(fmt.Sprintf("check the gates of %s for %s@%s", d.ID(), it.SourceRepository, it.Digest), err)
		}
		seen.put(key, v)
	}
	switch {
	case v.Passed:
		return true, "", nil
	case v.Pending:
		if v.Gate == gate.GateSignature {
			return false, "not signed yet (" + v.Reason + "); a sync or reconcile does not wait for a signature: run it again once the image is signed", nil
		}
		return false, "scans not complete yet (" + v.Reason + "); a sync or reconcile does not wait for them: run it again once they complete", nil
	}
	return false, v.Reason, nil
}

// gateVerdicts are itemGates' verdicts, by destination and image, safe for
// concurrent use.
type gateVerdicts struct {
	mu sync.Mutex
	m  map[string]GateVerdict
}

func (g *gateVerdicts) get(key string) (GateVerdict, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.m[key]
	return v, ok
}

func (g *gateVerdicts) put(key string, v GateVerdict) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]GateVerdict{}
	}
	g.m[key] = v
}

// gatedDestination is the item's destination in cfg, if it has gates.
func gatedDestination(cfg *config.Config, it reconcile.Item) (config.Destination, bool) {
	for _, r := range cfg.Rules {
		if r.Name != it.Rule {
			continue
		}
		for _, d := range r.Destinations {
			if d.ID() == it.Destination && hasGates(d) {
				return d, true
			}
		}
	}
	return config.Destination{}, false
}
