package emulator

import (
	"slices"
	"strings"
)

// Wire shapes of ECR's repository operations (ECR API Reference).

type repositoryJSON struct {
	RepositoryArn              string                    `json:"repositoryArn"`
	RegistryID                 string                    `json:"registryId"`
	RepositoryName             string                    `json:"repositoryName"`
	RepositoryURI              string                    `json:"repositoryUri"`
	CreatedAt                  epoch                     `json:"createdAt"`
	ImageTagMutability         string                    `json:"imageTagMutability"`
	ImageScanningConfiguration scanningConfigurationJSON `json:"imageScanningConfiguration"`
	EncryptionConfiguration    encryptionJSON            `json:"encryptionConfiguration"`
}

type scanningConfigurationJSON struct {
	ScanOnPush bool `json:"scanOnPush"`
}

type encryptionJSON struct {
	EncryptionType string `json:"encryptionType"`
	KmsKey         string `json:"kmsKey,omitempty"`
}

func (r *Registry) createRepository(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName             string                     `json:"repositoryName"`
		ImageTagMutability         string                     `json:"imageTagMutability"`
		ImageScanningConfiguration *scanningConfigurationJSON `json:"imageScanningConfiguration"`
		EncryptionConfiguration    *encryptionJSON            `json:"encryptionConfiguration"`
		Tags                       []resourceTag              `json:"tags"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if !validRepositoryName(in.RepositoryName) {
		return nil, invalidParameter("repositoryName", "must satisfy regular expression '"+repositoryNamePattern+"'")
	}
	rp := newRepository(in.RepositoryName, r.em.now())
	switch in.ImageTagMutability {
	case "":
	case mutable, immutable:
		rp.mutability = in.ImageTagMutability
	case "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION":
		return nil, invalidParameter("imageTagMutability", "tag mutability exclusion filters are not supported by the emulator")
	default:
		return nil, badRequest(CodeInvalidParameter, "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: "+
			"must be one of 'MUTABLE', 'IMMUTABLE', 'MUTABLE_WITH_EXCLUSION', 'IMMUTABLE_WITH_EXCLUSION'")
	}
	if in.ImageScanningConfiguration != nil {
		rp.scanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	if ec := in.EncryptionConfiguration; ec != nil {
		switch ec.EncryptionType {
		case "AES256":
			if ec.KmsKey != "" {
				return nil, invalidParameter("encryptionConfiguration.kmsKey", "KMS key can only be specified with encryption type KMS or KMS_DSSE")
			}
		case "KMS", "KMS_DSSE":
			rp.kmsKey = ec.KmsKey
			if rp.kmsKey == "" {
				// ECR uses the AWS managed key aws/ecr when none is given.
				rp.kmsKey = "arn:aws:kms:" + r.region + ":" + r.account + ":alias/aws/ecr"
			}
		default:
			return nil, invalidParameter("encryptionConfiguration.encryptionType", "Member must satisfy enum value set: [KMS, AES256, KMS_DSSE]")
		}
		rp.encryptionType = ec.EncryptionType
	}
	if e := validateTags(in.Tags); e != nil {
		return nil, e
	}
	rp.setTags(in.Tags)

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.repos[rp.name]; ok {
		return nil, badRequest(CodeRepositoryAlreadyExists,
			"The repository with name '%s' already exists in the registry with id '%s'", rp.name, r.account)
	}
	r.repos[rp.name] = rp
	return map[string]any{"repository": r.repositoryJSONLocked(rp)}, nil
}

// repositoryJSONLocked renders a repository; the caller holds r.mu.
//
// repositoryUri: ECR answers <account>.dkr.ecr.<region>.amazonaws.com/<name>;
// the emulator answers <Host()>/<name> instead, so that code building image
// references from repositoryUri (as Ferry's copy engine does) reaches this
// data plane with no local-only mapping.
func (r *Registry) repositoryJSONLocked(rp *repository) repositoryJSON {
	host := ""
	if r.dataServer != nil {
		host = r.dataServer.addr
	}
	j := repositoryJSON{
		RepositoryArn:              r.repositoryARN(rp.name),
		RegistryID:                 r.account,
		RepositoryName:             rp.name,
		RepositoryURI:              host + "/" + rp.name,
		CreatedAt:                  epoch(rp.createdAt),
		ImageTagMutability:         rp.mutability,
		ImageScanningConfiguration: scanningConfigurationJSON{ScanOnPush: rp.scanOnPush},
		EncryptionConfiguration:    encryptionJSON{EncryptionType: rp.encryptionType, KmsKey: rp.kmsKey},
	}
	return j
}

func validateTags(tags []resourceTag) *APIError {
	if len(tags) > 50 {
		return badRequest(CodeTooManyTags, "Resource can have a maximum of 50 tags")
	}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return badRequest(CodeInvalidTagParameter,
				"Tag keys must be 1 to 128 characters and not start with 'aws:'; tag values must be at most 256 characters")
		}
	}
	return nil
}

func (r *Registry) describeRepositories(body []byte) (any, *APIError) {
	var in struct {
		RepositoryNames []string `json:"repositoryNames"`
		MaxResults      *int     `json:"maxResults"`
		NextToken       *string  `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if len(in.RepositoryNames) > 100 {
		return nil, invalidParameter("repositoryNames", "Member must have length less than or equal to 100")
	}
	if len(in.RepositoryNames) > 0 && (in.MaxResults != nil || in.NextToken != nil) {
		// "This option cannot be used when you specify repositories with
		// repositoryNames." (API Reference, DescribeRepositories)
		return nil, invalidParameter("maxResults",
			"maxResults and nextToken cannot be specified together with repositoryNames")
	}
	pg, e := r.parsePaging("DescribeRepositories", "", in.MaxResults, in.NextToken)
	if e != nil {
		return nil, e
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []repositoryJSON{}
	if len(in.RepositoryNames) == 0 {
		names := make([]string, 0, len(r.repos))
		for n := range r.repos {
			names = append(names, n)
		}
		slices.Sort(names)
		lo, hi, next := pg.page(names)
		for _, n := range names[lo:hi] {
			out = append(out, r.repositoryJSONLocked(r.repos[n]))
		}
		return describeRepositoriesOutput{Repositories: out, NextToken: next}, nil
	}
	for _, n := range in.RepositoryNames {
		rp, ok := r.repos[n]
		if !ok {
			return nil, repositoryNotFound(n, r.account)
		}
		out = append(out, r.repositoryJSONLocked(rp))
	}
	return describeRepositoriesOutput{Repositories: out}, nil
}

type describeRepositoriesOutput struct {
	Repositories []repositoryJSON `json:"repositories"`
	NextToken    *string          `json:"nextToken,omitempty"`
}

// withRepo runs f on the named repository under r.mu, or fails with
// RepositoryNotFoundException.
func (r *Registry) withRepo(name string, f func(rp *repository) (any, *APIError)) (any, *APIError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.repos[name]
	if !ok {
		return nil, repositoryNotFound(name, r.account)
	}
	return f(rp)
}

func (r *Registry) putLifecyclePolicy(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName      string `json:"repositoryName"`
		LifecyclePolicyText string `json:"lifecyclePolicyText"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if e := lifecyclePolicyRefusal(in.LifecyclePolicyText); e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		rp.lifecyclePolicy = in.LifecyclePolicyText
		return map[string]any{
			"registryId":          r.account,
			"repositoryName":      rp.name,
			"lifecyclePolicyText": rp.lifecyclePolicy,
		}, nil
	})
}

func (r *Registry) getLifecyclePolicy(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		if rp.lifecyclePolicy == "" {
			return nil, badRequest(CodeLifecyclePolicyNotFound,
				"Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", rp.name, r.account)
		}
		return map[string]any{
			"registryId":          r.account,
			"repositoryName":      rp.name,
			"lifecyclePolicyText": rp.lifecyclePolicy,
			"lastEvaluatedAt":     epoch(rp.createdAt),
		}, nil
	})
}

func (r *Registry) setRepositoryPolicy(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
		PolicyText     string `json:"policyText"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if e := repositoryPolicyRefusal(in.PolicyText); e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		rp.policy = in.PolicyText
		return map[string]any{"registryId": r.account, "repositoryName": rp.name, "policyText": rp.policy}, nil
	})
}

