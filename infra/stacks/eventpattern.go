package stacks

import (
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
)

// CoarseFilter turns a rule's include patterns into EventBridge content
// filters for one event field: an exact string for a glob without
// wildcards, {"prefix": ...} for a glob whose only wildcard is at the end,
// {"wildcard": ...} for any other glob. EventBridge's "*" also matches "/"
// and "?" becomes "*", so the filter never drops a name the glob matches:
// it is a first, coarse cut, and Validate applies the exact rules.
//
// A regular expression or semver range cannot be expressed, and a glob of
// only stars matches nearly everything, so any of them in the list makes
// the field unfiltered: CoarseFilter returns nil. Excludes are not used.
func CoarseFilter(patterns []string) []any {
	var out []any
	seen := make(map[string]bool)
	for _, expr := range patterns {
		p, err := match.Compile(expr)
		if err != nil || p.Kind() != match.Glob {
			return nil
		}
		w := eventWildcard(expr)
		if strings.Trim(w, "*") == "" {
			return nil
		}
		if seen[w] {
			continue
		}
		seen[w] = true
		switch i := strings.IndexByte(w, '*'); {
		case i < 0:
			out = append(out, w)
		case i == len(w)-1:
			out = append(out, map[string]any{"prefix": w[:i]})
		default:
			out = append(out, map[string]any{"wildcard": w})
		}
	}
	return out
}

// eventWildcard rewrites a glob in EventBridge's wildcard syntax: runs of
// "*" and "?" become one "*" (EventBridge allows no consecutive wildcards).
// Repository names and tags contain neither "*" nor "\", so nothing needs
// escaping.
func eventWildcard(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		if c == '?' || c == '*' {
			if !strings.HasSuffix(b.String(), "*") {
				b.WriteByte('*')
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// PushEventPattern is the EventBridge pattern, as JSON-ready values, for a
// successful image push to the source registry that the rule might select.
func PushEventPattern(src config.Source, rule config.Rule) map[string]any {
	detail := map[string]any{
		"action-type": []any{"PUSH"},
		"result":      []any{"SUCCESS"},
	}
	if f := CoarseFilter(rule.Repositories); f != nil {
		detail["repository-name"] = f
	}
	if f := CoarseFilter(rule.Tags); f != nil {
		detail["image-tag"] = f
	}
	return map[string]any{
		"source":      []any{"aws.ecr"},
		"detail-type": []any{"ECR Image Action"},
		"account":     []any{src.Account},
		"region":      []any{src.Region},
		"detail":      detail,
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
