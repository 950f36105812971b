package workflow

import (
	"context"
	"errors"
	"github.com/ferry-dev/ferry/internal/ecr"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

func TestEnsureRepository(t *testing.T) {
	t.Parallel()
	notFound := &ecrtypes.RepositoryNotFoundException{Message: aws.String("not found")}
	tests := []struct {
		name  string
		job   Job
		setup func(dst *fakeECR, roles *fakeRoles)
		// want
		wantErr     any // pointer to the error type wanted, for errors.As
		wantStatus  string
		wantMessage string // a substring
		wantCalls   []string
		wantMarker  string // the repository's ferry:settings tag afterwards
		wantApplied bool   // lifecycle and repository policy in place
	}{
		{
			name:        "missing: created with every setting, then marked applied",
			job:         testJob(prodID),
			wantStatus:  RepositoryCreated,
			wantMessage: "immutable tags, scan on push true",
			wantCalls:   []string{"DescribeRepositories", "CreateRepository", "PutLifecyclePolicy", "SetRepositoryPolicy", "TagResource"},
			wantMarker:  SettingsApplied, wantApplied: true,
		},
		{
			name:        "missing, no settings to complete: still marked applied",
			job:         testJob(mirrorID),
			wantStatus:  RepositoryCreated,
			wantCalls:   []string{"DescribeRepositories", "CreateRepository", "TagResource"},
			wantMarker:  SettingsApplied,
			wantMessage: "mutable tags",
		},
		{
			name:        "existing, not Ferry's: left untouched",
			job:         testJob(prodID),
			setup:       func(dst *fakeECR, _ *fakeRoles) { dst.addRepo("team/app", map[string]string{"owner": "someone"}) },
			wantStatus:  RepositoryExisting,
			wantMessage: "left as it is",
			wantCalls:   []string{"DescribeRepositories", "ListTagsForResource"},
		},
		{
			name: "existing, Ferry's and complete: left untouched",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", map[string]string{SettingsTag: SettingsApplied})
			},
			wantStatus:  RepositoryExisting,
			wantMessage: "created by Ferry",
			wantCalls:   []string{"DescribeRepositories", "ListTagsForResource"},
			wantMarker:  SettingsApplied,
		},
		{
			name: "existing, Ferry's with settings pending: completed",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", map[string]string{SettingsTag: SettingsPending})
			},
			wantStatus:  RepositoryExisting,
			wantMessage: "settings now complete",
			wantCalls:   []string{"DescribeRepositories", "ListTagsForResource", "PutLifecyclePolicy", "SetRepositoryPolicy", "TagResource"},
			wantMarker:  SettingsApplied, wantApplied: true,
		},
		{
			name: "race: another run created it first and is done",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", map[string]string{SettingsTag: SettingsApplied})
				dst.failNext("DescribeRepositories", notFound) // it did not exist yet when we looked
			},
			wantStatus: RepositoryExisting,
			wantCalls:  []string{"DescribeRepositories", "CreateRepository", "DescribeRepositories", "ListTagsForResource"},
			wantMarker: SettingsApplied,
		},
		{
			name: "race: another run created it and is still applying settings",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", map[string]string{SettingsTag: SettingsPending})
				dst.failNext("DescribeRepositories", notFound)
			},
			wantStatus: RepositoryExisting,
			wantCalls:  []string{"DescribeRepositories", "CreateRepository", "DescribeRepositories", "ListTagsForResource", "PutLifecyclePolicy", "SetRepositoryPolicy", "TagResource"},
			wantMarker: SettingsApplied, wantApplied: true,
		},
		{
			name: "ListTagsForResource not allowed: left as it is, as before the marker",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", map[string]string{SettingsTag: SettingsPending})
				dst.failNext("ListTagsForResource", apiErr("AccessDeniedException"))
			},
			wantStatus:  RepositoryExisting,
			wantMessage: "ecr:ListTagsForResource is not allowed",
			wantCalls:   []string{"DescribeRepositories", "ListTagsForResource"},
			wantMarker:  SettingsPending,
		},
		{
			name: "ListTagsForResource throttled: retryable",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.addRepo("team/app", nil)
				dst.failNext("ListTagsForResource", apiErr("ThrottlingException"))
			},
			wantErr:   new(*RetryableError),
			wantCalls: []string{"DescribeRepositories", "ListTagsForResource"},
		},
		{
			name:      "DescribeRepositories throttled: retryable",
			job:       testJob(prodID),
			setup:     func(dst *fakeECR, _ *fakeRoles) { dst.failNext("DescribeRepositories", apiErr("ThrottlingException")) },
			wantErr:   new(*RetryableError),
			wantCalls: []string{"DescribeRepositories"},
		},
		{
			name:      "CreateRepository 500: retryable",
			job:       testJob(prodID),
			setup:     func(dst *fakeECR, _ *fakeRoles) { dst.failNext("CreateRepository", apiErr("ServerException")) },
			wantErr:   new(*RetryableError),
			wantCalls: []string{"DescribeRepositories", "CreateRepository"},
		},
		{
			name:      "CreateRepository denied by the role's IAM: access denied",
			job:       testJob(prodID),
			setup:     func(dst *fakeECR, _ *fakeRoles) { dst.failNext("CreateRepository", apiErr("AccessDeniedException")) },
			wantErr:   new(*AccessDeniedError),
			wantCalls: []string{"DescribeRepositories", "CreateRepository"},
		},
		{
			name: "CreateRepository invalid parameter: fails without retry",
			job:  testJob(prodID),
			setup: func(dst *fakeECR, _ *fakeRoles) {
				dst.failNext("CreateRepository", &ecrtypes.InvalidParameterException{Message: aws.String("bad")})
			},
			wantErr:   new(*ReplicationError),
			wantCalls: []string{"DescribeRepositories", "CreateRepository"},
		},
		{
			name:    "role cannot be assumed: access denied, ECR untouched",
			job:     testJob(prodID),
			setup:   func(_ *fakeECR, roles *fakeRoles) { roles.assumeErr = apiErr("AccessDenied") },
			wantErr: new(*AccessDeniedError),
		},
		{
			name: "destination outside the configuration: validation error, nothing assumed",
			job: func() Job {
				j := testJob(prodID)
				j.Destination, j.Account = "999999999999/eu-west-1", "999999999999"
				return j
			}(),
			wantErr: new(*ValidationError),
		},
		{
			name:    "repository renamed outside the configuration: validation error",
			job:     func() Job { j := testJob(prodID); j.Repository = "elsewhere/app"; return j }(),
			wantErr: new(*ValidationError),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := newFakeECR(tt.job.Destination)
			roles := &fakeRoles{ecr: map[string]*fakeECR{tt.job.Destination: dst}}
			if tt.setup != nil {
				tt.setup(dst, roles)
			}
			log, logs := testLogger()
			out, err := NewEnsureRepository(log, testEnv(t), roles).Handle(context.Background(), Replication{Job: tt.job})
			assertNoSecrets(t, out, err, logs.String())
			if got := dst.Calls(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls %v, want %v", got, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("error %T %v, want %T", err, err, tt.wantErr)
				}
				if tt.job.Destination == "999999999999/eu-west-1" && len(roles.assumed) > 0 {
					t.Errorf("assumed %v for a destination outside the configuration", roles.assumed)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(roles.assumed) != 1 || roles.assumed[0].ExternalID != "ext-123" || roles.assumed[0].ARN != "arn:aws:iam::"+tt.job.Account+":role/ferry-replication" || roles.assumed[0].Access != ecr.AccessAdmin {
				t.Errorf("assumed %+v, want the destination role once with the external ID, in an admin session (create, tag, set up)", roles.assumed)
			}
			r := out.Repository
			if r == nil || r.Status != tt.wantStatus || !strings.Contains(r.Message, tt.wantMessage) || r.Name != tt.job.Repository || r.URI == "" {
				t.Fatalf("repository %+v, want status %q, message with %q", r, tt.wantStatus, tt.wantMessage)
			}
			repo := dst.repo(tt.job.Repository)
			if got := repo.tags[SettingsTag]; got != tt.wantMarker {
				t.Errorf("%s = %q, want %q", SettingsTag, got, tt.wantMarker)
			}
			s := testEnv(t).Config.Rules[0].Destinations[0].Settings
			applied := repo.lifecycle == s.LifecyclePolicy && repo.policy == s.RepositoryPolicy
			if applied != tt.wantApplied {
				t.Errorf("lifecycle %q, policy %q: applied %t, want %t", repo.lifecycle, repo.policy, applied, tt.wantApplied)
			}
			if tt.wantStatus == RepositoryCreated && tt.job.Destination == prodID {
				if repo.tags["environment"] != "production" || repo.repo.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable {
					t.Errorf("created with tags %v, mutability %s", repo.tags, repo.repo.ImageTagMutability)
				}
			}
		})
	}
}

