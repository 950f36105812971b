// Package emulator is Ferry's local stand-in for Amazon ECR and AWS STS: it
// speaks the real wire protocols, so Ferry's Lambdas (aws-sdk-go-v2 ECR and
// STS clients with a BaseEndpoint) and its copy engine (the OCI distribution
// API with basic auth "AWS:<token>") run against it unchanged, in tests and
// in `make demo`, with no AWS account.
//
// One Emulator serves one STS endpoint and any number of registries, one per
// account and region (AddRegistry). Each Registry has two endpoints on
// 127.0.0.1: the ECR control plane (AWS JSON 1.1, ECREndpoint) and an OCI
// registry (go-containerregistry's pkg/registry handler with on-disk blobs
// and the referrers API, Host).
//
// # What is faithful
//
// ECR operations CreateRepository, DescribeRepositories, PutLifecyclePolicy,
// GetLifecyclePolicy, SetRepositoryPolicy, GetRepositoryPolicy,
// GetAuthorizationToken, BatchGetImage, DescribeImages, PutImage, TagResource
// and ListTagsForResource take and return the shapes of the ECR API
// Reference, with its error codes ("__type"), messages and HTTP statuses:
// RepositoryNotFoundException, RepositoryAlreadyExistsException,
// ImageNotFoundException, ImageAlreadyExistsException,
// ImageTagAlreadyExistsException, InvalidParameterException (repository
// name regex and length, enum values), InvalidTagParameterException,
// TooManyTagsException, LifecyclePolicyNotFoundException, and, by
// injection, ThrottlingException and ServerException. BatchGetImage reports
// per-image failures (ImageNotFound, MissingDigestAndTag,
// ImageTagDoesNotMatchDigest, InvalidImageDigest) in "failures" as ECR does.
// The data plane's rules are described in dataplane.go; STS's in sts.go.
//
// Every request must be SigV4-signed (an Authorization header with a
// credential scope for the right service and region). Signatures are not
// verified.
//
// # What is not
//
//   - repositoryUri is <Host()>/<name>, not
//     <account>.dkr.ecr.<region>.amazonaws.com/<name>, and proxyEndpoint is
//     http://<Host()>: clients use what ECR returns, so they reach the
//     emulator with no local-only code path.
//   - A registry serves only its own account: a registryId naming another
//     account is AccessDeniedException (no cross-account repository policies).
//   - Repository policies and lifecycle policies are stored and returned,
//     checked only for JSON shape, and never enforced or evaluated; scanning
//     and KMS encryption settings are recorded only.
//   - Pagination (maxResults/nextToken) is not implemented: every result is
//     returned in one page.
//   - imageSizeInBytes is the sum of the image's layer sizes from its
//     manifest (an index: the sum of its children), close to but not exactly
//     ECR's figure.
//   - There is no rate limiting except injected faults (InjectFault).
//
// The request log (Calls) records every ECR, STS and registry call by
// operation, account, region, repository, status and error code, never a
// token, key or body.
package emulator
