package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
)

// Roles is how the per-destination steps reach a destination: they assume
// its role themselves (cached per warm Lambda), and the source with the
// function's own role. *ecr.Clients implements it; tests pass a fake.
type Roles interface {
	Assume(ctx context.Context, role ecr.Role) (aws.Credentials, error)
	DestinationECR(ctx context.Context, account, region string, role ecr.Role) (ecr.API, error)
	ECR(account, region string) ecr.API
}

var _ Roles = (*ecr.Clients)(nil)

// step holds what every per-destination step needs.
type step struct {
	log   *slog.Logger
	cfg   *config.Config
	roles Roles
}

func newStep(logger *slog.Logger, env *Env, roles Roles) step {
	if roles == nil {
		roles = env.Clients
	}
	return step{log: logger, cfg: env.Config, roles: roles}
}

// destinationECR assumes j's destination role for access (ecr.AccessRead,
// ecr.AccessWrite or ecr.AccessAdmin) and returns an ECR client in the
// destination.
func (s step) destinationECR(ctx context.Context, j Job, access string) (config.Destination, ecr.API, error) {
	d, err := destination(s.cfg, j)
	if err != nil {
		return d, nil, err
	}
	api, err := s.roles.DestinationECR(ctx, d.Account, d.Region, role(s.cfg, d, j, access))
	if err != nil {
		return d, nil, classifyAWS(fmt.Sprintf("assume role %s for %s", d.RoleARN(), d.ID()), err)
	}
	return d, api, nil
}

// AssumeRole proves that the destination role can be assumed with the
// configured external ID. It returns the role ARN and session name, never
// the credentials.
type AssumeRole struct{ step }

// NewAssumeRole returns the AssumeRole step; roles nil means env.Clients.
func NewAssumeRole(logger *slog.Logger, env *Env, roles Roles) *AssumeRole {
	return &AssumeRole{newStep(logger, env, roles)}
}

// Handle is the Lambda handler.
func (a *AssumeRole) Handle(ctx context.Context, r Replication) (Replication, error) {
	d, err := destination(a.cfg, r.Job)
	if err != nil {
		return r, err
	}
	ro := role(a.cfg, d, r.Job, ecr.AccessRead)
	log := jobLogger(a.log, r.Job)
	if _, err := a.roles.Assume(ctx, ro); err != nil {
		err = classifyAWS(fmt.Sprintf("assume role %s in %s", ro.ARN, d.ID()), err)
		log.ErrorContext(ctx, "cannot assume the destination role", slog.String("role", ro.ARN), slog.String("error", err.Error()))
		return r, err
	}
	log.InfoContext(ctx, "destination role assumed", slog.String("role", ro.ARN), slog.String("session", ro.Session))
	r.Role = &RoleResult{RoleARN: ro.ARN, SessionName: ro.Session}
	return r, nil
}

// SettingsTag is the resource tag with which Ferry marks a repository it
// created: SettingsPending from CreateRepository until every configured
// setting is in place, then SettingsApplied. CreateRepository cannot set a
// lifecycle or repository policy, so a repository is created first and
// completed after; if that fails half way, the next attempt (Retry, Redrive
// or a new execution) finds the marker still pending and finishes the job.
// A repository without the marker was not created by Ferry and is left as
// it is (the destination role cannot change its policies or tags).
// Reading the marker needs ecr:ListTagsForResource.
const (
	SettingsTag     = ecr.SettingsTag
	SettingsPending = ecr.SettingsPending
	SettingsApplied = ecr.SettingsApplied
)

// EnsureRepository creates the destination repository with the configured
// settings if it is missing, and completes the settings of a repository
// Ferry created whose setup was cut short. Any other existing repository is
// left as it is.
type EnsureRepository struct{ step }

// NewEnsureRepository returns the EnsureRepository step.
func NewEnsureRepository(logger *slog.Logger, env *Env, roles Roles) *EnsureRepository {
	return &EnsureRepository{newStep(logger, env, roles)}
}

