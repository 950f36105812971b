package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
)

// fakeECR answers the scan gate's ECR calls from maps, and records them.
type fakeECR struct {
	mu         sync.Mutex
	manifests  map[string]string                                 // digest -> manifest JSON
	mediaType  map[string]string                                 // digest -> media type
	scans      map[string][]*ecr.DescribeImageScanFindingsOutput // digest -> pages; absent: ScanNotFoundException
	registry   *types.RegistryScanningConfiguration
	scanOnPush bool
	calls      []string
}

func (f *fakeECR) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeECR) BatchGetImage(_ context.Context, in *ecr.BatchGetImageInput, _ ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	d := aws.ToString(in.ImageIds[0].ImageDigest)
	f.record("BatchGetImage " + d)
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.manifests[d]
	if !ok {
		return &ecr.BatchGetImageOutput{Failures: []types.ImageFailure{{FailureCode: types.ImageFailureCodeImageNotFound, FailureReason: aws.String("Requested image not found")}}}, nil
	}
	return &ecr.BatchGetImageOutput{Images: []types.Image{{ImageManifest: aws.String(m), ImageManifestMediaType: aws.String(f.mediaType[d])}}}, nil
}

func (f *fakeECR) DescribeImageScanFindings(_ context.Context, in *ecr.DescribeImageScanFindingsInput, _ ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	d := aws.ToString(in.ImageId.ImageDigest)
	f.record(fmt.Sprintf("DescribeImageScanFindings %s %s", d, aws.ToString(in.NextToken)))
	f.mu.Lock()
	defer f.mu.Unlock()
	pages, ok := f.scans[d]
	if !ok {
		return nil, &types.ScanNotFoundException{Message: aws.String("Image scan does not exist for the image")}
	}
	i := 0
	if in.NextToken != nil {
		fmt.Sscanf(*in.NextToken, "page-%d", &i)
	}
	out := *pages[i]
	if i+1 < len(pages) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", i+1))
	}
	return &out, nil
}

func (f *fakeECR) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	f.record("DescribeRepositories " + in.RepositoryNames[0])
	return &ecr.DescribeRepositoriesOutput{Repositories: []types.Repository{{
		RepositoryName:             aws.String(in.RepositoryNames[0]),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: f.scanOnPush},
	}}}, nil
}

func (f *fakeECR) GetRegistryScanningConfiguration(context.Context, *ecr.GetRegistryScanningConfigurationInput, ...func(*ecr.Options)) (*ecr.GetRegistryScanningConfigurationOutput, error) {
	f.record("GetRegistryScanningConfiguration")
	return &ecr.GetRegistryScanningConfigurationOutput{ScanningConfiguration: f.registry}, nil
}

func (f *fakeECR) setScan(digest string, pages ...*ecr.DescribeImageScanFindingsOutput) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans[digest] = pages
}

func (f *fakeECR) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func dg(s string) string { return "sha256:" + strings.Repeat(s, 64)[:64] }

const imageType = "application/vnd.oci.image.manifest.v1+json"

// newFake holds a single image digest dg("a") with a complete scan (no
// findings) unless a test changes it; the registry scans on push.
func newFake() *fakeECR {
	return &fakeECR{
		manifests: map[string]string{dg("a"): `{"schemaVersion":2,"mediaType":"` + imageType + `"}`},
		mediaType: map[string]string{dg("a"): imageType},
		scans:     map[string][]*ecr.DescribeImageScanFindingsOutput{dg("a"): {complete()}},
		registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic, Rules: []types.RegistryScanningRule{{
			ScanFrequency: types.ScanFrequencyScanOnPush, RepositoryFilters: []types.ScanningRepositoryFilter{{Filter: aws.String("*"), FilterType: types.ScanningRepositoryFilterTypeWildcard}},
		}}},
	}
}

func status(s types.ScanStatus, desc string) *types.ImageScanStatus {
	st := &types.ImageScanStatus{Status: s}
	if desc != "" {
		st.Description = aws.String(desc)
	}
	return st
}

