// Package ecr builds the AWS clients Ferry's Lambdas use — ECR in the source
// and destination registries, STS, SNS, Step Functions and Secrets Manager —
// behind small interfaces with the SDK's own method signatures, and caches
// the destination role sessions and registry tokens they need.
//
// Endpoints are the SDK defaults in AWS. Where FERRY_AWS_ENDPOINTS is set
// (the local runner sets it) each client's BaseEndpoint comes from it: the
// same code path, with a different address.
package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-dev/ferry/internal/credentials"
)

// EnvEndpoints is the environment variable holding the endpoint overrides.
const EnvEndpoints = "FERRY_AWS_ENDPOINTS"

// API is the part of the ECR client Ferry uses.
type API interface {
	DescribeImages(ctx context.Context, in *awsecr.DescribeImagesInput, optFns ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error)
	DescribeRepositories(ctx context.Context, in *awsecr.DescribeRepositoriesInput, optFns ...func(*awsecr.Options)) (*awsecr.DescribeRepositoriesOutput, error)
	CreateRepository(ctx context.Context, in *awsecr.CreateRepositoryInput, optFns ...func(*awsecr.Options)) (*awsecr.CreateRepositoryOutput, error)
	PutLifecyclePolicy(ctx context.Context, in *awsecr.PutLifecyclePolicyInput, optFns ...func(*awsecr.Options)) (*awsecr.PutLifecyclePolicyOutput, error)
	SetRepositoryPolicy(ctx context.Context, in *awsecr.SetRepositoryPolicyInput, optFns ...func(*awsecr.Options)) (*awsecr.SetRepositoryPolicyOutput, error)
	GetAuthorizationToken(ctx context.Context, in *awsecr.GetAuthorizationTokenInput, optFns ...func(*awsecr.Options)) (*awsecr.GetAuthorizationTokenOutput, error)
	TagResource(ctx context.Context, in *awsecr.TagResourceInput, optFns ...func(*awsecr.Options)) (*awsecr.TagResourceOutput, error)
	ListTagsForResource(ctx context.Context, in *awsecr.ListTagsForResourceInput, optFns ...func(*awsecr.Options)) (*awsecr.ListTagsForResourceOutput, error)
	BatchDeleteImage(ctx context.Context, in *awsecr.BatchDeleteImageInput, optFns ...func(*awsecr.Options)) (*awsecr.BatchDeleteImageOutput, error)
}

// STSAPI is the part of the STS client Ferry uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// SNSAPI is the part of the SNS client Ferry uses.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SFNAPI is the part of the Step Functions client Ferry uses.
type SFNAPI interface {
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// S3API is the part of the S3 client Ferry uses (the reconcile's bucket).
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// SecretsAPI is the part of the Secrets Manager client Ferry uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var (
	_ API        = (*awsecr.Client)(nil)
	_ STSAPI     = (*sts.Client)(nil)
	_ SNSAPI     = (*sns.Client)(nil)
	_ SFNAPI     = (*sfn.Client)(nil)
	_ SecretsAPI = (*secretsmanager.Client)(nil)
	_ S3API      = (*s3.Client)(nil)
)

// Endpoints overrides service endpoints; empty fields mean the SDK default.
type Endpoints struct {
	STS            string            `json:"sts,omitempty"`
	ECR            map[string]string `json:"ecr,omitempty"` // "account/region" -> URL
	SNS            string            `json:"sns,omitempty"`
	SFN            string            `json:"sfn,omitempty"`
	SecretsManager string            `json:"secretsmanager,omitempty"`
	S3             string            `json:"s3,omitempty"` // path-style
	KMS            string            `json:"kms,omitempty"`
	// Registries are the data-plane hosts (host:port) of local stand-in
	// registries by "account/region", as ferry emulator writes them, for
	// pushing with crane or docker. The AWS clients do not use them: ECR's
	// GetAuthorizationToken names each registry's host.
	Registries map[string]string `json:"registries,omitempty"`
}

