package emulator_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/emulator"
)

func writeFindings(t *testing.T, path string, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDescribeImageScanFindings: an image the file does not name has a
// complete scan with no findings; one it names answers what the file says,
// read again at every call; an index has no scan of its own.
func TestDescribeImageScanFindings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "findings.json")
	writeFindings(t, path, map[string]any{})
	em := newEmulator(t)
	reg := newRegistry(t, em, account, region, emulator.WithScanFindings(path))
	c := ecrClient(t, reg.ECREndpoint(), region)
	createRepo(t, c, "team/app", "")
	auth := login(t, c)
	img := randomImage(t)
	if err := push(t, reg.Host(), "team/app", "v1", img, auth); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	describe := func(id types.ImageIdentifier, maxResults *int32, next *string) (*ecr.DescribeImageScanFindingsOutput, error) {
		return c.DescribeImageScanFindings(t.Context(), &ecr.DescribeImageScanFindingsInput{
			RepositoryName: aws.String("team/app"), ImageId: &id, MaxResults: maxResults, NextToken: next})
	}

	out, err := describe(types.ImageIdentifier{ImageTag: aws.String("v1")}, nil, nil)
	if err != nil {
		t.Fatalf("DescribeImageScanFindings, not in the file: %v", err)
	}
	if out.ImageScanStatus.Status != types.ScanStatusComplete || len(out.ImageScanFindings.Findings) != 0 || aws.ToString(out.ImageId.ImageDigest) != d.String() {
		t.Errorf("not in the file: status %s, %d findings, digest %s; want COMPLETE, none, %s",
			out.ImageScanStatus.Status, len(out.ImageScanFindings.Findings), aws.ToString(out.ImageId.ImageDigest), d)
	}

	key := "team/app@" + d.String()
	writeFindings(t, path, map[string]any{key: map[string]any{"imageScanStatus": map[string]any{"status": "IN_PROGRESS"}}})
	out, err = describe(types.ImageIdentifier{ImageDigest: aws.String(d.String())}, nil, nil)
	if err != nil || out.ImageScanStatus.Status != types.ScanStatusInProgress {
		t.Fatalf("in progress: %v, %+v; want IN_PROGRESS", err, out)
	}

	finding := func(name, sev string) map[string]any {
		return map[string]any{"name": name, "severity": sev, "uri": "https://example.com/" + name}
	}
	writeFindings(t, path, map[string]any{key: map[string]any{
		"imageScanStatus": map[string]any{"status": "COMPLETE", "description": "The scan was completed successfully."},
		"imageScanFindings": map[string]any{
			"findings":         []any{finding("CVE-1", "HIGH"), finding("CVE-2", "LOW")},
			"enhancedFindings": []any{map[string]any{"packageVulnerabilityDetails": map[string]any{"vulnerabilityId": "CVE-3"}, "severity": "CRITICAL", "status": "ACTIVE"}},
		},
	}})
	var names []string
	var enhanced int
	var next *string
	pages := 0
	for {
		out, err = describe(types.ImageIdentifier{ImageDigest: aws.String(d.String())}, aws.Int32(2), next)
		if err != nil {
			t.Fatalf("complete, page %d: %v", pages, err)
		}
		pages++
		for _, f := range out.ImageScanFindings.Findings {
			names = append(names, aws.ToString(f.Name))
		}
		enhanced += len(out.ImageScanFindings.EnhancedFindings)
		if counts := out.ImageScanFindings.FindingSeverityCounts; counts["HIGH"] != 1 || counts["LOW"] != 1 || counts["CRITICAL"] != 1 {
			t.Errorf("findingSeverityCounts = %v, want one each of HIGH, LOW, CRITICAL (counted from the findings)", counts)
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	if pages != 2 || len(names) != 2 || names[0] != "CVE-1" || enhanced != 1 {
		t.Errorf("paged at 2: %d pages, findings %v, %d enhanced; want 2 pages, [CVE-1 CVE-2], 1", pages, names, enhanced)
	}

	// An index: ECR scans its platform images, not the index.
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	idxDigest, _ := idx.Digest()
	if err := remote.WriteIndex(repoRef(t, reg.Host(), "team/app").Tag("multi"), idx, remoteOpts(t.Context(), auth)...); err != nil {
		t.Fatalf("WriteIndex: %v", err)
	}
	_, err = describe(types.ImageIdentifier{ImageDigest: aws.String(idxDigest.String())}, nil, nil)
	if code, status := apiErr(t, err); code != emulator.CodeScanNotFound || status != http.StatusBadRequest {
		t.Errorf("index: %s %d, want %s 400", code, status, emulator.CodeScanNotFound)
	}

	_, err = describe(types.ImageIdentifier{ImageTag: aws.String("nope")}, nil, nil)
	if code, _ := apiErr(t, err); code != emulator.CodeImageNotFound {
		t.Errorf("missing image: %s, want %s", code, emulator.CodeImageNotFound)
	}

	// A broken file is an error that names it, not a clean scan.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = describe(types.ImageIdentifier{ImageTag: aws.String("v1")}, nil, nil)
	if code, status := apiErr(t, err); code != emulator.CodeServer || status != http.StatusInternalServerError {
		t.Errorf("broken file: %s %d, want %s 500", code, status, emulator.CodeServer)
	}
}

func TestRegistryScanningConfiguration(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	for _, on := range []bool{true, false} {
		reg := newRegistry(t, em, map[bool]string{true: account, false: account2}[on], region, emulator.WithRegistryScanning(on))
		out, err := ecrClient(t, reg.ECREndpoint(), region).GetRegistryScanningConfiguration(t.Context(), &ecr.GetRegistryScanningConfigurationInput{})
		if err != nil {
			t.Fatalf("GetRegistryScanningConfiguration: %v", err)
		}
		sc := out.ScanningConfiguration
		covered := len(sc.Rules) == 1 && sc.Rules[0].ScanFrequency == types.ScanFrequencyScanOnPush &&
			len(sc.Rules[0].RepositoryFilters) == 1 && aws.ToString(sc.Rules[0].RepositoryFilters[0].Filter) == "*"
		if sc.ScanType != types.ScanTypeBasic || covered != on {
			t.Errorf("scanning on=%v: type %s, rules %+v", on, sc.ScanType, sc.Rules)
		}
	}
}
