package emulator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/emulator"
)

// The conformance test runs every ECR and STS call Ferry makes through the
// same SDK client code against moto (the reference implementation the
// project calibrates against) and against the emulator, and compares error
// codes, HTTP statuses and response shapes (which output fields are set).
//
// Batch operations answer 200 with per-image failures, so for them (and
// for ListImages) the failure codes and the image IDs returned, by tag, are
// compared too (facts).
//
// Where moto departs from the ECR API Reference the emulator follows the
// reference; each such departure is listed in motoDepartures and asserted to
// still occur, so the list shrinks when moto is fixed. Where the reference
// does not say and the emulator chose otherwise than moto, the difference is
// listed there too, saying so.

const (
	motoVersion = "5.2.1"
	motoAccount = "123456789012" // moto's default account
	motoRegion  = "us-east-1"
)

// result is one call's observable outcome.
type result struct {
	code   string   // smithy ErrorCode(), "" on success
	msg    string   // smithy ErrorMessage()
	status int      // HTTP status of the error, 0 on success
	shape  []string // output fields set, on success
	facts  []string // batch operations and ListImages: see facts
	out    any
}

// target is one implementation under test.
type target struct {
	name string
	ecr  *ecr.Client
	sts  *sts.Client
	// seedBlobs makes an image's blobs present in a repository before
	// PutImage. moto has no data plane and checks no layers; ECR and the
	// emulator require them.
	seedBlobs func(t *testing.T, repo string, img v1.Image)
}

// step is one call of the sequence.
type step struct {
	name string
	call func(ctx context.Context, tg *target) (any, error)
}

// departure is a known difference between moto and the ECR API Reference.
type departure struct {
	step string
	// what differs, and how: checked against moto's and the emulator's results.
	describe string
	check    func(moto, emu result) bool
}

