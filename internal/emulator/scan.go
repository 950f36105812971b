package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Image scanning (ECR API Reference: DescribeImageScanFindings,
// GetRegistryScanningConfiguration).
//
// The emulator runs no scanner. Every image manifest it holds has a
// COMPLETE scan with no findings, unless the scan-findings file
// (WithScanFindings) names it: that file is a JSON object mapping
// "<repository>@<digest>" to the DescribeImageScanFindings response for the
// image, in ECR's shape (imageScanStatus, imageScanFindings with findings,
// enhancedFindings and findingSeverityCounts). It is read again on every
// call, so a test or a person can move a scan from IN_PROGRESS to COMPLETE,
// or add findings, while a run waits on it. What the entry leaves out is
// filled in: registryId, repositoryName and imageId from the request, and
// findingSeverityCounts counted from the findings.
//
// An image index has no scan, as in ECR, which scans image manifests only:
// ScanNotFoundException, unless the file names the index.
//
// The registry's scanning configuration is BASIC scan on push for every
// repository (a "*" filter), so a gate that asks whether a repository is
// scanned finds it is; WithRegistryScanning(false) turns that off (no rules),
// for tests of a source without scanning.

// Scan statuses (ImageScanStatus.status).
const (
	ScanComplete   = "COMPLETE"
	ScanInProgress = "IN_PROGRESS"
	ScanFailed     = "FAILED"
)

// CodeScanNotFound is ECR's answer for an image without a scan.
const CodeScanNotFound = "ScanNotFoundException"

// WithScanFindings makes DescribeImageScanFindings answer from path (see
// scan.go's comment for the format), read on every call. A file that
// cannot be read or parsed answers ServerException naming it, so a typo
// shows at the first call instead of passing every image.
func WithScanFindings(path string) Option { return func(c *config) { c.scanFindings = path } }

// WithRegistryScanning sets whether the registry's scanning configuration
// covers every repository with scan on push (default on).
func WithRegistryScanning(enabled bool) Option {
	return func(c *config) { c.noRegistryScanning = !enabled }
}

// ReadScanFindings reads and checks a scan-findings file: `ferry emulator`
// calls it at start, so that a broken file fails there, with its name.
func ReadScanFindings(path string) (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scan findings: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("scan findings %s: %w (want a JSON object of \"<repository>@<digest>\": DescribeImageScanFindings response)", path, err)
	}
	for k, v := range m {
		repo, digest, ok := strings.Cut(k, "@")
		if !ok || !validRepositoryName(repo) || !digestRE().MatchString(digest) {
			return nil, fmt.Errorf("scan findings %s: key %q is not <repository>@sha256:<64 hex digits>", path, k)
		}
		var entry scanEntry
		if err := json.Unmarshal(v, &entry); err != nil {
			return nil, fmt.Errorf("scan findings %s: %s: %w", path, k, err)
		}
		switch entry.ImageScanStatus.Status {
		case "", ScanComplete, ScanInProgress, ScanFailed, "ACTIVE", "PENDING", "SCAN_ELIGIBILITY_EXPIRED", "FINDINGS_UNAVAILABLE", "LIMIT_EXCEEDED", "IMAGE_ARCHIVED":
		default:
			return nil, fmt.Errorf("scan findings %s: %s: imageScanStatus.status %q is not one of ECR's (COMPLETE, IN_PROGRESS, FAILED, ACTIVE, PENDING, ...)", path, k, entry.ImageScanStatus.Status)
		}
	}
	return m, nil
}

// scanEntry is a findings file entry, as far as the emulator reads it; the
// findings themselves pass through as they are.
type scanEntry struct {
	ImageScanStatus struct {
		Status      string `json:"status"`
		Description string `json:"description,omitempty"`
	} `json:"imageScanStatus"`
	ImageScanFindings *struct {
		ImageScanCompletedAt         json.RawMessage   `json:"imageScanCompletedAt,omitempty"`
		VulnerabilitySourceUpdatedAt json.RawMessage   `json:"vulnerabilitySourceUpdatedAt,omitempty"`
		Findings                     []json.RawMessage `json:"findings,omitempty"`
		EnhancedFindings             []json.RawMessage `json:"enhancedFindings,omitempty"`
		FindingSeverityCounts        map[string]int    `json:"findingSeverityCounts,omitempty"`
	} `json:"imageScanFindings"`
}