// A setting that fails after CreateRepository is completed by the retry,
// whichever it was.
func TestEnsureRepositoryRetryCompletesSettings(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"PutLifecyclePolicy", "SetRepositoryPolicy", "TagResource"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			dst := newFakeECR(prodID).failNext(op, apiErr("ServerException"))
			roles := &fakeRoles{ecr: map[string]*fakeECR{prodID: dst}}
			log, logs := testLogger()
			step := NewEnsureRepository(log, testEnv(t), roles)
			in := Replication{Job: testJob(prodID)}

			_, err := step.Handle(context.Background(), in)
			var re *RetryableError
			if !errors.As(err, &re) {
				t.Fatalf("first attempt: %v, want a RetryableError (the ASL retries it)", err)
			}
			if got := dst.repo("team/app").tags[SettingsTag]; got != SettingsPending {
				t.Fatalf("after the failed attempt %s = %q, want %q", SettingsTag, got, SettingsPending)
			}

			out, err := step.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			repo := dst.repo("team/app")
			s := testEnv(t).Config.Rules[0].Destinations[0].Settings
			if repo.lifecycle != s.LifecyclePolicy || repo.policy != s.RepositoryPolicy || repo.tags[SettingsTag] != SettingsApplied {
				t.Errorf("after the retry: lifecycle %q, policy %q, tags %v; want every setting and %s=%s",
					repo.lifecycle, repo.policy, repo.tags, SettingsTag, SettingsApplied)
			}
			if out.Repository.Status != RepositoryExisting || !strings.Contains(out.Repository.Message, "settings now complete") {
				t.Errorf("retry reported %+v", out.Repository)
			}
			assertNoSecrets(t, out, logs.String())
		})
	}
}
