package stacks

import (
	"encoding/json"
	"fmt"
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
	detail := imageAction("PUSH")
	if f := CoarseFilter(rule.Repositories); f != nil {
		detail["repository-name"] = f
	}
	if f := CoarseFilter(rule.Tags); f != nil {
		detail["image-tag"] = f
	}
	return sourceEvent(src, detail)
}

// ReferrerTagWildcards are the EventBridge wildcards of the cosign tag
// scheme's referrer tags: sha256-<hex>.sig, .att and .sbom.
var ReferrerTagWildcards = []string{"sha256-*.sig", "sha256-*.att", "sha256-*.sbom"}

// ReferrerEventPattern is the EventBridge pattern, as JSON-ready values,
// for a referrer pushed to the source registry after its image: a push of
// a cosign referrer tag (ReferrerTagWildcards), or a push by digest, which
// ECR reports with "image-tag": "" (the "exists": false branch covers an
// event without the key). Its repositories are those of every rule, so
// the tag filters of the rules do not apply: a referrer tag matches none
// of them. Validate follows the referrer to its subject and applies the
// exact rules.
func ReferrerEventPattern(src config.Source, rules []config.Rule) map[string]any {
	tags := make([]any, 0, len(ReferrerTagWildcards)+1)
	for _, w := range ReferrerTagWildcards {
		tags = append(tags, map[string]any{"wildcard": w})
	}
	tags = append(tags, "")
	detail := imageAction("PUSH")
	detail["$or"] = []any{
		map[string]any{"image-tag": tags},
		map[string]any{"image-tag": []any{map[string]any{"exists": false}}},
	}
	if f := unionFilter(rules, func(r config.Rule) []string { return r.Repositories }); f != nil {
		detail["repository-name"] = f
	}
	return sourceEvent(src, detail)
}

// DeleteEventPattern is the EventBridge pattern, as JSON-ready values, for
// a successful image delete in the source registry that one of the rules
// might select: give it the rules with a destination whose OnSourceDelete
// is untag (UntagRules).
func DeleteEventPattern(src config.Source, rules []config.Rule) map[string]any {
	detail := imageAction("DELETE")
	if f := unionFilter(rules, func(r config.Rule) []string { return r.Repositories }); f != nil {
		detail["repository-name"] = f
	}
	if f := unionFilter(rules, func(r config.Rule) []string { return r.Tags }); f != nil {
		detail["image-tag"] = f
	}
	return sourceEvent(src, detail)
}

// UntagRules are the rules with at least one destination that removes a
// tag deleted in the source (config.SourceDeleteUntag), in order.
func UntagRules(rules []config.Rule) []config.Rule {
	var out []config.Rule
	for _, r := range rules {
		if slices.ContainsFunc(r.Destinations, untags) {
			out = append(out, r)
		}
	}
	return out
}

// untags reports whether a destination removes a tag deleted in the source.
func untags(d config.Destination) bool { return d.OnSourceDelete == config.SourceDeleteUntag }

// unionFilter is the union of the rules' CoarseFilter of one field,
// each filter once, in order of first appearance; nil (the field
// unfiltered) if any rule's filter is nil.
func unionFilter(rules []config.Rule, field func(config.Rule) []string) []any {
	var out []any
	seen := make(map[string]bool)
	for _, r := range rules {
		f := CoarseFilter(field(r))
		if f == nil {
			return nil
		}
		for _, v := range f {
			key := fmt.Sprintf("%#v", v) // a string or a one-key map, printed with its type
			if !seen[key] {
				seen[key] = true
				out = append(out, v)
			}
		}
	}
	return out
}

// imageAction is the detail of a successful ECR Image Action.
func imageAction(action string) map[string]any {
	return map[string]any{
		"action-type": []any{action},
		"result":      []any{"SUCCESS"},
	}
}

// sourceEvent is the pattern of an ECR Image Action event of the source
// registry with the given detail.
//
// A pattern longer than MaxEventPatternBytes loses its coarse filters, the
// repositories' first, then the tags': EventBridge would refuse it at
// deploy time, and Validate applies the exact rules anyway (more runs that
// end skipped are the only cost).
func sourceEvent(src config.Source, detail map[string]any) map[string]any {
	p := map[string]any{
		"source":      []any{"aws.ecr"},
		"detail-type": []any{"ECR Image Action"},
		"account":     []any{src.Account},
		"region":      []any{src.Region},
		"detail":      detail,
	}
	for _, field := range []string{"repository-name", "image-tag"} {
		if b, _ := json.Marshal(p); len(b) <= MaxEventPatternBytes {
			break
		}
		if _, isFilter := detail[field].([]any); isFilter {
			delete(detail, field)
		}
	}
	return p
}

// MaxEventPatternBytes is the longest event pattern EventBridge takes by
// default (2,048 characters; more only with a quota increase).
const MaxEventPatternBytes = 2048

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