// Handle is the Lambda handler.
func (e *EnsureRepository) Handle(ctx context.Context, r Replication) (Replication, error) {
	// Its own session value: only EnsureRepository's role may create,
	// tag and set up repositories, not CopyImage's.
	d, api, err := e.destinationECR(ctx, r.Job, ecr.AccessAdmin)
	if err != nil {
		return r, err
	}
	log := jobLogger(e.log, r.Job)
	name := r.Job.Repository
	repo, found, err := e.describe(ctx, api, d, name)
	if err != nil {
		return r, err
	}
	if !found && r.Job.Action != "" && r.Job.Action != ActionCopy {
		// Referrers follow an image that is there, and a tag is removed
		// from a repository that is: neither creates one.
		r.Repository = &RepositoryResult{Name: name, Status: RepositoryMissing, Message: "not in the destination; not created, since this job copies no image"}
		log.InfoContext(ctx, "repository missing; not created", slog.String("action", r.Job.Action))
		return r, nil
	}
	if !found {
		var created bool
		repo, created, err = e.create(ctx, api, d, name)
		if err != nil {
			return r, err
		}
		if created {
			if err := e.complete(ctx, api, d, repo); err != nil {
				log.ErrorContext(ctx, "repository created, its settings not yet applied", slog.String("error", err.Error()))
				return r, err
			}
			r.Repository = &RepositoryResult{Name: name, URI: aws.ToString(repo.RepositoryUri), Status: RepositoryCreated, Message: settingsSummary(d.Settings)}
			log.InfoContext(ctx, "repository created", slog.String("uri", r.Repository.URI))
			return r, nil
		}
	}
	// It exists: finish what an earlier attempt of Ferry's (or a run racing
	// this one) began, or leave it alone.
	r.Repository = &RepositoryResult{Name: name, URI: aws.ToString(repo.RepositoryUri), Status: RepositoryExisting}
	state, err := e.marker(ctx, api, d, repo)
	var denied *AccessDeniedError
	switch {
	case errors.As(err, &denied):
		// The destination role predates the marker (no
		// ecr:ListTagsForResource): keep to what Ferry did before it.
		r.Repository.Message = "exists; left as it is (ecr:ListTagsForResource is not allowed, so Ferry cannot tell whether it created the repository and left its settings unfinished)"
		log.WarnContext(ctx, "repository exists; cannot read its tags", slog.String("error", err.Error()))
		return r, nil
	case err != nil:
		return r, err
	case state == SettingsPending:
		if err := e.complete(ctx, api, d, repo); err != nil {
			log.ErrorContext(ctx, "cannot complete the settings of the repository Ferry created", slog.String("error", err.Error()))
			return r, err
		}
		r.Repository.Message = "created by an earlier attempt whose setup was cut short; settings now complete: " + settingsSummary(d.Settings)
		log.InfoContext(ctx, "repository settings completed", slog.String("uri", r.Repository.URI))
		return r, nil
	case state == SettingsApplied:
		r.Repository.Message = "exists, created by Ferry with its settings; left as it is"
	default:
		r.Repository.Message = "exists; left as it is (settings apply only when Ferry creates it)"
	}
	log.InfoContext(ctx, "repository exists", slog.String("uri", r.Repository.URI))
	return r, nil
}

// describe returns the repository, or found false when it does not exist.
func (e *EnsureRepository) describe(ctx context.Context, api ecr.API, d config.Destination, name string) (ecrtypes.Repository, bool, error) {
	out, err := api.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{
		RegistryId:      aws.String(d.Account),
		RepositoryNames: []string{name},
	})
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf):
		return ecrtypes.Repository{}, false, nil
	case err != nil:
		return ecrtypes.Repository{}, false, classifyAWS(fmt.Sprintf("describe repository %s in %s", name, d.ID()), err)
	case len(out.Repositories) == 0:
		return ecrtypes.Repository{}, false, nil
	}
	return out.Repositories[0], true, nil
}