// ParseEndpoints reads endpoint overrides, the JSON FERRY_AWS_ENDPOINTS
// holds; "" is no override. Errors do not say where s came from: the
// caller does.
func ParseEndpoints(s string) (Endpoints, error) {
	var e Endpoints
	if strings.TrimSpace(s) == "" {
		return e, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not endpoint JSON ({\"sts\": URL, \"ecr\": {\"ACCOUNT/REGION\": URL}}): %w", err)
	}
	for k, v := range e.ECR {
		if _, err := url.Parse(v); err != nil || !strings.Contains(k, "/") {
			return e, fmt.Errorf("ecr endpoint %q=%q: want \"account/region\": URL", k, v)
		}
	}
	return e, nil
}

// Clients builds AWS clients from one base configuration (the function's own
// credentials and region) and Endpoints. It caches assumed-role credentials
// per role, so a warm Lambda assumes each destination role once.
type Clients struct {
	cfg       aws.Config
	endpoints Endpoints
	sts       STSAPI

	mu      sync.Mutex
	roles   map[string]*aws.CredentialsCache // role ARN + external ID -> cache
	clients map[string]*awsecr.Client        // account/region (+ role key) -> client
}

// NewClients returns Clients for cfg and endpoints.
func NewClients(cfg aws.Config, endpoints Endpoints) *Clients {
	c := &Clients{cfg: cfg, endpoints: endpoints, roles: map[string]*aws.CredentialsCache{}, clients: map[string]*awsecr.Client{}}
	c.sts = sts.NewFromConfig(cfg, func(o *sts.Options) { setEndpoint(&o.BaseEndpoint, endpoints.STS) })
	return c
}

// WithSTS replaces the STS client (tests).
func (c *Clients) WithSTS(s STSAPI) *Clients { c.sts = s; return c }

// STS returns the STS client.
func (c *Clients) STS() STSAPI { return c.sts }

// ECR returns an ECR client for account's registry in region, with the
// function's own credentials (the source registry). Clients are made once
// and shared: each has its own connection pool, so one per call would open
// (and keep) a connection per call.
func (c *Clients) ECR(account, region string) API {
	return c.shared(account+"/"+region, func() *awsecr.Client { return c.ecr(account, region, nil) })
}

func (c *Clients) shared(key string, build func() *awsecr.Client) *awsecr.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[key]
	if !ok {
		cl = build()
		c.clients[key] = cl
	}
	return cl
}

func (c *Clients) ecr(account, region string, creds aws.CredentialsProvider) *awsecr.Client {
	return awsecr.NewFromConfig(c.cfg, func(o *awsecr.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
		setEndpoint(&o.BaseEndpoint, c.endpoints.ECR[account+"/"+region])
	})
}

// SNS returns an SNS client.
func (c *Clients) SNS() SNSAPI {
	return sns.NewFromConfig(c.cfg, func(o *sns.Options) { setEndpoint(&o.BaseEndpoint, c.endpoints.SNS) })
}

// SFN returns a Step Functions client.
func (c *Clients) SFN() SFNAPI {
	return sfn.NewFromConfig(c.cfg, func(o *sfn.Options) { setEndpoint(&o.BaseEndpoint, c.endpoints.SFN) })
}

