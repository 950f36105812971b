package imagecopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// addToReferrersTag records a referrer in a destination that has no
// referrers API, by the OCI 1.1 fallback: an image index tagged
// sha256-<subject hex> that lists the referrers. An existing index keeps
// its entries.
func addToReferrersTag(ctx context.Context, r *repo, subject string, d referrerEntry) error {
	tag := fallbackTag(subject)
	idx := map[string]any{"schemaVersion": 2, "mediaType": mtOCIIndex}
	var list []json.RawMessage
	cur, err := r.getManifest(ctx, tag)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(cur.Body, &idx); err != nil {
			return fmt.Errorf("referrers tag %s in %s: not an index: %w", tag, r, err)
		}
		if raw, ok := idx["manifests"]; ok {
			b, _ := json.Marshal(raw)
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("referrers tag %s in %s: bad manifests list: %w", tag, r, err)
			}
		}
		for _, m := range list {
			var have descriptor
			if json.Unmarshal(m, &have) == nil && have.Digest == d.Digest {
				return nil
			}
		}
	}
	entry, err := json.Marshal(d)
	if err != nil {
		return err
	}
	idx["manifests"] = append(list, entry)
	body, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	_, err = r.putManifest(ctx, tag, rawManifest{Body: body, MediaType: mtOCIIndex, Digest: digestOf(body)})
	return err
}
