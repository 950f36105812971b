package gate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
)

// ScanAPI is the part of the ECR client the scan gate uses: BatchGetImage
// to find the platform images of an index (ECR scans image manifests, not
// indexes), DescribeImageScanFindings for each, and, only for an image
// with no scan at all, DescribeRepositories and
// GetRegistryScanningConfiguration to tell "scanning is off" from "not yet".
type ScanAPI interface {
	BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput, optFns ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
	DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error)
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	GetRegistryScanningConfiguration(ctx context.Context, in *ecr.GetRegistryScanningConfigurationInput, optFns ...func(*ecr.Options)) (*ecr.GetRegistryScanningConfigurationOutput, error)
}

var _ ScanAPI = (*ecr.Client)(nil)

// ImageScan is what ECR answered about one image manifest's scan.
type ImageScan struct {
	Digest string
	// Platform is "os/arch[/variant]" for a platform image of an index,
	// "" for an image that is not in an index.
	Platform string
	// NotFound: ECR has no scan of the image (ScanNotFoundException).
	NotFound bool
	// Status and Findings are DescribeImageScanFindings' imageScanStatus
	// and imageScanFindings, with the findings of every page.
	Status   *types.ImageScanStatus
	Findings *types.ImageScanFindings
}

// name is how messages call the image: its platform and short digest.
func (s ImageScan) name() string {
	if s.Platform == "" {
		return short(s.Digest)
	}
	return s.Platform + " (" + short(s.Digest) + ")"
}

// Coverage is whether the repository's images are scanned at all, for an
// image with no scan: repository scan-on-push or a registry scanning rule.
type Coverage struct {
	// Checked: the configuration could be read; On and How are only
	// meaningful then.
	Checked bool
	On      bool
	How     string // "scan on push", "the registry's ENHANCED scanning rule ..."
	// Err is why the configuration could not be read.
	Err error
}

// Finding is one scan finding, in the words of a message.
type Finding struct {
	Name     string          `json:"name"`
	Severity config.Severity `json:"severity"`
	Package  string          `json:"package,omitempty"` // "openssl 3.0.2"
	// Platforms are the platform images that have it ("" for a single image).
	Platforms []string `json:"platforms,omitempty"`
}

func (f Finding) String() string {
	if f.Package == "" {
		return fmt.Sprintf("%s (%s)", f.Name, f.Severity)
	}
	return fmt.Sprintf("%s (%s, %s)", f.Name, f.Severity, f.Package)
}

// topFindings is how many findings a reason lists.
const topFindings = 5

