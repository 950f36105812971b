package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
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
