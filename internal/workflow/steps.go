package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// destinationECR assumes j's destination role and returns an ECR client in
// the destination.
func (s step) destinationECR(ctx context.Context, j Job) (config.Destination, ecr.API, error) {
	d, err := destination(s.cfg, j)
	if err != nil {
		return d, nil, err
	}
	api, err := s.roles.DestinationECR(ctx, d.Account, d.Region, role(s.cfg, d, j))
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
	ro := role(a.cfg, d, r.Job)
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

// EnsureRepository creates the destination repository with the configured
// settings if it is missing. An existing repository is left as it is.
type EnsureRepository struct{ step }

// NewEnsureRepository returns the EnsureRepository step.
func NewEnsureRepository(logger *slog.Logger, env *Env, roles Roles) *EnsureRepository {
	return &EnsureRepository{newStep(logger, env, roles)}
}

// Handle is the Lambda handler.
func (e *EnsureRepository) Handle(ctx context.Context, r Replication) (Replication, error) {
	d, api, err := e.destinationECR(ctx, r.Job)
	if err != nil {
		return r, err
	}
	log := jobLogger(e.log, r.Job)
	name := r.Job.Repository
	op := fmt.Sprintf("repository %s in %s", name, d.ID())
	out, err := api.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{
		RegistryId:      aws.String(d.Account),
		RepositoryNames: []string{name},
	})
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case err == nil && len(out.Repositories) > 0:
		r.Repository = &RepositoryResult{Name: name, URI: aws.ToString(out.Repositories[0].RepositoryUri), Status: RepositoryExisting,
			Message: "exists; left as it is (settings apply only when Ferry creates it)"}
		log.InfoContext(ctx, "repository exists", slog.String("uri", r.Repository.URI))
		return r, nil
	case err != nil && !errors.As(err, &nf):
		return r, classifyAWS("describe "+op, err)
	}
	uri, created, err := e.create(ctx, api, d, name)
	if err != nil {
		return r, err
	}
	if !created {
		r.Repository = &RepositoryResult{Name: name, URI: uri, Status: RepositoryExisting, Message: "created at the same moment by another run; left as it is"}
		log.InfoContext(ctx, "repository created by another run", slog.String("uri", uri))
		return r, nil
	}
	r.Repository = &RepositoryResult{Name: name, URI: uri, Status: RepositoryCreated, Message: settingsSummary(d.Settings)}
	log.InfoContext(ctx, "repository created", slog.String("uri", uri))
	return r, nil
}

func (e *EnsureRepository) create(ctx context.Context, api ecr.API, d config.Destination, name string) (string, bool, error) {
	s := d.Settings
	op := fmt.Sprintf("create repository %s in %s", name, d.ID())
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
	for k, v := range s.Tags {
		in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := api.CreateRepository(ctx, in)
	var exists *ecrtypes.RepositoryAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		// Two runs raced to create it: the other one won, and set it up.
		desc, derr := api.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RegistryId: aws.String(d.Account), RepositoryNames: []string{name}})
		if derr != nil || len(desc.Repositories) == 0 {
			return "", false, classifyAWS("describe repository "+name+" in "+d.ID(), errors.Join(derr, err))
		}
		return aws.ToString(desc.Repositories[0].RepositoryUri), false, nil
	case err != nil:
		return "", false, classifyAWS(op, err)
	}
	if s.LifecyclePolicy != "" {
		if _, err := api.PutLifecyclePolicy(ctx, &awsecr.PutLifecyclePolicyInput{
			RegistryId: aws.String(d.Account), RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(s.LifecyclePolicy),
		}); err != nil {
			return "", false, classifyAWS("put lifecycle policy on "+name+" in "+d.ID(), err)
		}
	}
	if s.RepositoryPolicy != "" {
		if _, err := api.SetRepositoryPolicy(ctx, &awsecr.SetRepositoryPolicyInput{
			RegistryId: aws.String(d.Account), RepositoryName: aws.String(name), PolicyText: aws.String(s.RepositoryPolicy),
		}); err != nil {
			return "", false, classifyAWS("set repository policy on "+name+" in "+d.ID(), err)
		}
	}
	return aws.ToString(out.Repository.RepositoryUri), true, nil
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
