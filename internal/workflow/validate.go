package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/plan"
	"github.com/ferry-dev/ferry/internal/reconcile"
)

// Validate turns the execution input into a Plan: it applies the rules of
// the deployed configuration and resolves the tag to a digest in the source.
type Validate struct {
	log    *slog.Logger
	cfg    *config.Config
	source ecr.API // the source registry, with the function's own role
}

// NewValidate returns the Validate step. source may be nil: the source
// registry's client is then built from env.
func NewValidate(logger *slog.Logger, env *Env, source ecr.API) *Validate {
	if source == nil {
		source = env.Clients.ECR(env.Config.Source.Account, env.Config.Source.Region)
	}
	return &Validate{log: logger, cfg: env.Config, source: source}
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Handle is the Lambda handler.
func (v *Validate) Handle(ctx context.Context, req ValidateRequest) (Plan, error) {
	in, trigger, err := v.parse(req.Input)
	if err != nil {
		v.log.WarnContext(ctx, "input rejected", slog.String("execution", req.Execution), slog.String("error", err.Error()))
		return Plan{}, err
	}
	p := Plan{Execution: req.Execution, Trigger: trigger, Action: ActionCopy, PushedAt: in.pushedAt, Source: v.cfg.Source.ID(), Repository: in.Repository, Tag: in.Tag, Digest: in.Digest, Jobs: []PlannedJob{}}
	log := v.log.With(slog.String("execution", req.Execution), slog.String("repository", in.Repository), slog.String("tag", in.Tag))
	if in.skip != "" {
		p.Skipped, p.Reason = true, in.skip
		log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
		return p, nil
	}
	if err := match.ValidRepository(in.Repository); err != nil {
		return Plan{}, validationf("repository %q: %v", in.Repository, err)
	}
	if in.Tag != "" {
		if err := match.ValidTag(in.Tag); err != nil {
			return Plan{}, validationf("tag %q: %v", in.Tag, err)
		}
	}
	if in.Digest != "" && !digestRE.MatchString(in.Digest) {
		return Plan{}, validationf("digest %q is not sha256:<64 hex digits>", in.Digest)
	}
	if err := v.checkDestinations(in.Destinations); err != nil {
		return Plan{}, err
	}
	switch {
	case in.referrer:
		return v.planReferrer(ctx, log, p, in)
	case in.deleted:
		return v.planUntag(ctx, log, p, in)
	}

	// A tag no rule takes is skipped before anything is asked of the source.
	if in.Tag != "" {
		pl, err := plan.For(v.cfg, in.Repository, in.Tag)
		if err != nil {
			return Plan{}, validationf("%v", err)
		}
		if len(pl.Jobs) == 0 {
			p.Skipped, p.NotPlanned = true, pl.Skipped
			p.Reason = skipReason(in.Repository, in.Tag, pl.Skipped, nil)
			log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
			return p, nil
		}
	}

	// Resolve in the source: the tag to its digest (or the digest to its tags).
	digest, tags, err := v.resolve(ctx, in)
	if err != nil {
		return Plan{}, err
	}
	p.Digest = digest
	// A tag and a digest must agree in the source: the rules judge the tag,
	// and the digest is what is copied under it.
	if in.Tag != "" && in.Digest != "" && !slices.Contains(tags, in.Tag) {
		if trigger == "manual" {
			return Plan{}, validationf("tag %s is not a tag of %s@%s in the source (its tags: %v); give a tag, a digest, or both as the source has them", in.Tag, in.Repository, in.Digest, tags)
		}
		// The tag has moved on since this push (another push of the tag,
		// whose own run copies it): copying this digest under it could
		// undo that run's copy.
		p.Skipped = true
		p.Reason = fmt.Sprintf("superseded: %s:%s no longer points at the pushed %s (a later push of the tag has its own run)", in.Repository, in.Tag, in.Digest)
		log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
		return p, nil
	}
	// The tags to copy: the one given, or for a digest alone every tag of
	// it that a rule takes.
	planTags := []string{in.Tag}
	if in.Tag == "" {
		planTags = nil
		for _, t := range slices.Sorted(slices.Values(tags)) {
			if pl, err := plan.For(v.cfg, in.Repository, t); err == nil && len(pl.Jobs) > 0 {
				planTags = append(planTags, t)
			}
		}
		if len(planTags) == 0 {
			p.Skipped, p.Reason = true, fmt.Sprintf("no rule takes %s@%s under any of its tags %v", in.Repository, digest, tags)
			log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
			return p, nil
		}
		p.Tags = planTags
	}
	seen := map[plan.Skip]bool{}
	for _, tag := range planTags {
		pl, err := plan.For(v.cfg, in.Repository, tag)
		if err != nil {
			return Plan{}, validationf("%v", err)
		}
		for _, s := range pl.Skipped {
			if !seen[s] {
				seen[s] = true
				p.NotPlanned = append(p.NotPlanned, s)
			}
		}
		// Each Ferry rule has its own EventBridge rule, so a push several
		// rules take starts several runs. The run started by the first rule
		// that takes the push does all of it (that rule's coarse pattern
		// surely matched); the others stop here, so nothing is asked for
		// approval twice.
		if first := firstRule(pl); in.ferryRule != "" && first != "" && in.ferryRule != first && v.hasRule(in.ferryRule) {
			p.Skipped, p.NotPlanned = true, pl.Skipped
			p.Reason = fmt.Sprintf("handled by the run that rule %q started (rule %q also takes %s:%s)", first, in.ferryRule, in.Repository, tag)
			log.InfoContext(ctx, "skipped", slog.String("reason", p.Reason))
			return p, nil
		}
		for _, j := range pl.Jobs {
			if len(in.Destinations) > 0 && !slices.Contains(in.Destinations, j.Destination.ID()) {
				continue
			}
			p.Jobs = append(p.Jobs, PlannedJob{
				Rule:             j.Rule,
				Destination:      j.Destination.ID(),
				Account:          j.Destination.Account,
				Region:           j.Destination.Region,
				Repository:       j.Repository,
				Tag:              j.Tag,
				ApprovalRequired: j.Destination.Approval == config.ApprovalRequired,
				OnExistingTag:    string(j.Destination.OnExistingTag),
			})
		}
	}
	if len(p.Jobs) == 0 {
		p.Skipped = true
		p.Reason = skipReason(in.Repository, firstNonEmpty(in.Tag, strings.Join(planTags, ",")), p.NotPlanned, in.Destinations)
		log.InfoContext(ctx, "planned", slog.String("digest", digest), slog.Int("jobs", 0), slog.Bool("skipped", true))
		return p, nil
	}
	if err := checkSize(&p); err != nil {
		log.WarnContext(ctx, "plan too large", slog.String("error", err.Error()))
		return Plan{}, err
	}
	log.InfoContext(ctx, "planned", slog.String("digest", digest), slog.Int("jobs", len(p.Jobs)), slog.String("tags", strings.Join(planTags, ",")),
		slog.Int("reasonLimit", p.ReasonLimit), slog.Bool("skipped", p.Skipped))
	return p, nil
}

// checkSize sets p.ReasonLimit, or refuses a plan whose jobs' outcomes
// could not all fit in the Map's output even with minReason bytes of
// error text each: the run would fail with States.DataLimitExceeded after
// copying, and lose the summary that says where.
func checkSize(p *Plan) error {
	b, _ := json.Marshal(p)
	p.ReasonLimit = reasonLimit(len(b), p.Jobs)
	if p.ReasonLimit >= minReason {
		return nil
	}
	items, outcomes := 0, 0
	for _, j := range p.Jobs {
		jb, _ := json.Marshal(j)
		items += len(jb) + 1
		outcomes += outcomeBytes(j)
	}
	perJob := (items+outcomes)/len(p.Jobs) + minReason
	fits := (stateBudget - (len(b) - items)) / perJob
	return validationf("%s@%s: %d jobs are more than one execution can hold (about %d fit: Step Functions keeps at most 256 KiB in a state, and the Map's output holds every job with its outcome); start runs narrowed by \"destinations\", or let the scheduled reconcile, which keeps its jobs in S3, copy it",
		p.Repository, p.Digest, len(p.Jobs), max(fits, 1))
}

type validated struct {
	ManualInput
	skip      string // a push event Ferry ignores, and why
	ferryRule string // the Ferry rule whose EventBridge rule started the run
	// referrer is set for the push of a cosign tag or of an untagged
	// manifest, which may be a referrer: Tag and Digest are the pushed
	// ones.
	referrer bool
	deleted  bool   // a DELETE event: Tag and Digest are what the source deleted
	pushedAt string // the event's time (RFC 3339), "" for a manual input
}

// parse reads an ECR push event or a manual input.
func (v *Validate) parse(raw json.RawMessage) (validated, string, error) {
	var out validated
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return out, "", validationf("input must be a JSON object: an ECR push event or {\"repository\", \"tag\" or \"digest\", \"destinations\"}")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return out, "", validationf("input is not valid JSON: %v", err)
	}
	if _, ok := probe["detail-type"]; ok {
		var ev events.ECRImageActionEvent
		if err := json.Unmarshal(trimmed, &ev); err != nil {
			return out, "", validationf("malformed ECR event: %s", inputShapeError(true, err))
		}
		out, trigger, err := v.fromEvent(ev)
		if rule, ok := probe["ferryRule"]; ok && err == nil {
			if err := json.Unmarshal(rule, &out.ferryRule); err != nil {
				return out, "", validationf("ferryRule is not a string: %v", err)
			}
		}
		return out, trigger, err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out.ManualInput); err != nil {
		return out, "", validationf("malformed manual input (want {\"repository\", \"tag\" or \"digest\", \"destinations\"}): %s", inputShapeError(false, err))
	}
	if out.Repository == "" {
		return out, "", validationf("manual input has no repository")
	}
	if out.Tag == "" && out.Digest == "" {
		return out, "", validationf("manual input names neither a tag nor a digest of %s", out.Repository)
	}
	return out, "manual", nil
}