// EvaluateScan decides the scan gate for the image digest of repository,
// whose platform images' scans are scans (one entry, digest's own, for an
// image that is not an index). waited
// is how long the caller has waited for scans so far: a scan not complete
// (or not there yet, where scanning is on) waits while waited is under
// rule.Wait, and blocks after. coverage matters only for a NotFound scan.
//
// A scan FAILED, UNSUPPORTED_IMAGE or otherwise not usable blocks; so do
// findings above rule.MaxSeverity that rule.Ignore does not name, on any
// platform. Enhanced findings that are not ACTIVE (SUPPRESSED, CLOSED) do
// not count.
func EvaluateScan(rule config.ScanGate, repository, digest string, scans []ImageScan, coverage Coverage, waited time.Duration) Result {
	res := Result{Gate: GateScan, Wait: time.Duration(rule.Wait)}
	if len(scans) == 0 {
		res.Decision, res.Reason = Block, fmt.Sprintf("%s has no image manifest to scan (an index with no platform images?); push the image again", repository)
		return res
	}
	var blocked, pending []string
	ignore := make(map[string]bool, len(rule.Ignore))
	for _, n := range rule.Ignore {
		ignore[n] = true
	}
	found := map[string]*Finding{} // by name and package, across platforms
	var order []string
	over := map[string]bool{}            // platforms with findings above the limit
	unnamed := map[config.Severity]int{} // counted, with no finding listed
	for _, s := range scans {
		status := types.ScanStatus("")
		desc := ""
		if s.Status != nil {
			status, desc = s.Status.Status, aws.ToString(s.Status.Description)
		}
		switch {
		case s.NotFound:
			pending = append(pending, "no scan of "+s.name())
			continue
		case status == types.ScanStatusInProgress || status == types.ScanStatusPending:
			pending = append(pending, fmt.Sprintf("the scan of %s is %s", s.name(), status))
			continue
		case status == types.ScanStatusComplete || status == types.ScanStatusActive:
		case status == types.ScanStatusFailed:
			blocked = append(blocked, fmt.Sprintf("scan FAILED for %s: %s; scan it again (%s) and run again", s.name(), orNone(desc), startScan(repository, s.Digest)))
			continue
		case status == types.ScanStatusUnsupportedImage:
			blocked = append(blocked, fmt.Sprintf("ECR cannot scan %s (UNSUPPORTED_IMAGE: %s), so the scan gate cannot pass it; use a base image ECR's scanning supports, or take gates.scan off this destination", s.name(), orNone(desc)))
			continue
		case status == types.ScanStatusScanEligibilityExpired:
			blocked = append(blocked, fmt.Sprintf("the scan of %s is SCAN_ELIGIBILITY_EXPIRED (%s): its findings are no longer kept current; push the image again to scan it afresh", s.name(), orNone(desc)))
			continue
		default:
			blocked = append(blocked, fmt.Sprintf("the scan of %s is %s (%s), with no findings to judge; scan it again (%s) and run again", s.name(), cmp.Or(string(status), "without a status"), orNone(desc), startScan(repository, s.Digest)))
			continue
		}
		for _, f := range findings(s.Findings) {
			if ignore[f.Name] {
				continue
			}
			key := f.Name + "\x00" + f.Package
			have := found[key]
			if have == nil {
				have = &f
				found[key], order = have, append(order, key)
			}
			if !slices.Contains(have.Platforms, s.Platform) {
				have.Platforms = append(have.Platforms, s.Platform)
			}
			if f.Severity.Rank() > rule.MaxSeverity.Rank() {
				over[s.name()] = true
			}
		}
		// Counts without a list of findings (a response that has only
		// findingSeverityCounts) count as they are: none can be ignored.
		if s.Findings != nil && len(s.Findings.Findings) == 0 && len(s.Findings.EnhancedFindings) == 0 {
			for sev, n := range s.Findings.FindingSeverityCounts {
				if n > 0 {
					unnamed[normal(config.Severity(sev))] += int(n)
					if config.Severity(sev).Rank() > rule.MaxSeverity.Rank() {
						over[s.name()] = true
					}
				}
			}
		}
	}

	res.Counts = unnamed
	var all []Finding
	for _, k := range order {
		f := *found[k]
		res.Counts[normal(f.Severity)]++
		all = append(all, f)
	}
	if len(res.Counts) == 0 {
		res.Counts = nil
	}
	slices.SortStableFunc(all, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()), cmp.Compare(a.Name, b.Name))
	})
	var worst []Finding
	for _, f := range all {
		if f.Severity.Rank() > rule.MaxSeverity.Rank() && len(worst) < topFindings {
			worst = append(worst, f)
		}
	}
	res.Top = worst

	if len(over) > 0 {
		platforms := make([]string, 0, len(over))
		for _, s := range scans {
			if over[s.name()] {
				platforms = append(platforms, s.name())
			}
		}
		top := make([]string, len(worst))
		for i, f := range worst {
			top[i] = f.String()
		}
		blocked = append(blocked, fmt.Sprintf("findings above %s in %s: %s; top: %s; fix them and push again, or add a finding's name to gates.scan.ignore",
			rule.MaxSeverity, strings.Join(platforms, ", "), countsText(res.Counts, rule.MaxSeverity), strings.Join(top, ", ")))
	}
	at := repository + "@" + short(digest)
	switch {
	case len(blocked) > 0:
		res.Decision, res.Reason = Block, at+": "+strings.Join(blocked, "; ")
	case len(pending) > 0 && coverage.Checked && !coverage.On && anyNotFound(scans):
		res.Decision, res.Reason = Block, scanningOff(repository, digest, unscanned(scans))
	case len(pending) > 0 && waited < time.Duration(rule.Wait):
		res.Decision = Wait
		res.Reason = fmt.Sprintf("%s: waiting for scans (%s of %s waited): %s", at, waited.Round(time.Second), rule.Wait, strings.Join(pending, "; "))
	case len(pending) > 0:
		res.Decision = Block
		res.Reason = fmt.Sprintf("%s: no complete scan after %s (gates.scan.wait): %s", at, rule.Wait, strings.Join(pending, "; "))
		if anyNotFound(scans) {
			if coverage.Err != nil {
				res.Reason += fmt.Sprintf(" (whether scanning is on for %s could not be read: %v)", repository, coverage.Err)
			}
			res.Reason += "; scan it (" + startScans(repository, unscanned(scans)) + ") and run again"
		} else {
			res.Reason += "; once the scan completes, run again"
		}
	default:
		res.Decision = Pass
		res.Reason = fmt.Sprintf("%s: scanned (%d image%s), nothing above %s", at, len(scans), plural(len(scans)), rule.MaxSeverity)
		if len(res.Counts) > 0 {
			res.Reason += " (" + countsText(res.Counts, "") + ")"
		}
	}
	return res
}