// complete is a COMPLETE basic scan with the findings given as
// name/severity/package triples.
func complete(findings ...string) *ecr.DescribeImageScanFindingsOutput {
	f := &types.ImageScanFindings{}
	for i := 0; i+2 < len(findings); i += 3 {
		pkg, version, _ := strings.Cut(findings[i+2], " ")
		f.Findings = append(f.Findings, types.ImageScanFinding{
			Name: aws.String(findings[i]), Severity: types.FindingSeverity(findings[i+1]),
			Attributes: []types.Attribute{{Key: aws.String("package_name"), Value: aws.String(pkg)}, {Key: aws.String("package_version"), Value: aws.String(version)}},
		})
	}
	return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(types.ScanStatusComplete, "The scan was completed successfully."), ImageScanFindings: f}
}

func inProgress() *ecr.DescribeImageScanFindingsOutput {
	return &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(types.ScanStatusInProgress, "")}
}

func rule(max config.Severity, ignore ...string) config.ScanGate {
	return config.ScanGate{MaxSeverity: max, Wait: config.Duration(30 * time.Minute), Ignore: ignore}
}

func check(t *testing.T, f *fakeECR, r config.ScanGate, digest string, waited time.Duration) Result {
	t.Helper()
	res, err := NewScanner(f, "").Check(context.Background(), r, "team/app", digest, waited)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Gate != GateScan {
		t.Errorf("gate = %q, want scan", res.Gate)
	}
	return res
}

func wantDecision(t *testing.T, res Result, want Decision, reasonParts ...string) {
	t.Helper()
	if res.Decision != want {
		t.Fatalf("decision = %s, want %s (reason: %s)", res.Decision, want, res.Reason)
	}
	for _, p := range reasonParts {
		if !strings.Contains(res.Reason, p) {
			t.Errorf("reason %q\nwant it to contain %q", res.Reason, p)
		}
	}
}

func TestScanThreshold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		max      config.Severity
		findings []string
		ignore   []string
		want     Decision
		reason   []string
		counts   map[config.Severity]int
	}{
		{
			name: "under", max: config.SeverityMedium,
			findings: []string{"CVE-2024-1", "MEDIUM", "zlib 1.2", "CVE-2024-2", "LOW", "curl 8.0", "CVE-2024-3", "INFORMATIONAL", "bash 5"},
			want:     Pass, reason: []string{"team/app@sha256:aaaaaaaaaaaa: scanned (1 image), nothing above MEDIUM (1 MEDIUM, 1 LOW, 1 INFORMATIONAL)"},
			counts: map[config.Severity]int{config.SeverityMedium: 1, config.SeverityLow: 1, config.SeverityInformational: 1},
		},
		{
			name: "over", max: config.SeverityMedium,
			findings: []string{"CVE-2024-1", "MEDIUM", "zlib 1.2", "CVE-2024-9", "HIGH", "openssl 3.0.2", "CVE-2024-8", "CRITICAL", "glibc 2.35", "CVE-2024-7", "CRITICAL", "curl 8.0"},
			want:     Block,
			reason: []string{
				"findings above MEDIUM in sha256:aaaaaaaaaaaa: 2 CRITICAL, 1 HIGH (and 1 MEDIUM within the limit)",
				"top: CVE-2024-7 (CRITICAL, curl 8.0), CVE-2024-8 (CRITICAL, glibc 2.35), CVE-2024-9 (HIGH, openssl 3.0.2);",
				"add a finding's name to gates.scan.ignore",
			},
			counts: map[config.Severity]int{config.SeverityCritical: 2, config.SeverityHigh: 1, config.SeverityMedium: 1},
		},
		{
			name: "at the limit", max: config.SeverityHigh,
			findings: []string{"CVE-2024-9", "HIGH", "openssl 3.0.2"},
			want:     Pass,
		},
		{
			name: "ignored", max: config.SeverityMedium, ignore: []string{"CVE-2024-9", "CVE-2024-8"},
			findings: []string{"CVE-2024-9", "HIGH", "openssl 3.0.2", "CVE-2024-8", "CRITICAL", "glibc 2.35", "CVE-2024-1", "LOW", "zlib 1.2"},
			want:     Pass, counts: map[config.Severity]int{config.SeverityLow: 1},
		},
		{
			name: "ignoring one of two", max: config.SeverityMedium, ignore: []string{"CVE-2024-9"},
			findings: []string{"CVE-2024-9", "HIGH", "openssl 3.0.2", "CVE-2024-8", "CRITICAL", "glibc 2.35"},
			want:     Block, reason: []string{": 1 CRITICAL; top: CVE-2024-8 (CRITICAL, glibc 2.35)"},
			counts: map[config.Severity]int{config.SeverityCritical: 1},
		},
		{
			name: "undefined is above critical", max: config.SeverityCritical,
			findings: []string{"CVE-2024-5", "UNDEFINED", "perl 5.36"},
			want:     Block, reason: []string{"1 UNDEFINED; top: CVE-2024-5 (UNDEFINED, perl 5.36)"},
		},
		{
			name: "undefined allows everything", max: config.SeverityUndefined,
			findings: []string{"CVE-2024-5", "UNDEFINED", "perl 5.36", "CVE-2024-8", "CRITICAL", "glibc 2.35"},
			want:     Pass,
		},
		{
			name: "no findings", max: config.SeverityInformational,
			want: Pass, reason: []string{"nothing above INFORMATIONAL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.setScan(dg("a"), complete(tt.findings...))
			res := check(t, f, rule(tt.max, tt.ignore...), dg("a"), 0)
			wantDecision(t, res, tt.want, tt.reason...)
			if tt.counts != nil && fmt.Sprint(res.Counts) != fmt.Sprint(tt.counts) {
				t.Errorf("counts = %v, want %v", res.Counts, tt.counts)
			}
			if f.count("GetRegistryScanningConfiguration") != 0 || f.count("DescribeRepositories") != 0 {
				t.Errorf("a scanned image had its scanning configuration read: %v", f.calls)
			}
		})
	}
}

