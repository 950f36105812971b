package workflow

import (
	"strings"
	"testing"
)

// A malformed input says which field is wrong and what it must be, not
// Go's type names.
func TestInputShapeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"repository": "team/app", "tag": "v1", "destinations": "222222222222/eu-west-1"}`,
			`"destinations" must be a list of "ACCOUNT/REGION" strings, e.g. "destinations": ["222222222222/eu-west-1"] (got a string)`},
		{`{"repository": "team/app", "tag": "v1", "destinations": [222222222222]}`, `"destinations" must be a list of "ACCOUNT/REGION" strings`},
		{`{"repository": ["team/app"], "tag": "v1"}`, `"repository" must be a string, e.g. "repository": "team/app" (got an array)`},
		{`{"repository": "team/app", "tag": 1.4}`, `"tag" must be a string, e.g. "tag": "release-1.4" (got a number)`},
		{`{"repository": "team/app", "tag": "v1", "destination": []}`, `unknown field "destination": a manual input has "repository", "tag" or "digest", and "destinations"`},
		{`{"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": "team/app:v1"}`, `"detail" must be an object: {"action-type": "PUSH"`},
		{`{"detail-type": "ECR Image Action", "source": "aws.ecr", "detail": {"image-tag": 7}}`, `"detail.image-tag" must be a string (got a number)`},
		{`{"detail-type": "ECR Image Action", "source": "aws.ecr", "time": "yesterday", "detail": {}}`, `"time" must be an RFC 3339 time string`},
	} {
		_, _, err := (&Validate{}).parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse(%s) = %v\nwant it to say %s", tc.in, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "ManualInput") || strings.Contains(err.Error(), "events.")) {
			t.Errorf("parse(%s) names Go types: %v", tc.in, err)
		}
	}
}