// S3 returns an S3 client (path-style addressing when the endpoint is
// overridden, as local stand-ins serve one host).
func (c *Clients) S3() S3API {
	return s3.NewFromConfig(c.cfg, func(o *s3.Options) {
		if c.endpoints.S3 != "" {
			o.BaseEndpoint = aws.String(c.endpoints.S3)
			o.UsePathStyle = true
			// Stand-ins take a plain body, not aws-chunked with trailing
			// checksums.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
}

// KMS returns a KMS client (the signature gate's KMS keys: each call sets
// the key's region).
func (c *Clients) KMS() *kms.Client {
	return kms.NewFromConfig(c.cfg, func(o *kms.Options) { setEndpoint(&o.BaseEndpoint, c.endpoints.KMS) })
}

// Secrets returns a Secrets Manager client.
func (c *Clients) Secrets() SecretsAPI {
	return secretsmanager.NewFromConfig(c.cfg, func(o *secretsmanager.Options) {
		setEndpoint(&o.BaseEndpoint, c.endpoints.SecretsManager)
	})
}

func setEndpoint(dst **string, v string) {
	if v != "" {
		*dst = aws.String(v)
	}
}

// Role is a destination role to assume.
type Role struct {
	ARN        string
	ExternalID string
	Session    string // role session name, 2-64 characters of [\w+=,.@-]
	// Access is the session tag TagAccess to assume it with: AccessRead,
	// AccessWrite or AccessAdmin. The destination role's trust lets each
	// function assume it only with its own value; it pushes images only in
	// AccessWrite sessions, and creates, tags and sets up repositories only
	// in AccessAdmin sessions.
	Access string
}

// SettingsTag is the resource tag with which Ferry marks a repository it
// created: SettingsPending from CreateRepository until every configured
// setting is in place, then SettingsApplied. The destination role may set
// policies and tags only on a repository still marked pending.
const (
	SettingsTag     = "ferry:settings"
	SettingsPending = "pending"
	SettingsApplied = "applied"
)

// The session tag with which Ferry's functions assume destination roles.
// The values are a contract with the access stacks' trust and role
// policies (guarded in infra/stacks by TestDestinationTrust, TestAdminTrust
// and TestAdminOnly): a new value needs the access stacks redeployed.
const (
	TagAccess   = "ferry-access"
	AccessRead  = "read"  // AssumeRole, Verify, Discover: look, never write
	AccessWrite = "write" // CopyImage: push images and remove tags
	AccessAdmin = "admin" // EnsureRepository: create, tag and set up repositories
)

// Assume assumes role now (no cache) and returns its credentials. It is
// what the AssumeRole step calls to prove the role can be assumed.
func (c *Clients) Assume(ctx context.Context, role Role) (aws.Credentials, error) {
	return c.provider(role).Retrieve(ctx)
}

// DestinationECR returns an ECR client for account's registry in region
// that signs with role's credentials, assumed once and cached until shortly
// before they expire.
func (c *Clients) DestinationECR(ctx context.Context, account, region string, role Role) (API, error) {
	p := c.cached(role)
	if _, err := p.Retrieve(ctx); err != nil {
		return nil, err
	}
	key := account + "/" + region + "\x00" + role.ARN + "\x00" + role.ExternalID + "\x00" + role.Access
	return c.shared(key, func() *awsecr.Client { return c.ecr(account, region, p) }), nil
}

func (c *Clients) cached(role Role) *aws.CredentialsCache {
	key := role.ARN + "\x00" + role.ExternalID + "\x00" + role.Access
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.roles[key]
	if !ok {
		p = aws.NewCredentialsCache(c.provider(role), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
		c.roles[key] = p
	}
	return p
}

func (c *Clients) provider(role Role) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		in := &sts.AssumeRoleInput{
			RoleArn:         aws.String(role.ARN),
			RoleSessionName: aws.String(role.Session),
			ExternalId:      nonEmpty(role.ExternalID),
			DurationSeconds: aws.Int32(900),
		}
		if role.Access != "" {
			in.Tags = []ststypes.Tag{{Key: aws.String(TagAccess), Value: aws.String(role.Access)}}
		}
		out, err := c.sts.AssumeRole(ctx, in)
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("assume role %s: %w", role.ARN, err)
		}
		cr := out.Credentials
		if cr == nil {
			return aws.Credentials{}, fmt.Errorf("assume role %s: no credentials in the answer", role.ARN)
		}
		return aws.Credentials{
			AccessKeyID:     aws.ToString(cr.AccessKeyId),
			SecretAccessKey: aws.ToString(cr.SecretAccessKey),
			SessionToken:    aws.ToString(cr.SessionToken),
			Source:          "ferry:AssumeRole",
			CanExpire:       cr.Expiration != nil,
			Expires:         aws.ToTime(cr.Expiration),
		}, nil
	})
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// Registry is how to reach one registry's data plane.
type Registry struct {
	Host       string                 // host[:port] of image references
	Credential credentials.Credential // AWS:<token>
	PlainHTTP  bool                   // the proxy endpoint is http:// (local stand-ins only)
}

// Authenticator is the registry's credential for go-containerregistry.
func (r Registry) Authenticator() authn.Authenticator {
	return &authn.Basic{Username: r.Credential.Username, Password: r.Credential.Password}
}

// ErrNoToken means GetAuthorizationToken answered without a usable token.
var ErrNoToken = errors.New("no authorization token in the answer")

// Login gets a registry token with GetAuthorizationToken. The host and
// scheme come from the proxy endpoint ECR returns, so the same code reaches
// <account>.dkr.ecr.<region>.amazonaws.com in AWS and a local stand-in.
func Login(ctx context.Context, api API, account string) (Registry, error) {
	out, err := api.GetAuthorizationToken(ctx, &awsecr.GetAuthorizationTokenInput{})
	if err != nil {
		return Registry{}, fmt.Errorf("get authorization token for registry %s: %w", account, err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return Registry{}, fmt.Errorf("get authorization token for registry %s: %w", account, ErrNoToken)
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		return Registry{}, fmt.Errorf("get authorization token for registry %s: %w", account, ErrNoToken)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return Registry{}, fmt.Errorf("get authorization token for registry %s: %w", account, ErrNoToken)
	}
	u, err := url.Parse(aws.ToString(ad.ProxyEndpoint))
	if err != nil || u.Host == "" {
		return Registry{}, fmt.Errorf("get authorization token for registry %s: proxy endpoint %q is not a URL", account, aws.ToString(ad.ProxyEndpoint))
	}
	return Registry{
		Host:       u.Host,
		Credential: credentials.Credential{Username: user, Password: pass},
		PlainHTTP:  u.Scheme == "http",
	}, nil
}