// create creates the repository with the settings CreateRepository takes
// and the pending marker. created is false when another run created it
// first.
func (e *EnsureRepository) create(ctx context.Context, api ecr.API, d config.Destination, name string) (repo ecrtypes.Repository, created bool, err error) {
	s := d.Settings
	in := &awsecr.CreateRepositoryInput{
		RegistryId:                 aws.String(d.Account),
		RepositoryName:             aws.String(name),
		ImageTagMutability:         ecrtypes.ImageTagMutabilityMutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: s.ScanOnPush},
	}
	if s.TagImmutability {
		in.ImageTagMutability = ecrtypes.ImageTagMutabilityImmutable
	}
	if s.Encryption.Type != "" {
		in.EncryptionConfiguration = &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionType(s.Encryption.Type)}
		if s.Encryption.KMSKey != "" {
			in.EncryptionConfiguration.KmsKey = aws.String(s.Encryption.KMSKey)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(SettingsTag), Value: aws.String(SettingsPending)})
	out, err := api.CreateRepository(ctx, in)
	var exists *ecrtypes.RepositoryAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		// Two runs raced to create it and the other one won.
		repo, found, derr := e.describe(ctx, api, d, name)
		if derr != nil || !found {
			return repo, false, classifyAWS(fmt.Sprintf("describe repository %s in %s", name, d.ID()), errors.Join(derr, err))
		}
		return repo, false, nil
	case err != nil:
		return repo, false, classifyAWS(fmt.Sprintf("create repository %s in %s", name, d.ID()), err)
	case out.Repository == nil:
		return repo, false, &ReplicationError{Op: fmt.Sprintf("create repository %s in %s", name, d.ID()), Err: errors.New("no repository in the answer")}
	}
	return *out.Repository, true, nil
}

// marker reads the repository's SettingsTag ("" when it has none).
func (e *EnsureRepository) marker(ctx context.Context, api ecr.API, d config.Destination, repo ecrtypes.Repository) (string, error) {
	out, err := api.ListTagsForResource(ctx, &awsecr.ListTagsForResourceInput{ResourceArn: repo.RepositoryArn})
	if err != nil {
		return "", classifyAWS(fmt.Sprintf("list the tags of repository %s in %s", aws.ToString(repo.RepositoryName), d.ID()), err)
	}
	for _, t := range out.Tags {
		if aws.ToString(t.Key) == SettingsTag {
			return aws.ToString(t.Value), nil
		}
	}
	return "", nil
}

// complete applies the settings CreateRepository cannot take, then marks
// the repository applied. Each call is idempotent, so completing twice (a
// retry, or two racing runs) is harmless.
func (e *EnsureRepository) complete(ctx context.Context, api ecr.API, d config.Destination, repo ecrtypes.Repository) error {
	s, name := d.Settings, aws.ToString(repo.RepositoryName)
	if s.LifecyclePolicy != "" {
		if _, err := api.PutLifecyclePolicy(ctx, &awsecr.PutLifecyclePolicyInput{
			RegistryId: aws.String(d.Account), RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(s.LifecyclePolicy),
		}); err != nil {
			return classifyAWS(fmt.Sprintf("put lifecycle policy on %s in %s", name, d.ID()), err)
		}
	}
	if s.RepositoryPolicy != "" {
		if _, err := api.SetRepositoryPolicy(ctx, &awsecr.SetRepositoryPolicyInput{
			RegistryId: aws.String(d.Account), RepositoryName: aws.String(name), PolicyText: aws.String(s.RepositoryPolicy),
		}); err != nil {
			return classifyAWS(fmt.Sprintf("set repository policy on %s in %s", name, d.ID()), err)
		}
	}
	if _, err := api.TagResource(ctx, &awsecr.TagResourceInput{
		ResourceArn: repo.RepositoryArn,
		Tags:        []ecrtypes.Tag{{Key: aws.String(SettingsTag), Value: aws.String(SettingsApplied)}},
	}); err != nil {
		return classifyAWS(fmt.Sprintf("tag repository %s in %s %s=%s", name, d.ID(), SettingsTag, SettingsApplied), err)
	}
	return nil
}

func settingsSummary(s config.RepositorySettings) string {
	mut := "mutable tags"
	if s.TagImmutability {
		mut = "immutable tags"
	}
	enc := "AES256"
	if s.Encryption.Type != "" {
		enc = s.Encryption.Type
	}
	msg := fmt.Sprintf("created with %s, scan on push %t, encryption %s", mut, s.ScanOnPush, enc)
	if s.LifecyclePolicy != "" {
		msg += ", lifecycle policy"
	}
	if s.RepositoryPolicy != "" {
		msg += ", repository policy"
	}
	if len(s.Tags) > 0 {
		msg += fmt.Sprintf(", %d tags", len(s.Tags))
	}
	return msg
}

func millis(d time.Duration) int64 { return d.Milliseconds() }