func TestScanInProgressThenComplete(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.setScan(dg("a"), inProgress())
	r := rule(config.SeverityMedium)
	res := check(t, f, r, dg("a"), 0)
	wantDecision(t, res, Wait, "waiting for scans (0s of 30m0s waited): the scan of sha256:aaaaaaaaaaaa is IN_PROGRESS")
	if res.Wait != 30*time.Minute {
		t.Errorf("wait = %s, want the rule's 30m", res.Wait)
	}
	res = check(t, f, r, dg("a"), 29*time.Minute)
	wantDecision(t, res, Wait, "(29m0s of 30m0s waited)")

	f.setScan(dg("a"), complete("CVE-2024-1", "LOW", "zlib 1.2"))
	wantDecision(t, check(t, f, r, dg("a"), 29*time.Minute+30*time.Second), Pass)

	f.setScan(dg("a"), &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(types.ScanStatusPending, "")})
	wantDecision(t, check(t, f, r, dg("a"), 0), Wait, "is PENDING")
}

func TestScanNeverCompletes(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.setScan(dg("a"), inProgress())
	res := check(t, f, rule(config.SeverityMedium), dg("a"), 30*time.Minute)
	wantDecision(t, res, Block, "no complete scan after 30m0s (gates.scan.wait): the scan of sha256:aaaaaaaaaaaa is IN_PROGRESS; once the scan completes, run again")

	// A gate that does not wait blocks at the first check.
	r := rule(config.SeverityMedium)
	r.Wait = 0
	wantDecision(t, check(t, f, r, dg("a"), 0), Block, "no complete scan after 0s")
}

func TestScanStatusesThatBlock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status types.ScanStatus
		desc   string
		want   string
	}{
		{types.ScanStatusFailed, "UnsupportedImageError: The operating system 'scratch' is not supported", "scan FAILED for sha256:aaaaaaaaaaaa: UnsupportedImageError: The operating system 'scratch' is not supported; scan it again (aws ecr start-image-scan --repository-name team/app --image-id imageDigest=" + dg("a") + ") and run again"},
		{types.ScanStatusUnsupportedImage, "The image is not supported", "ECR cannot scan sha256:aaaaaaaaaaaa (UNSUPPORTED_IMAGE: The image is not supported)"},
		{types.ScanStatusScanEligibilityExpired, "", "SCAN_ELIGIBILITY_EXPIRED (no description)"},
		{types.ScanStatusFindingsUnavailable, "findings are not available", "is FINDINGS_UNAVAILABLE (findings are not available), with no findings to judge"},
		{types.ScanStatusLimitExceeded, "", "is LIMIT_EXCEEDED"},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.setScan(dg("a"), &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(tt.status, tt.desc)})
			wantDecision(t, check(t, f, rule(config.SeverityCritical), dg("a"), 0), Block, tt.want)
		})
	}
}

