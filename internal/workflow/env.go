package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/plan"
)

// Environment variables the functions read.
const (
	EnvConfig          = "FERRY_CONFIG" // path of ferry.yaml, absolute or relative to $LAMBDA_TASK_ROOT
	EnvApprovalTopic   = "FERRY_APPROVAL_TOPIC_ARN"
	EnvApprovalSecret  = "FERRY_APPROVAL_SECRET_ARN"
	EnvApprovalURL     = "FERRY_APPROVAL_URL"
	EnvApprovalTTL     = "FERRY_APPROVAL_TTL_SECONDS"
	EnvLambdaTaskRoot  = "LAMBDA_TASK_ROOT"
	defaultApprovalTTL = 24 * 60 * 60
)

// Env is what every function is built from: the deployed configuration,
// the AWS clients and the environment.
type Env struct {
	Config  *config.Config
	Clients *ecr.Clients
	Getenv  func(string) string
}

// LoadEnv reads FERRY_CONFIG and FERRY_AWS_ENDPOINTS through getenv and
// loads the AWS configuration (the function's role, region from
// AWS_REGION). awsOpts add to the SDK's defaults (the local runner passes
// static stand-in credentials).
func LoadEnv(ctx context.Context, getenv func(string) string, awsOpts ...func(*awsconfig.LoadOptions) error) (*Env, error) {
	path := getenv(EnvConfig)
	if path == "" {
		return nil, &ConfigurationError{Msg: EnvConfig + " is not set: it must name the deployed ferry.yaml"}
	}
	if !filepath.IsAbs(path) {
		if root := getenv(EnvLambdaTaskRoot); root != "" {
			path = filepath.Join(root, path)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &ConfigurationError{Msg: fmt.Sprintf("load %s: %v", path, err)}
	}
	endpoints, err := ecr.ParseEndpoints(getenv(ecr.EnvEndpoints))
	if err != nil {
		return nil, &ConfigurationError{Msg: fmt.Sprintf("%s: %v", ecr.EnvEndpoints, err)}
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsOpts...)
	if err != nil {
		return nil, &ConfigurationError{Msg: fmt.Sprintf("load AWS configuration: %v", err)}
	}
	return &Env{Config: cfg, Clients: ecr.NewClients(awsCfg, endpoints), Getenv: getenv}, nil
}

// jobLogger returns logger with a job's stable attributes.
func jobLogger(logger *slog.Logger, j Job) *slog.Logger {
	return logger.With(
		slog.String("execution", j.Execution),
		slog.String("repository", j.SourceRepository),
		slog.String("tag", j.Tag),
		slog.String("digest", j.Digest),
		slog.String("destination", j.Destination),
		slog.String("account", j.Account),
		slog.String("region", j.Region),
	)
}

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName is the role session name for an execution: recognisable in
// CloudTrail, within STS's 2-64 characters of [\w+=,.@-].
func sessionName(execution string) string {
	name := execution
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	s := "ferry-" + sessionUnsafe.ReplaceAllString(name, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// destination finds a job's destination in the deployed configuration:
// destinations come only from it, never from the state's input.
//
// The job must be one the deployed rules make of its source repository and
// tag, so a step invoked with a hand-made job (or redriven after the
// configuration changed) cannot send an image where the rules do not.
func destination(cfg *config.Config, j Job) (config.Destination, error) {
	pl, err := plan.For(cfg, j.SourceRepository, j.Tag)
	if err == nil {
		for _, pj := range pl.Jobs {
			if pj.Rule == j.Rule && pj.Destination.ID() == j.Destination && pj.Repository == j.Repository && pj.Tag == j.Tag {
				return pj.Destination, nil
			}
		}
	}
	return config.Destination{}, validationf("the deployed configuration does not send %s:%s to %s as %s (rule %q)", j.SourceRepository, j.Tag, j.Destination, j.Repository, j.Rule)
}

// role returns the destination role to assume for j, for access
// (ecr.AccessRead, ecr.AccessWrite or ecr.AccessAdmin).
func role(cfg *config.Config, d config.Destination, j Job, access string) ecr.Role {
	return ecr.Role{ARN: d.RoleARN(), ExternalID: cfg.ExternalID, Session: sessionName(j.Execution), Access: access}
}