// normal folds a severity ECR may spell otherwise (enhanced scanning's
// UNTRIAGED, a severity added later) into config's, ranked the same.
func normal(s config.Severity) config.Severity {
	u := config.Severity(strings.ToUpper(string(s)))
	if slices.Contains(config.Severities, u) {
		return u
	}
	return config.SeverityUndefined
}

// findings lists basic and enhanced findings alike.
func findings(f *types.ImageScanFindings) []Finding {
	if f == nil {
		return nil
	}
	var out []Finding
	for _, b := range f.Findings {
		var pkg, version string
		for _, a := range b.Attributes {
			switch aws.ToString(a.Key) {
			case "package_name":
				pkg = aws.ToString(a.Value)
			case "package_version":
				version = aws.ToString(a.Value)
			}
		}
		out = append(out, Finding{Name: aws.ToString(b.Name), Severity: config.Severity(b.Severity), Package: strings.TrimSpace(pkg + " " + version)})
	}
	for _, e := range f.EnhancedFindings {
		if s := aws.ToString(e.Status); s != "" && s != "ACTIVE" {
			continue // SUPPRESSED or CLOSED in Inspector
		}
		name := aws.ToString(e.Title)
		var pkg string
		if d := e.PackageVulnerabilityDetails; d != nil {
			name = cmp.Or(aws.ToString(d.VulnerabilityId), name)
			if len(d.VulnerablePackages) > 0 {
				p := d.VulnerablePackages[0]
				pkg = strings.TrimSpace(aws.ToString(p.Name) + " " + aws.ToString(p.Version))
			}
		}
		out = append(out, Finding{Name: name, Severity: config.Severity(aws.ToString(e.Severity)), Package: pkg})
	}
	return out
}

// countsText writes counts from the most severe down: "1 CRITICAL, 2 HIGH";
// with limit set, those at or under it follow as "(3 LOW within the limit)".
func countsText(counts map[config.Severity]int, limit config.Severity) string {
	var over, under []string
	for i := len(config.Severities) - 1; i >= 0; i-- {
		s := config.Severities[i]
		if counts[s] == 0 {
			continue
		}
		t := fmt.Sprintf("%d %s", counts[s], s)
		if limit != "" && s.Rank() <= limit.Rank() {
			under = append(under, t)
		} else {
			over = append(over, t)
		}
	}
	out := strings.Join(over, ", ")
	if len(under) > 0 {
		if out != "" {
			return out + " (and " + strings.Join(under, ", ") + " within the limit)"
		}
		return strings.Join(under, ", ")
	}
	return out
}

func anyNotFound(scans []ImageScan) bool {
	return slices.ContainsFunc(scans, func(s ImageScan) bool { return s.NotFound })
}

// unscanned returns the digests of the images with no scan.
func unscanned(scans []ImageScan) []string {
	var out []string
	for _, s := range scans {
		if s.NotFound {
			out = append(out, s.Digest)
		}
	}
	return out
}

