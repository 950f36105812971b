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
// GetAuthorizationToken, BatchGetImage, BatchDeleteImage, DescribeImages,
// ListImages, PutImage, UpdateImageStorageClass, TagResource and
// ListTagsForResource take and return the shapes of the ECR API Reference,
// with its error codes ("__type"), messages and HTTP statuses:
// RepositoryNotFoundException, RepositoryAlreadyExistsException,
// ImageNotFoundException, ImageAlreadyExistsException,
// ImageTagAlreadyExistsException,
// ImageStorageClassUpdateNotSupportedException, InvalidParameterException
// (repository name regex and length, enum values, list lengths, paging,
// and the lifecycle and repository policies ECR refuses: policy.go),
// InvalidTagParameterException, TooManyTagsException,
// LifecyclePolicyNotFoundException, and, by injection, ThrottlingException
// and ServerException. BatchGetImage and BatchDeleteImage report per-image
// failures (ImageNotFound, MissingDigestAndTag, ImageTagDoesNotMatchDigest,
// InvalidImageDigest; for BatchDeleteImage also InvalidImageTag and
// ImageReferencedByManifestList) in "failures" as ECR does.
//
// DescribeRepositories, DescribeImages and ListImages page as ECR does:
// maxResults from 1 to 1000 (100 when absent) and an opaque nextToken, which
// the SDK's paginators follow. maxResults or nextToken together with
// repositoryNames (DescribeRepositories) or imageIds (DescribeImages) is an
// InvalidParameterException, as is a nextToken that is malformed, was issued
// by another operation, repository, filter or registry, or is stale.
// Repositories are listed by name, images by push time; a token resumes
// after the last item it listed, so items created while a caller pages are
// not listed twice and do not make others be skipped. DescribeImages and
// ListImages take filter.tagStatus (TAGGED, UNTAGGED, ANY; default ANY) and
// filter.imageStatus (ACTIVE, ARCHIVED, ACTIVATING, ANY; default ACTIVE, so
// archived images are left out unless asked for). ListImages returns one
// imageId per tag of a tagged image and one, digest only, per untagged
// image. DescribeImages reports imageStatus, subjectManifestDigest (for an
// OCI manifest or index with a subject), lastArchivedAt and lastActivatedAt.
//
// BatchDeleteImage's rules are described in delete.go: a tag alone removes
// the tag (and the image with its last tag), a digest deletes the image
// with all its tags, and the data plane answers 404 for what was removed at
// once, while blobs stay. The archive storage class is described in
// archive.go: UpdateImageStorageClass (and, for tests, Registry.ArchiveImage
// and RestoreImage) archives and restores; an archived image answers 404 on
// pull. The data plane's rules, including WithOpenPush's anonymous access
// and create-on-push, are described in dataplane.go; STS's in sts.go.
// Image scanning is described in scan.go: DescribeImageScanFindings
// answers from a findings file (WithScanFindings), or a complete scan with
// no findings, in the response shape of the API Reference and moto (paged
// at maxResults, ScanNotFoundException for an index);
// GetRegistryScanningConfiguration reports BASIC scan on push for every
// repository.
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
//   - Repository policies and lifecycle policies are checked when put, as
//     ECR documents its checks (internal/ecrpolicy; where moto does not copy
//     ECR's message, the message is the emulator's), then stored and
//     returned, and never enforced or evaluated: no lifecycle rule expires
//     or archives an image. Scanning and KMS encryption settings are
//     recorded only.
//   - nextTokens are the emulator's own (signed, and stale after 24 hours by
//     the emulator's clock; ECR documents no lifetime). The messages of
//     paging errors are the emulator's: the API Reference says which
//     parameters cannot be combined, not what ECR answers.
//   - Restoring an archived image is immediate: ECR takes up to 20 minutes
//     with imageStatus ACTIVATING, which the emulator never reports. While
//     archived, an image's blobs, tags/list and referrers stay readable (the
//     emulator enforces "cannot be pulled" on manifests only) and
//     BatchGetImage still returns its manifest. Moving an image to the
//     storage class it is in is ImageStorageClassUpdateNotSupportedException:
//     ECR lists the error for UpdateImageStorageClass without saying when.
//   - BatchDeleteImage with both imageTag and imageDigest removes only the
//     tag (the API Reference does not say); a tag outside the OCI grammar
//     is InvalidImageTag and a child of an index cannot be deleted
//     (ImageReferencedByManifestList) before the index, in request order:
//     the API Reference lists those codes without saying when.
//   - imageSizeInBytes is the sum of the image's layer sizes from its
//     manifest (an index: the sum of its children), close to but not exactly
//     ECR's figure.
//   - There is no rate limiting except injected faults (InjectFault).
//
// The request log (Calls) records every ECR, STS and registry call by
// operation, account, region, repository, status and error code, and for
// the data plane the method, the reference (tag, digest or upload session)
// and the response body's size; never a token, key or body.
package emulator
