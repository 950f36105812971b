package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The shapes of an execution's input, as a person writes them: what a
// decode error says is expected, instead of Go's type names
// ("cannot unmarshal string into Go struct field ManualInput.destinations
// of type []string").
var (
	manualShapes = map[string]string{
		"repository":   `a string, e.g. "repository": "team/app"`,
		"tag":          `a string, e.g. "tag": "release-1.4"`,
		"digest":       `a string, e.g. "digest": "sha256:..."`,
		"destinations": `a list of "ACCOUNT/REGION" strings, e.g. "destinations": ["222222222222/eu-west-1"]`,
	}
	eventShapes = map[string]string{
		"detail":    `an object: {"action-type": "PUSH", "result": "SUCCESS", "repository-name": ..., "image-digest": ..., "image-tag": ...}`,
		"resources": `a list of strings`,
		"time":      `an RFC 3339 time string, e.g. "2024-05-01T12:00:00Z"`,
	}
)

// inputShapeError rewrites a decode error of a manual input (event false)
// or an ECR event (true) as what is wrong and what is expected.
func inputShapeError(event bool, err error) string {
	shapes := manualShapes
	if event {
		shapes = eventShapes
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		want, ok := shapes[te.Field]
		if !ok {
			want = "a string" // every other field of either input is one
		}
		return fmt.Sprintf("%q must be %s (got %s)", te.Field, want, article(te.Value))
	}
	if _, ok := errors.AsType[*time.ParseError](err); ok && event {
		return fmt.Sprintf(`"time" must be %s`, eventShapes["time"])
	}
	// encoding/json has no error type for an unknown field (DisallowUnknownFields).
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok && !event {
		return fmt.Sprintf(`unknown field %s: a manual input has "repository", "tag" or "digest", and "destinations"`, f)
	}
	return err.Error()
}

// article is a JSON type's name with its article: "a string", "an array".
func article(jsonType string) string {
	if jsonType == "" {
		return "something else"
	}
	if strings.ContainsRune("aeiou", rune(jsonType[0])) {
		return "an " + jsonType
	}
	return "a " + jsonType
}