func TestScanMissing(t *testing.T) {
	t.Parallel()
	star := []types.ScanningRepositoryFilter{{Filter: aws.String("*"), FilterType: types.ScanningRepositoryFilterTypeWildcard}}
	tests := []struct {
		name       string
		registry   *types.RegistryScanningConfiguration
		scanOnPush bool
		waited     time.Duration
		want       Decision
		reason     string
	}{
		{name: "scanning on, not yet", registry: newFake().registry, want: Wait, reason: "waiting for scans (0s of 30m0s waited): no scan of sha256:aaaaaaaaaaaa"},
		{name: "scanning on, never came", registry: newFake().registry, waited: time.Hour, want: Block, reason: "no complete scan after 30m0s (gates.scan.wait): no scan of sha256:aaaaaaaaaaaa; scan it (aws ecr start-image-scan"},
		{name: "scan on push", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic}, scanOnPush: true, want: Wait},
		{name: "off", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic}, want: Block,
			reason: "scanning is off for team/app, so the scan gate cannot pass sha256:aaaaaaaaaaaa: turn on scan-on-push (aws ecr put-image-scanning-configuration --repository-name team/app --image-scanning-configuration scanOnPush=true) or a registry scanning rule"},
		{name: "a rule for other repositories", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic, Rules: []types.RegistryScanningRule{{
			ScanFrequency: types.ScanFrequencyScanOnPush, RepositoryFilters: []types.ScanningRepositoryFilter{{Filter: aws.String("other/*")}},
		}}}, want: Block, reason: "scanning is off for team/app"},
		{name: "a wildcard rule that covers it", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeEnhanced, Rules: []types.RegistryScanningRule{{
			ScanFrequency: types.ScanFrequencyContinuousScan, RepositoryFilters: []types.ScanningRepositoryFilter{{Filter: aws.String("t*m/*p")}},
		}}}, want: Wait},
		{name: "a manual rule", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic, Rules: []types.RegistryScanningRule{{
			ScanFrequency: types.ScanFrequencyManual, RepositoryFilters: star,
		}}}, want: Block, reason: "scanning is off"},
		{name: "enhanced ignores the repository's scan on push", registry: &types.RegistryScanningConfiguration{ScanType: types.ScanTypeEnhanced}, scanOnPush: true, want: Block, reason: "scanning is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			delete(f.scans, dg("a"))
			f.registry, f.scanOnPush = tt.registry, tt.scanOnPush
			wantDecision(t, check(t, f, rule(config.SeverityMedium), dg("a"), tt.waited), tt.want, tt.reason)
			if f.count("GetRegistryScanningConfiguration") != 1 {
				t.Errorf("the registry's scanning configuration was read %d times, want once", f.count("GetRegistryScanningConfiguration"))
			}
		})
	}
}