func (v *Validate) fromEvent(ev events.ECRImageActionEvent) (validated, string, error) {
	var out validated
	if ev.Source != "aws.ecr" || ev.DetailType != "ECR Image Action" {
		return out, "", validationf("event %q from %q is not an ECR image action (source aws.ecr, detail-type \"ECR Image Action\")", ev.DetailType, ev.Source)
	}
	d := ev.Detail
	if d.RepositoryName == "" || d.ImageDigest == "" {
		return out, "", validationf("ECR event %s lacks detail.repository-name or detail.image-digest", ev.ID)
	}
	if ev.Account == "" || ev.Region == "" {
		return out, "", validationf("ECR event %s lacks account or region (EventBridge always sets them; to start a run by hand, give {\"repository\", \"tag\"})", ev.ID)
	}
	out.Repository, out.Tag, out.Digest = d.RepositoryName, d.ImageTag, d.ImageDigest
	if !ev.Time.IsZero() {
		out.pushedAt = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	switch {
	case ev.Account != v.cfg.Source.Account:
		// The deployed rules match the source account only: this event did
		// not come from them. It is forged or misrouted; reject it so that
		// the failed run is seen (an alarm counts failed runs).
		return out, "", validationf("ECR event %s is from account %s, not the source account %s: Ferry's EventBridge rules forward only the source account's events, so this input was forged or misrouted", ev.ID, ev.Account, v.cfg.Source.Account)
	case ev.Region != v.cfg.Source.Region:
		// The rules match the source region too, but an event bus may
		// forward another region's events: not an attack, just not ours.
		out.skip = fmt.Sprintf("the event is from region %s of the source account, not the source region %s: only pushes to %s are replicated", ev.Region, v.cfg.Source.Region, v.cfg.Source.ID())
	case d.Result != "SUCCESS":
		out.skip = fmt.Sprintf("the %s did not succeed (result %s)", strings.ToLower(d.ActionType), d.Result)
	case d.ActionType == "DELETE":
		out.deleted = true
		if d.ImageTag == "" {
			out.skip = fmt.Sprintf("the delete of %s@%s names no tag (it was deleted by digest): Ferry follows deletes of tags only; remove the image from destinations by hand if it must go", d.RepositoryName, d.ImageDigest)
		}
		return out, "delete", nil
	case d.ActionType != "PUSH":
		out.skip = fmt.Sprintf("action %s is neither a push nor a delete", d.ActionType)
	case d.ImageTag == "" || reconcile.IsReferrerTag(d.ImageTag):
		// Pushed by digest (an OCI 1.1 referrer, or a platform image of an
		// index), or a cosign or referrers tag: it follows its subject.
		out.referrer = true
		return out, "referrer", nil
	}
	return out, "push", nil
}

// firstRule is the rule of the plan's first job: rules are planned in file order.
func firstRule(pl plan.Selection) string {
	if len(pl.Jobs) == 0 {
		return ""
	}
	return pl.Jobs[0].Rule
}

// hasRule reports whether the configuration has a rule of that name. A run
// started for a rule the configuration no longer has does the work itself.
func (v *Validate) hasRule(name string) bool {
	for _, r := range v.cfg.Rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

func (v *Validate) checkDestinations(ids []string) error {
	known := map[string]bool{}
	for _, d := range v.cfg.Destinations() {
		known[d.ID()] = true
	}
	var foreign []string
	for _, id := range ids {
		if !known[id] {
			foreign = append(foreign, id)
		}
	}
	if len(foreign) > 0 {
		return validationf("destinations %s are not in the deployed configuration: a manual run may narrow the destinations, never add one", strings.Join(foreign, ", "))
	}
	return nil
}

// resolve finds the digest (and tags) of the image in the source.
func (v *Validate) resolve(ctx context.Context, in validated) (string, []string, error) {
	id := ecrtypes.ImageIdentifier{}
	if in.Digest != "" {
		id.ImageDigest = aws.String(in.Digest)
	} else {
		id.ImageTag = aws.String(in.Tag)
	}
	det, found, err := v.describe(ctx, in.Repository, id)
	switch {
	case err != nil:
		return "", nil, err
	case !found:
		return "", nil, validationf("describe %s in source %s: image %s is not in the source registry", in.Repository, v.cfg.Source.ID(), firstNonEmpty(in.Digest, in.Tag))
	}
	digest := aws.ToString(det.ImageDigest)
	if in.Digest != "" {
		digest = in.Digest
	}
	return digest, det.ImageTags, nil
}

// describe reads one image of the source; found is false when the
// repository or the image is not there.
func (v *Validate) describe(ctx context.Context, repo string, id ecrtypes.ImageIdentifier) (ecrtypes.ImageDetail, bool, error) {
	out, err := v.source.DescribeImages(ctx, &awsecr.DescribeImagesInput{
		RegistryId:     aws.String(v.cfg.Source.Account),
		RepositoryName: aws.String(repo),
		ImageIds:       []ecrtypes.ImageIdentifier{id},
	})
	var nf *ecrtypes.ImageNotFoundException
	var rnf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf), errors.As(err, &rnf):
		return ecrtypes.ImageDetail{}, false, nil
	case err != nil:
		return ecrtypes.ImageDetail{}, false, classifyAWS(fmt.Sprintf("describe %s in source %s", repo, v.cfg.Source.ID()), err)
	case len(out.ImageDetails) == 0:
		return ecrtypes.ImageDetail{}, false, nil
	}
	return out.ImageDetails[0], true, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func skipReason(repo, tag string, skips []plan.Skip, narrowed []string) string {
	if len(narrowed) > 0 {
		return fmt.Sprintf("no rule sends %s:%s to %s", repo, tag, strings.Join(narrowed, ", "))
	}
	if len(skips) == 0 {
		return "the configuration has no rules"
	}
	var reasons []string
	for _, s := range skips {
		r := fmt.Sprintf("rule %q: %s", s.Rule, s.Reason)
		if s.Destination != "" {
			r = fmt.Sprintf("rule %q, destination %s: %s", s.Rule, s.Destination, s.Reason)
		}
		reasons = append(reasons, r)
	}
	return fmt.Sprintf("no rule matches %s:%s (%s)", repo, tag, strings.Join(reasons, "; "))
}