var motoDepartures = []departure{
	{
		step:     "PutImage to a missing repository",
		describe: "moto fails with HTTP 500 and an HTML page; ECR (and the emulator) answer RepositoryNotFoundException, 400",
		check: func(m, e result) bool {
			return m.status == 500 && m.code == "(not an API error)" && e.code == "RepositoryNotFoundException" && e.status == 400
		},
	},
	{
		step:     "PutImage overwriting an immutable tag",
		describe: "moto answers ImageAlreadyExistsException; ECR (and the emulator) answer ImageTagAlreadyExistsException",
		check: func(m, e result) bool {
			return m.code == "ImageAlreadyExistsException" && e.code == "ImageTagAlreadyExistsException"
		},
	},
	{
		step:     "PutImage v1",
		describe: "moto's image digest is not the sha256 of the manifest; the emulator's is, as in ECR",
		check: func(m, e result) bool {
			md := aws.ToString(m.out.(*ecr.PutImageOutput).Image.ImageId.ImageDigest)
			ed := aws.ToString(e.out.(*ecr.PutImageOutput).Image.ImageId.ImageDigest)
			return md != ed && ed == manifestDigest(aws.ToString(e.out.(*ecr.PutImageOutput).Image.ImageManifest))
		},
	},
	{
		step: "DescribeRepositories with repositoryNames and maxResults",
		describe: "moto ignores maxResults; ECR's API Reference says maxResults cannot be used with repositoryNames, " +
			"and the emulator answers InvalidParameterException, 400",
		check: func(m, e result) bool {
			return m.code == "" && e.code == "InvalidParameterException" && e.status == 400
		},
	},
	{
		step: "BatchDeleteImage with a tag and another image's digest",
		describe: "moto answers ImageNotFound; the emulator answers ImageTagDoesNotMatchDigest (ECR API Reference, " +
			"ImageFailure), as its BatchGetImage does, for a tag that points at another image",
		check: func(m, e result) bool {
			return slices.Equal(m.facts, []string{"failure ImageNotFound"}) &&
				slices.Equal(e.facts, []string{"failure ImageTagDoesNotMatchDigest"})
		},
	},
	{
		step: "BatchDeleteImage with a tag and its digest",
		describe: "the API Reference does not say what imageTag and imageDigest together delete: moto deletes the " +
			"image with all its tags, the emulator removes only the tag, as with imageTag alone (delete.go)",
		check: func(m, e result) bool {
			return slices.Equal(m.facts, []string{"deleted v2", "deleted v3"}) && slices.Equal(e.facts, []string{"deleted v3"})
		},
	},
	{
		step: "ListImages of the IMMUTABLE repository at the end",
		describe: "after \"BatchDeleteImage with a tag and its digest\", moto's repository is empty; the emulator's " +
			"image keeps its other tag, v2",
		check: func(m, e result) bool {
			return len(m.facts) == 0 && slices.Equal(e.facts, []string{"listed v2"})
		},
	},
	{
		step: "PutLifecyclePolicy tagged without a tag list",
		describe: "moto takes a tagged selection with neither tagPatternList nor tagPrefixList; ECR's lifecycle policy " +
			"properties require one, and the emulator answers InvalidParameterException, 400",
		check: refusedByEmulatorOnly,
	},
	{
		step: "PutLifecyclePolicy sinceImagePushed without countUnit",
		describe: "moto takes sinceImagePushed without countUnit; ECR's lifecycle policy properties require " +
			"\"countUnit\": \"days\" with it, and the emulator answers InvalidParameterException, 400",
		check: refusedByEmulatorOnly,
	},
	{
		step: "PutLifecyclePolicy with countUnit and imageCountMoreThan",
		describe: "moto takes countUnit with imageCountMoreThan; ECR's lifecycle policy properties say \"an error will " +
			"occur\", and the emulator answers InvalidParameterException, 400",
		check: refusedByEmulatorOnly,
	},
	{
		step: "PutLifecyclePolicy that archives",
		describe: "moto 5.2.1 predates the archive storage class and refuses the transition action and " +
			"sinceImagePulled; ECR documents both, and the emulator takes them",
		check: func(m, e result) bool { return m.code == "InvalidParameterException" && e.code == "" },
	},
	{
		step: "SetRepositoryPolicy without Principal",
		describe: "moto takes a statement with no Principal; IAM requires one in a resource-based policy, and the " +
			"emulator answers InvalidParameterException, 400",
		check: refusedByEmulatorOnly,
	},
	{
		step: "SetRepositoryPolicy with a Resource",
		describe: "moto takes a statement with a Resource; ECR refuses one (\"Invalid repository policy provided\": " +
			"awsdocs/amazon-ecr-user-guide#20, aws-cdk#3590), and so does the emulator",
		check: refusedByEmulatorOnly,
	},
	{
		step:     "AssumeRole with a wrong ExternalId",
		describe: "moto evaluates no trust policy and lets any role be assumed; the emulator checks AllowRole's external ID (AccessDenied, 403) as IAM does",
		check:    func(m, e result) bool { return m.code == "" && e.code == "AccessDenied" && e.status == 403 },
	},
}

// refusedByEmulatorOnly: moto took the call, the emulator answered
// InvalidParameterException, 400.
func refusedByEmulatorOnly(m, e result) bool {
	return m.code == "" && e.code == "InvalidParameterException" && e.status == 400
}

// shapeExceptions are output fields set by one side only ("<step>: <field>"),
// with why. Each is asserted to be observed.
var shapeExceptions = map[string]string{
	"AssumeRole: PackedPolicySize": "moto always sets PackedPolicySize; STS reports it for session policies " +
		"and tags, which Ferry does not pass and the emulator does not take",
	"DescribeImages: ImageDetails[].ArtifactMediaType": "ECR reports the config media type as artifactMediaType " +
		"(ECR API Reference, ImageDetail); moto leaves it out",
	"DescribeImages: ImageDetails[].ImageStatus": "ECR reports imageStatus (ACTIVE, ARCHIVED, ACTIVATING; ECR API " +
		"Reference, ImageDetail); moto 5.2.1 predates the archive storage class",
	"DescribeImages, a page of tagged images: ImageDetails[].ArtifactMediaType": "as for DescribeImages",
	"DescribeImages, a page of tagged images: ImageDetails[].ImageStatus":       "as for DescribeImages",

	"GetRegistryScanningConfiguration: ScanningConfiguration.Rules": "the emulator reports BASIC scan on push for " +
		"every repository (every image has a complete scan, or the findings file's), so a scan gate finds scanning on; " +
		"moto's registry starts with no rules",
	"GetRegistryScanningConfiguration: ScanningConfiguration.Rules[].RepositoryFilters":              "as for its Rules",
	"GetRegistryScanningConfiguration: ScanningConfiguration.Rules[].RepositoryFilters[].Filter":     "as for its Rules",
	"GetRegistryScanningConfiguration: ScanningConfiguration.Rules[].RepositoryFilters[].FilterType": "as for its Rules",
	"GetRegistryScanningConfiguration: ScanningConfiguration.Rules[].ScanFrequency":                  "as for its Rules",
}

