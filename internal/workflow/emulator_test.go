package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
)

// emulated is the test configuration's source and destinations in the
// local ECR/STS emulator, and an Env whose real AWS SDK clients reach it.
type emulated struct {
	em   *emulator.Emulator
	env  *Env
	prod *emulator.Registry
	cfg  aws.Config
}

func newEmulated(t *testing.T) *emulated {
	t.Helper()
	ctx := context.Background()
	em, err := emulator.New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	if err := em.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &emulated{em: em}
	endpoints := ecr.Endpoints{STS: em.STSEndpoint(), ECR: map[string]string{}}
	for _, id := range []string{"111111111111/us-east-1", prodID} {
		r, err := em.AddRegistry(id[:12], id[13:])
		if err != nil {
			t.Fatal(err)
		}
		endpoints.ECR[id] = r.ECREndpoint()
		if id == prodID {
			e.prod = r
		}
	}
	if err := em.AllowRole("arn:aws:iam::222222222222:role/ferry-replication", "ext-123"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	ep, _ := json.Marshal(endpoints)
	vars := map[string]string{EnvConfig: "ferry.yaml", EnvLambdaTaskRoot: dir, ecr.EnvEndpoints: string(ep)}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("FERRYLOCALTEST", fakeSecretKey, "")),
		awsconfig.WithRetryMaxAttempts(1), // each injected fault reaches the handler
	}
	if e.env, err = LoadEnv(ctx, func(k string) string { return vars[k] }, opts...); err != nil {
		t.Fatal(err)
	}
	if e.cfg, err = awsconfig.LoadDefaultConfig(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	return e
}

// client is an ECR client in the production destination, for checks.
func (e *emulated) client() *awsecr.Client {
	return awsecr.NewFromConfig(e.cfg, func(o *awsecr.Options) {
		o.Region = "eu-west-1"
		o.BaseEndpoint = aws.String(e.prod.ECREndpoint())
	})
}