func scanningOff(repository, digest string, unscanned []string) string {
	return fmt.Sprintf("scanning is off for %s, so the scan gate cannot pass %s: turn on scan-on-push (aws ecr put-image-scanning-configuration --repository-name %s --image-scanning-configuration scanOnPush=true) or a registry scanning rule that covers it (aws ecr put-registry-scanning-configuration), then scan the image (%s) and run again",
		repository, short(digest), repository, startScans(repository, unscanned))
}

func startScan(repository, digest string) string {
	return fmt.Sprintf("aws ecr start-image-scan --repository-name %s --image-id imageDigest=%s", repository, digest)
}

// startScans is the command that scans the first of digests, and says how
// many more need it: ECR scans each platform image, never an index.
func startScans(repository string, digests []string) string {
	if len(digests) == 0 {
		return ""
	}
	cmd := startScan(repository, digests[0])
	if n := len(digests) - 1; n > 0 {
		cmd += fmt.Sprintf(", and the same for the %d other platform image%s without a scan", n, plural(n))
	}
	return cmd
}

func orNone(s string) string { return cmp.Or(s, "no description") }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Scanner runs the scan gate against ECR.
type Scanner struct {
	api        ScanAPI
	registryID string
}

// NewScanner returns a Scanner over api. registryID is the source
// registry's account, or "" for the caller's own.
func NewScanner(api ScanAPI, registryID string) *Scanner {
	return &Scanner{api: api, registryID: registryID}
}

// maxFindingPages bounds the findings read per image (1000 a page).
const maxFindingPages = 100

// Check reads the scans of the image digest's platform images in
// repository and decides the gate (EvaluateScan).
func (s *Scanner) Check(ctx context.Context, rule config.ScanGate, repository, digest string, waited time.Duration) (Result, error) {
	images, err := s.platformImages(ctx, repository, digest, 0)
	if err != nil {
		return Result{}, err
	}
	scans := make([]ImageScan, 0, len(images))
	for _, img := range images {
		sc, err := s.scan(ctx, repository, img)
		if err != nil {
			return Result{}, err
		}
		scans = append(scans, sc)
	}
	var cov Coverage
	if anyNotFound(scans) {
		cov = s.Coverage(ctx, repository)
	}
	return EvaluateScan(rule, repository, digest, scans, cov, waited), nil
}

func (s *Scanner) registry() *string {
	if s.registryID == "" {
		return nil
	}
	return aws.String(s.registryID)
}

// manifestTypes are the media types Ferry asks BatchGetImage for.
var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// index is the part of an image index (or Docker manifest list) the scan
// gate reads.
type index struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		} `json:"platform"`
	} `json:"manifests"`
}

// platformImages returns the image manifests of digest: itself for an
// image, its platform images for an index (leaving out attestation
// manifests, which ECR does not scan).
func (s *Scanner) platformImages(ctx context.Context, repository, digest string, depth int) ([]ImageScan, error) {
	out, err := s.api.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RegistryId: s.registry(), RepositoryName: aws.String(repository),
		ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(digest)}}, AcceptedMediaTypes: manifestTypes,
	})
	if err != nil {
		return nil, fmt.Errorf("read the manifest of %s@%s for the scan gate (ecr:BatchGetImage): %w", repository, digest, err)
	}
	if len(out.Images) == 0 {
		why := "no image"
		if len(out.Failures) > 0 {
			why = fmt.Sprintf("%s: %s", out.Failures[0].FailureCode, aws.ToString(out.Failures[0].FailureReason))
		}
		return nil, fmt.Errorf("read the manifest of %s@%s for the scan gate (ecr:BatchGetImage): %s", repository, digest, why)
	}
	img := out.Images[0]
	var idx index
	if err := json.Unmarshal([]byte(aws.ToString(img.ImageManifest)), &idx); err != nil {
		return nil, fmt.Errorf("read the manifest of %s@%s for the scan gate: not JSON: %w", repository, digest, err)
	}
	mt := cmp.Or(aws.ToString(img.ImageManifestMediaType), idx.MediaType)
	if !strings.Contains(mt, "index") && !strings.Contains(mt, "manifest.list") {
		return []ImageScan{{Digest: digest}}, nil
	}
	var images []ImageScan
	for _, m := range idx.Manifests {
		// buildx's attestation manifests (unknown/unknown, annotated) are
		// not images ECR scans. An image only labelled unknown/unknown is
		// scanned like any other: skipping it would pass what nobody checked.
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		if (strings.Contains(m.MediaType, "index") || strings.Contains(m.MediaType, "manifest.list")) && depth < 2 {
			nested, err := s.platformImages(ctx, repository, m.Digest, depth+1)
			if err != nil {
				return nil, err
			}
			images = append(images, nested...)
			continue
		}
		p := m.Digest
		if m.Platform != nil {
			p = strings.TrimSuffix(m.Platform.OS+"/"+m.Platform.Architecture+"/"+m.Platform.Variant, "/")
		}
		images = append(images, ImageScan{Digest: m.Digest, Platform: p})
	}
	return images, nil
}