func manifestDigest(m string) string {
	sum := sha256.Sum256([]byte(m))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// startMoto starts moto's server on a free port, or reports how to get it.
// It returns "" when moto is missing outside CI.
func startMoto(t *testing.T) string {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), "python3", "-c", "import moto.server; print(moto.__version__)").Output(); err != nil {
		msg := fmt.Sprintf("moto is not installed (%v); install it with: pip install 'moto[server]==%s'", err, motoVersion)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Log(msg + " — conformance against moto not checked")
		return ""
	} else if v := strings.TrimSpace(string(out)); v != motoVersion {
		t.Logf("moto %s found; the departures listed were checked with %s", v, motoVersion)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	var motoLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &motoLog, &motoLog
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=false")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("moto's output:\n%s", motoLog.String())
		}
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return endpoint
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not answer on %s within 20s: %v", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConformanceWithMoto(t *testing.T) {
	t.Parallel()
	motoEndpoint := startMoto(t)
	if motoEndpoint == "" {
		return
	}
	// The emulator's scan of the conformance image has the finding moto's
	// default scan has (moto 5.2.1's describe_image_scan_findings), so
	// that the shapes of their answers can be compared field by field.
	imgA, imgB := randomImage(t), randomImage(t)
	findings := filepath.Join(t.TempDir(), "findings.json")
	rawA, _ := imgA.RawManifest()
	writeFindings(t, findings, map[string]any{"conformance/app@" + manifestDigest(string(rawA)): map[string]any{
		"imageScanStatus": map[string]any{"status": "COMPLETE", "description": "The scan was completed successfully."},
		"imageScanFindings": map[string]any{
			"imageScanCompletedAt": 1700000000, "vulnerabilitySourceUpdatedAt": 1700000000,
			"findings": []any{map[string]any{"name": "CVE-9999-9999", "uri": "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-9999-9999",
				"severity": "HIGH", "attributes": []any{map[string]any{"key": "package_name", "value": "moto_fake"}}}},
		},
	}})
	em := newEmulator(t)
	reg := newRegistry(t, em, motoAccount, motoRegion, emulator.WithScanFindings(findings))
	if err := em.AllowRole(confRoleARN, "ferry-ext"); err != nil {
		t.Fatalf("AllowRole: %v", err)
	}
	emuECR := ecrClient(t, reg.ECREndpoint(), motoRegion)
	targets := []*target{
		{name: "moto", ecr: ecrClient(t, motoEndpoint, motoRegion), sts: stsClient(t, motoEndpoint, nil),
			seedBlobs: func(*testing.T, string, v1.Image) {}},
		{name: "emulator", ecr: emuECR, sts: stsClient(t, em.STSEndpoint(), nil),
			seedBlobs: func(t *testing.T, repo string, img v1.Image) { seedBlobs(t, reg.Host(), repo, img, login(t, emuECR)) }},
	}

	results := map[string]map[string]result{} // target -> step -> result
	for _, tg := range targets {
		results[tg.name] = map[string]result{}
		for _, s := range conformanceSteps(t, tg, imgA, imgB) {
			out, err := s.call(t.Context(), tg)
			r := result{out: out}
			if err != nil {
				r.code, r.status = outcome(err)
				var ae smithy.APIError
				if errors.As(err, &ae) {
					r.msg = ae.ErrorMessage()
				}
			} else {
				r.shape, r.facts = shape(out), facts(out)
			}
			results[tg.name][s.name] = r
		}
	}

	departed, seen := map[string]bool{}, map[string]bool{}
	for _, d := range motoDepartures {
		m, e := results["moto"][d.step], results["emulator"][d.step]
		if !d.check(m, e) {
			t.Errorf("listed departure no longer observed at %q (%s): moto %s/%d, emulator %s/%d — update motoDepartures",
				d.step, d.describe, m.code, m.status, e.code, e.status)
		}
		departed[d.step] = true
	}
	for _, s := range conformanceSteps(t, nil, imgA, imgB) {
		m, e := results["moto"][s.name], results["emulator"][s.name]
		if departed[s.name] {
			continue
		}
		if m.code != e.code || m.status != e.status {
			t.Errorf("%s: moto %q (HTTP %d), emulator %q (HTTP %d)", s.name, m.code, m.status, e.code, e.status)
			continue
		}
		t.Logf("%-45s moto %-35s emulator %s", s.name, orOK(m.code), orOK(e.code))
		if m.msg != e.msg && (sameMessage[m.code] || sameMessageSteps[s.name]) {
			t.Errorf("%s: message\n moto:     %q\n emulator: %q", s.name, m.msg, e.msg)
		}
		if !slices.Equal(m.facts, e.facts) {
			t.Errorf("%s: moto %v, emulator %v", s.name, m.facts, e.facts)
		}
		for _, f := range diff(m.shape, e.shape) {
			if _, ok := shapeExceptions[s.name+": "+f]; !ok {
				t.Errorf("%s: field %s set by moto, not by the emulator", s.name, f)
			}
			seen[s.name+": "+f] = true
		}
		for _, f := range diff(e.shape, m.shape) {
			if _, ok := shapeExceptions[s.name+": "+f]; !ok {
				t.Errorf("%s: field %s set by the emulator, not by moto", s.name, f)
			}
			seen[s.name+": "+f] = true
		}
	}
	for ex, why := range shapeExceptions {
		if !seen[ex] {
			t.Errorf("listed shape exception %q (%s) no longer observed — update shapeExceptions", ex, why)
		}
	}
}