// settings reads back the repository's lifecycle policy, repository policy
// and tags ("" when absent).
func (e *emulated) settings(t *testing.T, name string) (lifecycle, policy string, tags map[string]string) {
	t.Helper()
	ctx, c := context.Background(), e.client()
	var nf *ecrtypes.LifecyclePolicyNotFoundException
	lp, err := c.GetLifecyclePolicy(ctx, &awsecr.GetLifecyclePolicyInput{RepositoryName: aws.String(name)})
	switch {
	case err == nil:
		lifecycle = aws.ToString(lp.LifecyclePolicyText)
	case !errors.As(err, &nf):
		t.Fatal(err)
	}
	var pnf *ecrtypes.RepositoryPolicyNotFoundException
	rp, err := c.GetRepositoryPolicy(ctx, &awsecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	switch {
	case err == nil:
		policy = aws.ToString(rp.PolicyText)
	case !errors.As(err, &pnf):
		t.Fatal(err)
	}
	d, err := c.DescribeRepositories(ctx, &awsecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &awsecr.ListTagsForResourceInput{ResourceArn: d.Repositories[0].RepositoryArn})
	if err != nil {
		t.Fatal(err)
	}
	tags = map[string]string{}
	for _, tg := range lt.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return lifecycle, policy, tags
}

// Against the emulator, with the real SDK: a settings call that fails after
// CreateRepository leaves the repository marked pending, and the retry
// completes it; a repository someone else created stays untouched.
func TestEnsureRepositoryEmulator(t *testing.T) {
	t.Parallel()
	want := testEnv(t).Config.Rules[0].Destinations[0].Settings
	for _, op := range []string{"PutLifecyclePolicy", "SetRepositoryPolicy", "TagResource"} {
		t.Run("retry after "+op+" failed", func(t *testing.T) {
			t.Parallel()
			e := newEmulated(t)
			e.prod.InjectFault(op, 1, emulator.FaultServerError())
			log, logs := testLogger()
			step := NewEnsureRepository(log, e.env, nil)
			in := Replication{Job: testJob(prodID)}
			_, err := step.Handle(context.Background(), in)
			var re *RetryableError
			if !errors.As(err, &re) {
				t.Fatalf("first attempt: %v, want a RetryableError", err)
			}
			if _, _, tags := e.settings(t, "team/app"); tags[SettingsTag] != SettingsPending {
				t.Fatalf("after the failure: tags %v, want %s=%s", tags, SettingsTag, SettingsPending)
			}
			out, err := step.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			lc, pol, tags := e.settings(t, "team/app")
			if lc != want.LifecyclePolicy || pol != want.RepositoryPolicy || tags[SettingsTag] != SettingsApplied || tags["environment"] != "production" {
				t.Errorf("after the retry: lifecycle %q, policy %q, tags %v", lc, pol, tags)
			}
			if out.Repository == nil || out.Repository.Status != RepositoryExisting {
				t.Errorf("retry reported %+v", out.Repository)
			}
			assertNoSecrets(t, out, err, logs.String())
		})
	}
	t.Run("someone else's repository is left untouched", func(t *testing.T) {
		t.Parallel()
		e := newEmulated(t)
		if _, err := e.client().CreateRepository(context.Background(), &awsecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); err != nil {
			t.Fatal(err)
		}
		out, err := NewEnsureRepository(slog.New(slog.DiscardHandler), e.env, nil).Handle(context.Background(), Replication{Job: testJob(prodID)})
		if err != nil {
			t.Fatal(err)
		}
		if lc, pol, tags := e.settings(t, "team/app"); lc != "" || pol != "" || len(tags) != 0 {
			t.Errorf("an existing repository was changed: lifecycle %q, policy %q, tags %v", lc, pol, tags)
		}
		if out.Repository.Status != RepositoryExisting {
			t.Errorf("reported %+v", out.Repository)
		}
	})
	t.Run("runs racing to create it all succeed with the settings applied", func(t *testing.T) {
		t.Parallel()
		e := newEmulated(t)
		step := NewEnsureRepository(slog.New(slog.DiscardHandler), e.env, nil)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = step.Handle(context.Background(), Replication{Job: testJob(prodID)}) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if lc, pol, tags := e.settings(t, "team/app"); lc != want.LifecyclePolicy || pol != want.RepositoryPolicy || tags[SettingsTag] != SettingsApplied {
			t.Errorf("lifecycle %q, policy %q, tags %v", lc, pol, tags)
		}
	})
	t.Run("throttled DescribeRepositories is retryable", func(t *testing.T) {
		t.Parallel()
		e := newEmulated(t)
		e.prod.InjectFault("DescribeRepositories", 1, emulator.FaultThrottling())
		_, err := NewEnsureRepository(slog.New(slog.DiscardHandler), e.env, nil).Handle(context.Background(), Replication{Job: testJob(prodID)})
		var re *RetryableError
		if !errors.As(err, &re) {
			t.Fatalf("%v, want a RetryableError", err)
		}
	})
}

// STS's own AccessDenied (a role that does not trust Ferry, or a wrong
// external ID) reaches the ASL as AccessDeniedError, and throttling as
// RetryableError; the role's credentials appear nowhere.
func TestAssumeRoleEmulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   *emulator.Fault
		job     Job
		wantErr any
	}{
		{name: "assumed", job: testJob(prodID)},
		{name: "role not trusted", job: func() Job {
			j := testJob(prodID)
			j.Destination, j.Account, j.Region, j.Repository = mirrorID, "333333333333", "us-west-2", "mirror/team/app"
			return j
		}(), wantErr: new(*AccessDeniedError)},
		{name: "throttled", fault: &emulator.Fault{Status: 400, Code: "Throttling", Message: "Rate exceeded"}, job: testJob(prodID), wantErr: new(*RetryableError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmulated(t)
			if tt.fault != nil {
				e.em.InjectFault("AssumeRole", 1, *tt.fault)
			}
			log, logs := testLogger()
			out, err := NewAssumeRole(log, e.env, nil).Handle(context.Background(), Replication{Job: tt.job})
			assertNoSecrets(t, out, err, logs.String())
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("%T %v, want %T", err, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Role == nil || out.Role.RoleARN != "arn:aws:iam::222222222222:role/ferry-replication" || out.Role.SessionName != "ferry-run-1" {
				t.Errorf("role %+v", out.Role)
			}
			b, _ := json.Marshal(out)
			for _, k := range []string{"ASIA", "SecretAccessKey", "SessionToken"} {
				if strings.Contains(string(b), k) {
					t.Errorf("output %s carries %s", b, k)
				}
			}
		})
	}
}
