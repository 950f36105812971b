package emulator_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// TestPolicyRefusals: PutLifecyclePolicy and SetRepositoryPolicy refuse
// what ECR refuses, with InvalidParameterException, and keep the policy
// the repository had; they take what ECR takes, warnings included.
func TestPolicyRefusals(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region)
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "app", "")
	ctx := t.Context()

	const keptLifecycle = `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`
	const keptPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:BatchGetImage"}]}`
	tests := []struct {
		name      string
		lifecycle string // or policy
		policy    string
		wantMsg   string // "" for success
	}{
		// The four examples.
		{name: "rule without action", lifecycle: `{"rules":[{"rulePriority":1,"description":"no action","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10}}]}`,
			wantMsg: `Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: object has missing required properties (["action"])'`},
		{name: "tagged without tagPrefixList", lifecycle: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`,
			wantMsg: `Lifecycle policy validation failure: object has missing required properties (["tagPatternList"])`},
		{name: "sinceImagePushed without countUnit", lifecycle: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":7},"action":{"type":"expire"}}]}`,
			wantMsg: `Lifecycle policy validation failure: object has missing required properties (["countUnit"])`},
		{name: "empty Statement", policy: `{"Version":"2012-10-17","Statement":[]}`,
			wantMsg: `Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'`},
		{name: "statement without Principal", policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:BatchGetImage"}]}`,
			wantMsg: "Invalid repository policy provided"},

		// Others.
		{name: "every missing key at once", lifecycle: `{"rules":[{"description":"nothing but a description, long enough for the 100 characters ECR asks a lifecycle policy to have"}]}`,
			wantMsg: `object has missing required properties (["action","rulePriority","selection"])`},
		{name: "any rule not last", lifecycle: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}},` +
			`{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`,
			wantMsg: `Lifecycle policy validation failure: rules[0].rulePriority: is 1, but a rule with tagStatus "any" must have the highest rulePriority`},
		{name: "too short", lifecycle: `{"rules":[]}`,
			wantMsg: "Invalid parameter at 'lifecyclePolicyText' failed to satisfy constraint: 'Member must have length between 100 and 30720'"},
		{name: "not JSON", lifecycle: `{"rules": [` + strings.Repeat(" ", 100),
			wantMsg: "Lifecycle policy validation failure: Could not map policyString into LifecyclePolicy."},
		{name: "policy too long", policy: keptPolicy + strings.Repeat(" ", 10240),
			wantMsg: "Invalid parameter at 'policyText' failed to satisfy constraint: 'Member must have length less than or equal to 10240'"},
		{name: "a Resource", policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`,
			wantMsg: "Invalid repository policy provided"},

		// Taken: the archive storage class, and what config validate only warns about.
		{name: "archive, then expire", lifecycle: `{"rules":[` +
			`{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}},` +
			`{"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}`},
		{name: "everyone may pull", policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`},
		{name: "repeated Sids, no Version", policy: `{"Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"1"},"Action":"ecr:ListImages"},{"Sid":"a","Effect":"Deny","Principal":{"AWS":"2"},"Action":"ecr:*"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: each case starts from the kept policies.
			if _, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(keptLifecycle)}); err != nil {
				t.Fatalf("PutLifecyclePolicy (kept): %v", err)
			}
			if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String(keptPolicy)}); err != nil {
				t.Fatalf("SetRepositoryPolicy (kept): %v", err)
			}
			var err error
			if tt.lifecycle != "" {
				_, err = c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("app"), LifecyclePolicyText: aws.String(tt.lifecycle)})
			} else {
				_, err = c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String(tt.policy)})
			}
			wantLifecycle, wantPolicy := keptLifecycle, keptPolicy
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v; ECR takes this", err)
				}
				if tt.lifecycle != "" {
					wantLifecycle = tt.lifecycle
				} else {
					wantPolicy = tt.policy
				}
			} else {
				var ip *types.InvalidParameterException
				if !errors.As(err, &ip) {
					t.Fatalf("error = %v, want InvalidParameterException", err)
				}
				if _, status := apiErr(t, err); status != http.StatusBadRequest {
					t.Errorf("HTTP status = %d, want 400", status)
				}
				if !strings.Contains(ip.ErrorMessage(), tt.wantMsg) {
					t.Errorf("message = %q\nwant it to contain %q", ip.ErrorMessage(), tt.wantMsg)
				}
			}
			lc, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("app")})
			if err != nil || aws.ToString(lc.LifecyclePolicyText) != wantLifecycle {
				t.Errorf("lifecycle policy afterwards = %v, %v; want %s", lc, err, wantLifecycle)
			}
			rp, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("app")})
			if err != nil || aws.ToString(rp.PolicyText) != wantPolicy {
				t.Errorf("repository policy afterwards = %v, %v; want %s", rp, err, wantPolicy)
			}
		})
	}
}