// sameMessage lists the error codes whose messages moto copies from ECR
// verbatim; the emulator must match them word for word.
var sameMessage = map[string]bool{
	"RepositoryNotFoundException":      true,
	"RepositoryAlreadyExistsException": true,
	"ImageNotFoundException":           true,
	"LifecyclePolicyNotFoundException": true,
	"ImageAlreadyExistsException":      false, // digests differ (see motoDepartures)
}

// sameMessageSteps are the steps whose error message moto copies from ECR
// verbatim, though not every message of their code is.
var sameMessageSteps = map[string]bool{
	"PutLifecyclePolicy without action":                    true,
	"PutLifecyclePolicy with an unknown key":               true,
	"SetRepositoryPolicy with an empty Statement":          true,
	"SetRepositoryPolicy with an action without a service": true,
	"SetRepositoryPolicy with Effect allow":                true,
}

func orOK(code string) string {
	if code == "" {
		return "OK"
	}
	return code
}

const confRoleARN = "arn:aws:iam::123456789012:role/ferry-destination"

// conformanceSteps is every ECR and STS call Ferry makes, happy paths and
// documented errors. tg may be nil when only the names are needed.
func conformanceSteps(t *testing.T, tg *target, imgA, imgB v1.Image) []step {
	rawA, _ := imgA.RawManifest()
	rawB, _ := imgB.RawManifest()
	mt := string(ggcrtypes.DockerManifestSchema2)
	const repo, frozen = "conformance/app", "conformance/frozen"
	lifecycle := `{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`
	arn := "arn:aws:ecr:" + motoRegion + ":" + motoAccount + ":repository/" + repo
	// Each target's own digests of imgA and imgB (moto's are not the
	// manifests' sha256), from its PutImage answers.
	var digestA, digestB string
	putImage := func(ctx context.Context, tg *target, in *ecr.PutImageInput, digest *string) (any, error) {
		out, err := tg.ecr.PutImage(ctx, in)
		if err == nil && digest != nil {
			*digest = aws.ToString(out.Image.ImageId.ImageDigest)
		}
		return out, err
	}
	batchDelete := func(ctx context.Context, tg *target, repo string, ids ...types.ImageIdentifier) (any, error) {
		return tg.ecr.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: ids})
	}
	byTag := func(tag string) types.ImageIdentifier { return types.ImageIdentifier{ImageTag: aws.String(tag)} }
	putLifecycle := func(ctx context.Context, tg *target, text string) (any, error) {
		return tg.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(text)})
	}
	setPolicy := func(ctx context.Context, tg *target, text string) (any, error) {
		return tg.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(text)})
	}
	return []step{
		{"GetCallerIdentity", func(ctx context.Context, tg *target) (any, error) {
			return tg.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}},
		{"AssumeRole", func(ctx context.Context, tg *target) (any, error) {
			return tg.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(confRoleARN),
				RoleSessionName: aws.String("ferry-ensure"), ExternalId: aws.String("ferry-ext")})
		}},
		{"AssumeRole with a wrong ExternalId", func(ctx context.Context, tg *target) (any, error) {
			return tg.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(confRoleARN),
				RoleSessionName: aws.String("ferry-ensure"), ExternalId: aws.String("guess")})
		}},
		{"CreateRepository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo),
				ImageTagMutability:         types.ImageTagMutabilityMutable,
				ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
				EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256},
				Tags:                       []types.Tag{{Key: aws.String("managed-by"), Value: aws.String("ferry")}}})
		}},
		{"CreateRepository IMMUTABLE", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(frozen),
				ImageTagMutability: types.ImageTagMutabilityImmutable})
		}},
		{"CreateRepository that exists", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
		}},
		{"CreateRepository with an invalid name", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Team/App")})
		}},
		{"CreateRepository with an invalid mutability", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("conformance/odd"),
				ImageTagMutability: "SOMETIMES"})
		}},
		{"DescribeRepositories", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
		}},
		{"DescribeRepositories missing", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"conformance/missing"}})
		}},
		{"DescribeRepositories, one page", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(1000)})
		}},
		{"DescribeRepositories with repositoryNames and maxResults", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}, MaxResults: aws.Int32(10)})
		}},
		{"PutLifecyclePolicy", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(lifecycle)})
		}},
		{"PutLifecyclePolicy on a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("conformance/missing"), LifecyclePolicyText: aws.String(lifecycle)})
		}},
		{"GetLifecyclePolicy none set", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(frozen)})
		}},
		{"SetRepositoryPolicy", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(policy)})
		}},
		{"SetRepositoryPolicy on a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("conformance/missing"), PolicyText: aws.String(policy)})
		}},
		// Policies ECR refuses (or takes), after the valid ones above.
		{"PutLifecyclePolicy without action", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"description":"no action","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10}}]}`)
		}},
		{"PutLifecyclePolicy with an unknown key", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"},"enabled":true}]}`)
		}},
		{"PutLifecyclePolicy with countNumber 0", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0},"action":{"type":"expire"}}]}`)
		}},
		{"PutLifecyclePolicy tagged without a tag list", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}`)
		}},
		{"PutLifecyclePolicy sinceImagePushed without countUnit", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":7},"action":{"type":"expire"}}]}`)
		}},
		{"PutLifecyclePolicy with countUnit and imageCountMoreThan", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}`)
		}},
		{"PutLifecyclePolicy that archives", func(ctx context.Context, tg *target) (any, error) {
			return putLifecycle(ctx, tg, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":90},"action":{"type":"transition","targetStorageClass":"archive"}}]}`)
		}},
		{"SetRepositoryPolicy with an empty Statement", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[]}`)
		}},
		{"SetRepositoryPolicy without Principal", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:BatchGetImage"]}]}`)
		}},
		{"SetRepositoryPolicy with a Resource", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:BatchGetImage"],"Resource":"*"}]}`)
		}},
		{"SetRepositoryPolicy with Effect allow", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[{"Effect":"allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:BatchGetImage"]}]}`)
		}},
		{"SetRepositoryPolicy with an action without a service", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["BatchGetImage"]}]}`)
		}},
		{"SetRepositoryPolicy with repeated Sids", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:BatchGetImage"},`+
				`{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"ecr:GetDownloadUrlForLayer"}]}`)
		}},
		{"SetRepositoryPolicy without Version", func(ctx context.Context, tg *target) (any, error) {
			return setPolicy(ctx, tg, `{"Statement":[{"Sid":"ECR Repository Policy","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["ecr:DescribeImages"]}]}`)
		}},
		{"TagResource", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String(arn),
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}})
		}},
		{"ListTagsForResource", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		}},
		{"GetAuthorizationToken", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		}},
		{"PutImage v1", func(ctx context.Context, tg *target) (any, error) {
			tg.seedBlobs(t, repo, imgA)
			tg.seedBlobs(t, frozen, imgA)
			tg.seedBlobs(t, frozen, imgB)
			return putImage(ctx, tg, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(string(rawA)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")}, &digestA)
		}},
		{"PutImage unchanged", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(string(rawA)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")})
		}},
		{"PutImage to an IMMUTABLE repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(frozen), ImageManifest: aws.String(string(rawA)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")})
		}},
		{"PutImage overwriting an immutable tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(frozen), ImageManifest: aws.String(string(rawB)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")})
		}},
		{"PutImage to a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("conformance/missing"), ImageManifest: aws.String(string(rawA)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v1")})
		}},
		{"BatchGetImage", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
		}},
		// moto scans only after StartImageScan (the emulator has no
		// scanner: every image has a complete scan, as scan on push
		// gives), so moto is asked to scan first; the answers' shapes
		// must match.
		{"DescribeImageScanFindings", func(ctx context.Context, tg *target) (any, error) {
			if tg.name == "moto" {
				if _, err := tg.ecr.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String(repo), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}}); err != nil {
					return nil, err
				}
			}
			return tg.ecr.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
				ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
		}},
		{"DescribeImageScanFindings of a missing tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String(repo),
				ImageId: &types.ImageIdentifier{ImageTag: aws.String("v9")}})
		}},
		{"GetRegistryScanningConfiguration", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{})
		}},
		{"BatchGetImage of a missing tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v9")}}})
		}},
		{"BatchGetImage in a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("conformance/missing"),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
		}},
		{"DescribeImages", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
		}},
		{"DescribeImages of a missing tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v9")}}})
		}},
		{"DescribeImages in a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("conformance/missing")})
		}},
		{"DescribeImages, a page of tagged images", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(100),
				Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
		}},
		{"ListImages", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(100)})
		}},
		{"ListImages in a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("conformance/missing")})
		}},
		// BatchDeleteImage comes last: it changes what the steps above see.
		{"PutImage v2", func(ctx context.Context, tg *target) (any, error) {
			return putImage(ctx, tg, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(string(rawA)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v2")}, nil)
		}},
		{"BatchDeleteImage by tag", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, repo, byTag("v2"))
		}},
		{"BatchGetImage of a deleted tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{byTag("v2")}})
		}},
		{"BatchDeleteImage of a missing tag", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, repo, byTag("v9"))
		}},
		{"BatchDeleteImage with neither tag nor digest", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, repo, types.ImageIdentifier{})
		}},
		{"BatchDeleteImage of an invalid digest", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, repo, types.ImageIdentifier{ImageDigest: aws.String("sha256:xyz")})
		}},
		{"BatchDeleteImage by digest", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, repo, types.ImageIdentifier{ImageDigest: aws.String(digestA)})
		}},
		{"DescribeImages of a deleted tag", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo),
				ImageIds: []types.ImageIdentifier{byTag("v1")}})
		}},
		{"ListImages after BatchDeleteImage", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(repo)})
		}},
		{"PutImage v2 to the IMMUTABLE repository", func(ctx context.Context, tg *target) (any, error) {
			return putImage(ctx, tg, &ecr.PutImageInput{RepositoryName: aws.String(frozen), ImageManifest: aws.String(string(rawB)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v2")}, &digestB)
		}},
		{"BatchDeleteImage with a tag and another image's digest", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, frozen, types.ImageIdentifier{ImageTag: aws.String("v1"), ImageDigest: aws.String(digestB)})
		}},
		{"BatchDeleteImage of an immutable tag", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, frozen, byTag("v1"))
		}},
		{"PutImage v3 to the IMMUTABLE repository", func(ctx context.Context, tg *target) (any, error) {
			return putImage(ctx, tg, &ecr.PutImageInput{RepositoryName: aws.String(frozen), ImageManifest: aws.String(string(rawB)),
				ImageManifestMediaType: aws.String(mt), ImageTag: aws.String("v3")}, nil)
		}},
		{"BatchDeleteImage with a tag and its digest", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, frozen, types.ImageIdentifier{ImageTag: aws.String("v3"), ImageDigest: aws.String(digestB)})
		}},
		{"ListImages of the IMMUTABLE repository at the end", func(ctx context.Context, tg *target) (any, error) {
			return tg.ecr.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String(frozen)})
		}},
		{"BatchDeleteImage in a missing repository", func(ctx context.Context, tg *target) (any, error) {
			return batchDelete(ctx, tg, "conformance/missing", byTag("v1"))
		}},
	}
}