// index returns an OCI index over the given platform/digest pairs, with a
// buildx attestation manifest for the first.
func indexOf(t *testing.T, platforms ...string) string {
	t.Helper()
	type platform struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant,omitempty"`
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Platform    platform          `json:"platform"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var ms []desc
	for i := 0; i+1 < len(platforms); i += 2 {
		parts := strings.Split(platforms[i], "/")
		p := platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
		ms = append(ms, desc{MediaType: imageType, Digest: platforms[i+1], Size: 100, Platform: p})
	}
	ms = append(ms, desc{MediaType: imageType, Digest: dg("e"), Size: 100, Platform: platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": platforms[1]}})
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScanMultiArchIndex(t *testing.T) {
	t.Parallel()
	const indexType = "application/vnd.oci.image.index.v1+json"
	f := newFake()
	f.manifests[dg("f")] = indexOf(t, "linux/amd64", dg("b"), "linux/arm64/v8", dg("c"))
	f.mediaType[dg("f")] = indexType
	f.setScan(dg("b"), complete("CVE-2024-1", "LOW", "zlib 1.2", "CVE-2024-2", "MEDIUM", "curl 8.0"))
	f.setScan(dg("c"), complete("CVE-2024-1", "LOW", "zlib 1.2", "CVE-2024-9", "CRITICAL", "openssl 3.0.2"))
	r := rule(config.SeverityMedium)

	res := check(t, f, r, dg("f"), 0)
	wantDecision(t, res, Block, "team/app@sha256:ffffffffffff: findings above MEDIUM in linux/arm64/v8 (sha256:cccccccccccc): 1 CRITICAL (and 1 MEDIUM, 1 LOW within the limit); top: CVE-2024-9 (CRITICAL, openssl 3.0.2)")
	if strings.Contains(res.Reason, "amd64") {
		t.Errorf("reason names the clean platform: %s", res.Reason)
	}
	if len(res.Top) != 1 || fmt.Sprint(res.Top[0].Platforms) != "[linux/arm64/v8]" {
		t.Errorf("top = %+v, want the one CRITICAL on linux/arm64/v8", res.Top)
	}
	// The LOW on both platforms counts once.
	if res.Counts[config.SeverityLow] != 1 {
		t.Errorf("counts = %v, want the shared LOW once", res.Counts)
	}
	if n := f.count("DescribeImageScanFindings " + dg("e")); n != 0 {
		t.Errorf("the attestation manifest's scan was read %d times; ECR does not scan it", n)
	}
	if n := f.count("DescribeImageScanFindings " + dg("f")); n != 0 {
		t.Errorf("the index's scan was read; ECR scans image manifests only")
	}

	// One platform still scanning and one blocked: blocked now, no wait.
	f.setScan(dg("b"), inProgress())
	wantDecision(t, check(t, f, r, dg("f"), 0), Block, "linux/arm64/v8")

	// Both clean, one still scanning: wait; then pass.
	f.setScan(dg("c"), complete("CVE-2024-1", "LOW", "zlib 1.2"))
	wantDecision(t, check(t, f, r, dg("f"), 0), Wait, "the scan of linux/amd64 (sha256:bbbbbbbbbbbb) is IN_PROGRESS")
	f.setScan(dg("b"), complete())
	wantDecision(t, check(t, f, r, dg("f"), 0), Pass, "scanned (2 images), nothing above MEDIUM (1 LOW)")
}

func TestScanEnhancedFindings(t *testing.T) {
	t.Parallel()
	enhanced := func(id, severity, status, pkg string) types.EnhancedImageScanFinding {
		name, version, _ := strings.Cut(pkg, " ")
		return types.EnhancedImageScanFinding{
			Title: aws.String(id + " - " + name), Severity: aws.String(severity), Status: aws.String(status),
			PackageVulnerabilityDetails: &types.PackageVulnerabilityDetails{
				VulnerabilityId:    aws.String(id),
				VulnerablePackages: []types.VulnerablePackage{{Name: aws.String(name), Version: aws.String(version)}},
			},
		}
	}
	out := &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(types.ScanStatusActive, "Continuous scan is selected for image."),
		ImageScanFindings: &types.ImageScanFindings{EnhancedFindings: []types.EnhancedImageScanFinding{
			enhanced("CVE-2024-11", "CRITICAL", "ACTIVE", "openssl 3.0.2"),
			enhanced("CVE-2024-12", "CRITICAL", "SUPPRESSED", "glibc 2.35"),
			enhanced("CVE-2024-13", "UNTRIAGED", "ACTIVE", "perl 5.36"),
			enhanced("CVE-2024-14", "LOW", "ACTIVE", "zlib 1.2"),
		}}}
	f := newFake()
	f.setScan(dg("a"), out)
	res := check(t, f, rule(config.SeverityHigh), dg("a"), 0)
	wantDecision(t, res, Block, "1 UNDEFINED, 1 CRITICAL (and 1 LOW within the limit); top: CVE-2024-13 (UNTRIAGED, perl 5.36), CVE-2024-11 (CRITICAL, openssl 3.0.2)")
	if strings.Contains(res.Reason, "CVE-2024-12") {
		t.Errorf("a suppressed finding counted: %s", res.Reason)
	}
	wantDecision(t, check(t, f, rule(config.SeverityHigh, "CVE-2024-11", "CVE-2024-13"), dg("a"), 0), Pass, "(1 LOW)")
}

func TestScanFindingsPages(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.setScan(dg("a"), complete("CVE-2024-1", "LOW", "zlib 1.2"), complete("CVE-2024-9", "HIGH", "openssl 3.0.2"))
	wantDecision(t, check(t, f, rule(config.SeverityMedium), dg("a"), 0), Block, "1 HIGH (and 1 LOW within the limit)")
	if n := f.count("DescribeImageScanFindings"); n != 2 {
		t.Errorf("read %d pages, want 2", n)
	}
}

func TestScanCountsWithoutFindings(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.setScan(dg("a"), &ecr.DescribeImageScanFindingsOutput{ImageScanStatus: status(types.ScanStatusComplete, ""),
		ImageScanFindings: &types.ImageScanFindings{FindingSeverityCounts: map[string]int32{"HIGH": 2, "LOW": 3}}})
	res := check(t, f, rule(config.SeverityMedium), dg("a"), 0)
	wantDecision(t, res, Block, "findings above MEDIUM in sha256:aaaaaaaaaaaa: 2 HIGH (and 3 LOW within the limit)")
	wantDecision(t, check(t, f, rule(config.SeverityHigh), dg("a"), 0), Pass, "(2 HIGH, 3 LOW)")
}

func TestScanImageGone(t *testing.T) {
	t.Parallel()
	_, err := NewScanner(newFake(), "").Check(context.Background(), rule(config.SeverityLow), "team/app", dg("9"), 0)
	if err == nil || !strings.Contains(err.Error(), "read the manifest of team/app@"+dg("9")+" for the scan gate (ecr:BatchGetImage): ImageNotFound: Requested image not found") {
		t.Errorf("err = %v, want the missing image named", err)
	}
}

func TestWildcard(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "team/app", true},
		{"team/*", "team/app", true},
		{"team/*", "other/app", false},
		{"*app", "team/app", true},
		{"t*m/*p", "team/app", true},
		{"t*m/*p", "team/apps", false},
		{"team/app", "team/app", true},
		{"team/app", "team/ap", false},
		{"a*a", "a", false},
	} {
		if got := wildcard(tt.pattern, tt.name); got != tt.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// TestScanMissingOnAPlatform: the command to scan names the platform
// image, not the index, which ECR cannot scan.
func TestScanMissingOnAPlatform(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.manifests[dg("f")] = indexOf(t, "linux/amd64", dg("b"), "linux/arm64", dg("c"), "linux/s390x", dg("d"))
	f.mediaType[dg("f")] = "application/vnd.oci.image.index.v1+json"
	f.setScan(dg("b"), complete())
	wantDecision(t, check(t, f, rule(config.SeverityMedium), dg("f"), time.Hour), Block,
		"no scan of linux/arm64 (sha256:cccccccccccc); no scan of linux/s390x (sha256:dddddddddddd); scan it (aws ecr start-image-scan --repository-name team/app --image-id imageDigest="+dg("c")+", and the same for the 1 other platform image without a scan) and run again")
	f.registry = &types.RegistryScanningConfiguration{ScanType: types.ScanTypeBasic}
	wantDecision(t, check(t, f, rule(config.SeverityMedium), dg("f"), 0), Block,
		"scanning is off for team/app, so the scan gate cannot pass sha256:ffffffffffff", "then scan the image (aws ecr start-image-scan --repository-name team/app --image-id imageDigest="+dg("c")+", and the same")
}

// Only buildx's annotated attestation manifests are passed over: an image
// merely labelled unknown/unknown is scanned, or the gate would pass what
// nobody checked.
func TestScanUnknownPlatformIsScanned(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.manifests[dg("f")] = indexOf(t, "linux/amd64", dg("b"), "unknown/unknown", dg("c"))
	f.mediaType[dg("f")] = "application/vnd.oci.image.index.v1+json"
	f.setScan(dg("b"), complete())
	f.setScan(dg("c"), complete("CVE-2024-9", "CRITICAL", "openssl 3.0.2"))
	res := check(t, f, rule(config.SeverityMedium), dg("f"), 0)
	wantDecision(t, res, Block, "findings above MEDIUM in unknown/unknown")
}