// scan reads one image manifest's scan, every page of it.
func (s *Scanner) scan(ctx context.Context, repository string, img ImageScan) (ImageScan, error) {
	in := &ecr.DescribeImageScanFindingsInput{
		RegistryId: s.registry(), RepositoryName: aws.String(repository),
		ImageId: &types.ImageIdentifier{ImageDigest: aws.String(img.Digest)}, MaxResults: aws.Int32(1000),
	}
	p := ecr.NewDescribeImageScanFindingsPaginator(s.api, in)
	for page := 0; p.HasMorePages(); page++ {
		if page == maxFindingPages {
			break
		}
		out, err := p.NextPage(ctx)
		if err != nil {
			if _, ok := errors.AsType[*types.ScanNotFoundException](err); ok {
				img.NotFound = true
				return img, nil
			}
			return img, fmt.Errorf("read the scan findings of %s@%s (ecr:DescribeImageScanFindings): %w", repository, img.Digest, err)
		}
		if img.Status == nil {
			img.Status = out.ImageScanStatus
		}
		if f := out.ImageScanFindings; f != nil {
			if img.Findings == nil {
				c := *f
				c.Findings, c.EnhancedFindings = nil, nil
				img.Findings = &c
			}
			img.Findings.Findings = append(img.Findings.Findings, f.Findings...)
			img.Findings.EnhancedFindings = append(img.Findings.EnhancedFindings, f.EnhancedFindings...)
		}
	}
	return img, nil
}

// Coverage reads whether repository's images are scanned: by the
// registry's scanning rules (for ENHANCED scanning, only they count) or by
// the repository's scan-on-push.
func (s *Scanner) Coverage(ctx context.Context, repository string) Coverage {
	reg, err := s.api.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{})
	if err != nil {
		return Coverage{Err: fmt.Errorf("ecr:GetRegistryScanningConfiguration: %w", err)}
	}
	scanType := types.ScanTypeBasic
	if c := reg.ScanningConfiguration; c != nil {
		scanType = cmp.Or(c.ScanType, types.ScanTypeBasic)
		for _, r := range c.Rules {
			if r.ScanFrequency == types.ScanFrequencyManual {
				continue
			}
			for _, f := range r.RepositoryFilters {
				if wildcard(aws.ToString(f.Filter), repository) {
					return Coverage{Checked: true, On: true, How: fmt.Sprintf("the registry's %s %s rule %q", scanType, r.ScanFrequency, aws.ToString(f.Filter))}
				}
			}
		}
	}
	if scanType == types.ScanTypeEnhanced {
		return Coverage{Checked: true} // repository scan-on-push does not apply under enhanced scanning
	}
	repos, err := s.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: s.registry(), RepositoryNames: []string{repository}})
	if err != nil {
		return Coverage{Err: fmt.Errorf("ecr:DescribeRepositories %s: %w", repository, err)}
	}
	for _, r := range repos.Repositories {
		if c := r.ImageScanningConfiguration; c != nil && c.ScanOnPush {
			return Coverage{Checked: true, On: true, How: "scan on push"}
		}
	}
	return Coverage{Checked: true}
}

// wildcard matches ECR's scanning filters, where * matches any run of
// characters, slashes included.
func wildcard(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}