// seedBlobs uploads an image's config and layers to host/repo.
func seedBlobs(t *testing.T, host, repo string, img v1.Image, auth authn.Authenticator) {
	t.Helper()
	ref := repoRef(t, host, repo)
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers: %v", err)
	}
	cfg, _ := img.RawConfigFile()
	layers = append(layers, static.NewLayer(cfg, ggcrtypes.DockerConfigJSON))
	for _, l := range layers {
		if err := remote.WriteLayer(ref, l, remoteOpts(t.Context(), auth)...); err != nil {
			t.Fatalf("seed blob into %s: %v", repo, err)
		}
	}
}

// facts lists what a batch operation's or ListImages' output says beyond
// its shape: the failure codes, and the image IDs returned, deleted or
// listed, by tag ("untagged" for a digest alone), sorted. Digests are left out: moto's differ
// (see motoDepartures).
func facts(v any) []string {
	var out []string
	failures := func(fs []types.ImageFailure) {
		for _, f := range fs {
			out = append(out, "failure "+string(f.FailureCode))
		}
	}
	ids := func(verb string, ids []types.ImageIdentifier) {
		for _, id := range ids {
			tag := aws.ToString(id.ImageTag)
			if tag == "" {
				tag = "untagged"
			}
			out = append(out, verb+" "+tag)
		}
	}
	switch o := v.(type) {
	case *ecr.BatchDeleteImageOutput:
		ids("deleted", o.ImageIds)
		failures(o.Failures)
	case *ecr.BatchGetImageOutput:
		for _, img := range o.Images {
			ids("image", []types.ImageIdentifier{*img.ImageId})
		}
		failures(o.Failures)
	case *ecr.ListImagesOutput:
		ids("listed", o.ImageIds)
	default:
		return nil
	}
	slices.Sort(out)
	return out
}

// shape lists the output fields that are set, as dotted paths ("[]" for
// list members), leaving out the SDK's result metadata.
func shape(v any) []string {
	set := map[string]bool{}
	walk(reflect.ValueOf(v), "", set)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

var timeType = reflect.TypeOf(time.Time{})

func walk(v reflect.Value, path string, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, set)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			set[path] = true
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			walk(v.Field(i), p, set)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return
		}
		set[path] = true
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				walk(v.Index(i), path+"[]", set)
			}
		}
	default:
		if !v.IsZero() {
			set[path] = true
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// outcome is an error's code and HTTP status; an answer that is not an API
// error (a crash page) has code "(not an API error)".
func outcome(err error) (string, int) {
	code := "(not an API error)"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return code, re.HTTPStatusCode()
	}
	return code, 0
}