func (r *Registry) getRepositoryPolicy(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string `json:"repositoryName"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	return r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		if rp.policy == "" {
			return nil, badRequest(CodeRepositoryPolicyNotFound,
				"Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", rp.name, r.account)
		}
		return map[string]any{"registryId": r.account, "repositoryName": rp.name, "policyText": rp.policy}, nil
	})
}

// repoFromARN resolves an ECR repository ARN of this registry.
func (r *Registry) repoFromARN(arn string) (string, *APIError) {
	prefix := "arn:aws:ecr:" + r.region + ":" + r.account + ":repository/"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || !validRepositoryName(name) {
		return "", invalidParameter("resourceArn", "Invalid ARN")
	}
	return name, nil
}

func (r *Registry) tagResource(body []byte) (any, *APIError) {
	var in struct {
		ResourceArn string        `json:"resourceArn"`
		Tags        []resourceTag `json:"tags"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	name, e := r.repoFromARN(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	if e := validateTags(in.Tags); e != nil {
		return nil, e
	}
	return r.withRepo(name, func(rp *repository) (any, *APIError) {
		merged := &repository{tags: append([]resourceTag(nil), rp.tags...)}
		merged.setTags(in.Tags)
		if len(merged.tags) > 50 {
			return nil, badRequest(CodeTooManyTags, "Resource can have a maximum of 50 tags")
		}
		rp.tags = merged.tags
		return map[string]any{}, nil
	})
}

func (r *Registry) listTagsForResource(body []byte) (any, *APIError) {
	var in struct {
		ResourceArn string `json:"resourceArn"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	name, e := r.repoFromARN(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	return r.withRepo(name, func(rp *repository) (any, *APIError) {
		return map[string]any{"tags": append([]resourceTag{}, rp.tags...)}, nil
	})
}