type scanStatusJSON struct {
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

type scanFindingsJSON struct {
	ImageScanCompletedAt         any               `json:"imageScanCompletedAt,omitempty"`
	VulnerabilitySourceUpdatedAt any               `json:"vulnerabilitySourceUpdatedAt,omitempty"`
	Findings                     []json.RawMessage `json:"findings,omitempty"`
	EnhancedFindings             []json.RawMessage `json:"enhancedFindings,omitempty"`
	FindingSeverityCounts        map[string]int    `json:"findingSeverityCounts"`
}

type describeScanFindingsOutput struct {
	RegistryID        string            `json:"registryId"`
	RepositoryName    string            `json:"repositoryName"`
	ImageID           imageIDJSON       `json:"imageId"`
	ImageScanStatus   scanStatusJSON    `json:"imageScanStatus"`
	ImageScanFindings *scanFindingsJSON `json:"imageScanFindings,omitempty"`
	NextToken         *string           `json:"nextToken,omitempty"`
}

func (r *Registry) describeImageScanFindings(body []byte) (any, *APIError) {
	var in struct {
		RepositoryName string      `json:"repositoryName"`
		ImageID        imageIDJSON `json:"imageId"`
		MaxResults     *int        `json:"maxResults"`
		NextToken      *string     `json:"nextToken"`
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	var (
		digest  string
		isIndex bool
	)
	if _, e := r.withRepo(in.RepositoryName, func(rp *repository) (any, *APIError) {
		img, f := rp.resolve(in.ImageID)
		if f != nil {
			if f.FailureCode == "ImageNotFound" || f.FailureCode == "ImageTagDoesNotMatchDigest" {
				return nil, badRequest(CodeImageNotFound,
					"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
					in.ImageID, rp.name, r.account)
			}
			return nil, invalidParameter("imageId", f.FailureReason)
		}
		digest, isIndex = img.digest, isIndexMediaType(img.mediaType)
		return nil, nil
	}); e != nil {
		return nil, e
	}
	key := in.RepositoryName + "@" + digest
	// The page size applies to the findings (ECR: 1 to 1000, default 100).
	pg, e := r.parsePaging("DescribeImageScanFindings", key, in.MaxResults, in.NextToken)
	if e != nil {
		return nil, e
	}

	out := describeScanFindingsOutput{
		RegistryID:     r.account,
		RepositoryName: in.RepositoryName,
		ImageID:        imageIDJSON{ImageDigest: digest, ImageTag: in.ImageID.ImageTag},
	}
	var entry *scanEntry
	if path := r.cfg.scanFindings; path != "" {
		m, err := ReadScanFindings(path)
		if err != nil {
			return nil, &APIError{Status: 500, Code: CodeServer, Message: "emulator: " + err.Error() + "; fix the file (it is read on every call)"}
		}
		if raw, ok := m[key]; ok {
			entry = new(scanEntry)
			_ = json.Unmarshal(raw, entry) // checked by ReadScanFindings
		}
	}
	if entry == nil {
		if isIndex {
			return nil, badRequest(CodeScanNotFound,
				"Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'",
				in.ImageID, in.RepositoryName, r.account)
		}
		now := epoch(r.em.now().Truncate(time.Millisecond))
		out.ImageScanStatus = scanStatusJSON{Status: ScanComplete, Description: "The scan was completed successfully."}
		out.ImageScanFindings = &scanFindingsJSON{ImageScanCompletedAt: now, VulnerabilitySourceUpdatedAt: now, FindingSeverityCounts: map[string]int{}}
		return out, nil
	}
	out.ImageScanStatus = scanStatusJSON{Status: entry.ImageScanStatus.Status, Description: entry.ImageScanStatus.Description}
	if out.ImageScanStatus.Status == "" {
		out.ImageScanStatus.Status = ScanComplete
	}
	if f := entry.ImageScanFindings; f != nil {
		sf := &scanFindingsJSON{FindingSeverityCounts: f.FindingSeverityCounts}
		if len(f.ImageScanCompletedAt) > 0 {
			sf.ImageScanCompletedAt = f.ImageScanCompletedAt
		}
		if len(f.VulnerabilitySourceUpdatedAt) > 0 {
			sf.VulnerabilitySourceUpdatedAt = f.VulnerabilitySourceUpdatedAt
		}
		if sf.FindingSeverityCounts == nil {
			sf.FindingSeverityCounts = severityCounts(append(cloneRaw(f.Findings), f.EnhancedFindings...))
		}
		// Basic findings, then enhanced ones, paged together by position.
		all := append(cloneRaw(f.Findings), f.EnhancedFindings...)
		keys := make([]string, len(all))
		for i := range all {
			keys[i] = fmt.Sprintf("%08d", i)
		}
		lo, hi, next := pg.page(keys)
		for i := lo; i < hi; i++ {
			if i < len(f.Findings) {
				sf.Findings = append(sf.Findings, all[i])
			} else {
				sf.EnhancedFindings = append(sf.EnhancedFindings, all[i])
			}
		}
		out.ImageScanFindings, out.NextToken = sf, next
	}
	return out, nil
}

// cloneRaw copies a list so that appending to it leaves the original alone.
func cloneRaw(l []json.RawMessage) []json.RawMessage { return append([]json.RawMessage(nil), l...) }

// severityCounts counts findings by their "severity" (basic and enhanced
// findings both carry one).
func severityCounts(findings []json.RawMessage) map[string]int {
	counts := map[string]int{}
	for _, f := range findings {
		var s struct {
			Severity string `json:"severity"`
		}
		if json.Unmarshal(f, &s) == nil && s.Severity != "" {
			counts[s.Severity]++
		}
	}
	return counts
}

func isIndexMediaType(mt string) bool {
	return mt == "application/vnd.oci.image.index.v1+json" || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// getRegistryScanningConfiguration answers BASIC scan on push for every
// repository, or no rules with WithRegistryScanning(false).
func (r *Registry) getRegistryScanningConfiguration(body []byte) (any, *APIError) {
	type filter struct {
		Filter     string `json:"filter"`
		FilterType string `json:"filterType"`
	}
	type rule struct {
		ScanFrequency     string   `json:"scanFrequency"`
		RepositoryFilters []filter `json:"repositoryFilters"`
	}
	rules := []rule{{ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: []filter{{Filter: "*", FilterType: "WILDCARD"}}}}
	if r.cfg.noRegistryScanning {
		rules = []rule{}
	}
	return map[string]any{
		"registryId":            r.account,
		"scanningConfiguration": map[string]any{"scanType": "BASIC", "rules": rules},
	}, nil
}
