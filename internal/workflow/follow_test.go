package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ferry-dev/ferry/internal/config"
)

func deleteEvent(repo, tag, digest string) string {
	return strings.Replace(pushEvent("111111111111", "us-east-1", repo, tag, digest), `"PUSH"`, `"DELETE"`, 1)
}

// Validate plans a referrer's push as a referrers job to each destination
// the subject's tags go to, asking no approval, and a tag's delete as an
// untag job where a destination opted in; what it cannot follow it skips,
// saying why.
func TestValidateFollowsTheSource(t *testing.T) {
	t.Parallel()
	const (
		sbom     = "sha256:5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b5b0b"
		platform = "sha256:c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
		orphan   = "sha256:d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
		sig      = "sha256:e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5"
	)
	sigTag := strings.Replace(digestA, ":", "-", 1) + ".sig"
	ruleEvent := strings.Replace(pushEvent("111111111111", "us-east-1", "team/app", sigTag, sig), `"detail"`, `"ferryRule":"releases","detail"`, 1)
	tests := []struct {
		name       string
		input      string
		wantAction string
		wantDests  []string
		wantIn     string // the skip reason, when skipped
	}{
		{"cosign tag", pushEvent("111111111111", "us-east-1", "team/app", sigTag, sig), ActionReferrers, []string{prodID, mirrorID}, ""},
		{"OCI referrer by digest", pushEvent("111111111111", "us-east-1", "team/app", "", sbom), ActionReferrers, []string{prodID, mirrorID}, ""},
		{"untagged image without a subject", pushEvent("111111111111", "us-east-1", "team/app", "", platform), ActionReferrers, nil, "no subject"},
		{"referrer of an untagged subject", pushEvent("111111111111", "us-east-1", "team/app", "", orphan), ActionReferrers, nil, "has no tag"},
		{"referrer through a rule's trigger", ruleEvent, ActionReferrers, nil, "the referrers trigger starts"},
		{"referrers fallback tag", pushEvent("111111111111", "us-east-1", "team/app", strings.Replace(digestA, ":", "-", 1), sig), ActionReferrers, nil, "travels with its subject"},
		{"delete where every destination keeps", deleteEvent("team/app", "release-1.0", digestA), ActionUntag, nil, "onSourceDelete: keep"},
		{"delete by digest", deleteEvent("team/app", "", digestA), ActionCopy, nil, "names no tag"},
		{"delete of a signature", deleteEvent("team/app", sigTag, sig), ActionUntag, nil, "never deletes them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newFakeECR("111111111111/us-east-1")
			src.addImage("team/app", digestA, "release-1.0")
			src.addImage("team/app", sig, sigTag)
			src.addImage("team/app", platform)
			src.addImage("team/app", "sha256:"+strings.Repeat("f", 64)) // the orphan's subject: no tag
			src.images["team/app@"+sbom] = ecrtypes.ImageDetail{ImageDigest: aws.String(sbom), SubjectManifestDigest: aws.String(digestA)}
			src.images["team/app@"+orphan] = ecrtypes.ImageDetail{ImageDigest: aws.String(orphan), SubjectManifestDigest: aws.String("sha256:" + strings.Repeat("f", 64))}
			p, err := NewValidate(slog0(), testEnv(t), src).Handle(context.Background(), ValidateRequest{Execution: "x", Input: json.RawMessage(tt.input)})
			if err != nil {
				t.Fatal(err)
			}
			if p.Action != tt.wantAction {
				t.Errorf("action %q, want %q", p.Action, tt.wantAction)
			}
			if tt.wantIn != "" {
				if !p.Skipped || !strings.Contains(p.Reason, tt.wantIn) {
					t.Errorf("skipped %t %q, want skipped: %q", p.Skipped, p.Reason, tt.wantIn)
				}
				return
			}
			var dests []string
			for _, j := range p.Jobs {
				dests = append(dests, j.Destination)
				if j.ApprovalRequired {
					t.Errorf("%s: a referrer asks for approval", j.Destination)
				}
			}
			if p.Skipped || strings.Join(dests, ",") != strings.Join(tt.wantDests, ",") {
				t.Errorf("skipped %t %q, jobs to %v, want %v", p.Skipped, p.Reason, dests, tt.wantDests)
			}
			if p.Digest != digestA || p.Referrer == nil || p.Referrer.Digest == digestA {
				t.Errorf("plan digest %s, referrer %+v: want the subject %s, and the pushed referrer", p.Digest, p.Referrer, digestA)
			}
		})
	}
}

// An untag job removes the destination tag only while it is at the
// deleted digest, only where the deployed configuration opts in, and not
// once the tag is in the source again.
func TestCopyImageUntag(t *testing.T) {
	t.Parallel()
	const other = "sha256:0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
	optedIn := strings.Replace(testConfig, "        repository: {prefix: mirror/}\n", "        repository: {prefix: mirror/}\n        onSourceDelete: untag\n", 1)
	tests := []struct {
		name       string
		config     string
		dstAt      string // where the destination tag points
		srcAgain   bool   // the tag is back in the source
		wantStatus string
		wantIn     string
		wantDelete bool
	}{
		{"at the deleted digest", optedIn, digestA, false, StatusUntagged, "removed", true},
		{"at another image", optedIn, other, false, StatusSkipped, "left as it is", false},
		{"not there", optedIn, "", false, StatusSkipped, "nothing to untag", false},
		{"pushed again in the source", optedIn, digestA, true, StatusSkipped, "in the source again", false},
		{"destination keeps", testConfig, digestA, false, "", "keeps deleted tags", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Parse("ferry.yaml", []byte(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			src, dst := newFakeECR("111111111111/us-east-1"), newFakeECR(mirrorID)
			src.addRepo("team/app", nil)
			dst.addRepo("mirror/team/app", nil)
			if tt.srcAgain {
				src.addImage("team/app", digestA, "release-1.0")
			}
			if tt.dstAt != "" {
				dst.addImage("mirror/team/app", tt.dstAt, "release-1.0")
			}
			roles := &fakeRoles{ecr: map[string]*fakeECR{"111111111111/us-east-1": src, mirrorID: dst}}
			j := testJob(mirrorID)
			j.Action = ActionUntag
			out, err := NewCopyImage(slog0(), &Env{Config: cfg, Getenv: func(string) string { return "" }}, roles).Handle(context.Background(), Replication{Job: j})
			deleted := slices.Contains(dst.Calls(), "BatchDeleteImage")
			if deleted != tt.wantDelete {
				t.Errorf("BatchDeleteImage called: %t, want %t", deleted, tt.wantDelete)
			}
			if tt.wantStatus == "" {
				if !errors.As(err, new(*ValidationError)) || !strings.Contains(err.Error(), tt.wantIn) {
					t.Fatalf("err %v, want a ValidationError: %q", err, tt.wantIn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Copy == nil || out.Copy.Status != tt.wantStatus || !strings.Contains(out.Copy.Reason, tt.wantIn) || out.Copy.Brief == "" {
				t.Errorf("copy %+v, want %s: %q, with a brief", out.Copy, tt.wantStatus, tt.wantIn)
			}
		})
	}
}
