package ecrpolicy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Lifecycle policy values (ECR User Guide, "Lifecycle policy properties in
// Amazon ECR").
const (
	TagStatusTagged   = "tagged"
	TagStatusUntagged = "untagged"
	TagStatusAny      = "any"

	CountImagesMoreThan         = "imageCountMoreThan"
	CountSinceImagePushed       = "sinceImagePushed"
	CountSinceImagePulled       = "sinceImagePulled"
	CountSinceImageTransitioned = "sinceImageTransitioned"

	CountUnitDays = "days"

	StorageStandard = "standard"
	StorageArchive  = "archive"

	ActionExpire     = "expire"
	ActionTransition = "transition"
)

// Limits of PutLifecyclePolicy's lifecyclePolicyText (ECR API Reference).
const (
	MinLifecyclePolicyLength = 100
	MaxLifecyclePolicyLength = 30720
)

// minArchiveDays: "You cannot configure lifecycle policies that delete
// images that have been in archive for less than 90 days" (ECR User Guide,
// "Archiving an image").
const minArchiveDays = 90

// maxPatternWildcards: "There is a maximum limit of four wildcards (*) per
// string" in tagPatternList.
const maxPatternWildcards = 4

const lifecycleExample = `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}`

// Lifecycle checks a lifecycle policy, the text PutLifecyclePolicy takes.
func Lifecycle(text string) []Problem {
	c := &checker{}
	if n := utf8.RuneCountInString(text); n < MinLifecyclePolicyLength || n > MaxLifecyclePolicyLength {
		c.refuse(Length, "", 0, "is %d characters; ECR takes a lifecycle policy of %d to %d characters", n, MinLifecyclePolicyLength, MaxLifecyclePolicyLength)
	}
	root := c.document(text, "a JSON object such as "+lifecycleExample)
	if root == nil {
		return c.problems
	}
	f, _ := c.fields(root, "", "a lifecycle policy", "rules")
	v := c.require(f, root, "", "rules", "a list of rules, e.g. "+lifecycleExample)
	if v == nil {
		return c.problems
	}
	if v.kind != array {
		c.refuse(Invalid, "rules", v.off, "is %s; want a list of rules", v.describe())
		return c.problems
	}
	if len(v.items) == 0 {
		c.refuse(Invalid, "rules", v.off, "is empty; want at least one rule, e.g. %s", lifecycleExample)
		return c.problems
	}
	rules := make([]lifecycleRule, 0, len(v.items))
	for i, item := range v.items {
		rules = append(rules, c.rule(item, index("rules", i)))
	}
	c.priorities(rules)
	return c.problems
}

// lifecycleRule is what the checks across rules need of one rule.
type lifecycleRule struct {
	path      string
	priority  int64 // 0 if invalid
	priorityV *value
	tagStatus string
	storage   string // the storage class the rule selects
}

func (c *checker) rule(v *value, path string) lifecycleRule {
	r := lifecycleRule{path: path}
	f, ok := c.fields(v, path, "a rule", "rulePriority", "description", "selection", "action")
	if !ok {
		return r
	}
	if p := c.require(f, v, path, "rulePriority", "a positive integer, unique in the policy: rules are applied from the lowest"); p != nil {
		if n, ok := c.positive(p, join(path, "rulePriority")); ok {
			r.priority, r.priorityV = n, p
		}
	}
	if d, ok := f["description"]; ok {
		c.str(d, join(path, "description"), "a string")
	}
	var sel selection
	if s := c.require(f, v, path, "selection", `an object with tagStatus, countType and countNumber, e.g. {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 10}`); s != nil {
		sel = c.selection(s, join(path, "selection"))
		r.tagStatus, r.storage = sel.tagStatus, sel.storage
	}
	actionType := ""
	if a := c.require(f, v, path, "action", `{"type": "expire"}, or {"type": "transition", "targetStorageClass": "archive"}`); a != nil {
		actionType = c.action(a, join(path, "action"))
	}
	if actionType == ActionExpire && sel.countType == CountSinceImageTransitioned && sel.countNumberV != nil && sel.countNumber > 0 && sel.countNumber < minArchiveDays {
		c.refuse(Invalid, join(path, "selection.countNumber"), sel.countNumberV.off,
			"is %d; ECR does not let a lifecycle policy delete an image archived for less than %d days (the archive's minimum storage duration): want %d or more",
			sel.countNumber, minArchiveDays, minArchiveDays)
	}
	return r
}

// selection is what the rule's other checks need of its selection.
type selection struct {
	tagStatus    string
	tagStatusV   *value
	countType    string
	countNumber  int64
	countNumberV *value
	storage      string
}

func (c *checker) selection(v *value, path string) selection {
	var s selection
	f, ok := c.fields(v, path, "a selection", "tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType", "countUnit", "countNumber")
	if !ok {
		return s
	}
	if t := c.require(f, v, path, "tagStatus", `"tagged", "untagged" or "any"`); t != nil {
		s.tagStatus, _ = c.oneOf(t, join(path, "tagStatus"), TagStatusTagged, TagStatusUntagged, TagStatusAny)
		s.tagStatusV = t
	}
	patterns, hasPatterns := f["tagPatternList"]
	prefixes, hasPrefixes := f["tagPrefixList"]
	if hasPatterns {
		c.tagList(patterns, join(path, "tagPatternList"), true)
	}
	if hasPrefixes {
		c.tagList(prefixes, join(path, "tagPrefixList"), false)
	}
	switch s.tagStatus {
	case TagStatusTagged:
		if !hasPatterns && !hasPrefixes {
			c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "tagPatternList"), Key: "tagPatternList", Offset: s.tagStatusV.off,
				Msg: `missing: tagStatus "tagged" needs a tagPatternList (e.g. ["prod*"]) or a tagPrefixList (e.g. ["prod"]) to say which tags the rule selects`})
		}
		if hasPatterns && hasPrefixes {
			// The properties page: tagPrefixList is "only used if ...
			// you aren't specifying a tagPatternList"; the AWS CDK refuses
			// both ("Both tagPrefixList and tagPatternList cannot be
			// specified together in a rule").
			c.refuse(Conflict, join(path, "tagPrefixList"), keyOff(v, "tagPrefixList"),
				"cannot be given with tagPatternList in the same rule; keep one (tagPatternList takes wildcards: a prefix \"prod\" is the pattern \"prod*\")")
		}
	case TagStatusUntagged, TagStatusAny:
		for _, k := range []string{"tagPatternList", "tagPrefixList"} {
			if _, ok := f[k]; ok {
				c.refuse(Conflict, join(path, k), keyOff(v, k),
					"is only for tagStatus \"tagged\"; with %q it must be left out (or set tagStatus to \"tagged\")", s.tagStatus)
			}
		}
	}

	if t := c.require(f, v, path, "countType", quoteAll([]string{CountImagesMoreThan, CountSinceImagePushed, CountSinceImagePulled, CountSinceImageTransitioned})); t != nil {
		s.countType, _ = c.oneOf(t, join(path, "countType"), CountImagesMoreThan, CountSinceImagePushed, CountSinceImagePulled, CountSinceImageTransitioned)
	}
	byAge := s.countType == CountSinceImagePushed || s.countType == CountSinceImagePulled || s.countType == CountSinceImageTransitioned
	if u, ok := f["countUnit"]; ok {
		if s.countType == CountImagesMoreThan {
			c.refuse(Conflict, join(path, "countUnit"), keyOff(v, "countUnit"),
				"is only for the count types by age (sinceImagePushed, sinceImagePulled, sinceImageTransitioned); with imageCountMoreThan, countNumber is a number of images: leave countUnit out")
		} else {
			c.oneOf(u, join(path, "countUnit"), CountUnitDays)
		}
	} else if byAge {
		c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "countUnit"), Key: "countUnit", Offset: v.off,
			Msg: fmt.Sprintf(`missing: countType %q counts days, so it needs "countUnit": "days"`, s.countType)})
	}
	if n := c.require(f, v, path, "countNumber", "a positive integer: a number of images, or of days"); n != nil {
		if num, ok := c.positive(n, join(path, "countNumber")); ok {
			s.countNumber, s.countNumberV = num, n
		}
	}

	s.storage = StorageStandard
	if sc, ok := f["storageClass"]; ok {
		s.storage, ok = c.oneOf(sc, join(path, "storageClass"), StorageStandard, StorageArchive)
		if ok && s.countType != "" && (s.storage == StorageArchive) != (s.countType == CountSinceImageTransitioned) {
			if s.storage == StorageArchive {
				c.refuse(Conflict, join(path, "storageClass"), sc.off,
					"\"archive\" goes only with countType sinceImageTransitioned; with %s the only storage class is \"standard\" (the default)", s.countType)
			} else {
				c.refuse(Conflict, join(path, "storageClass"), sc.off,
					"countType sinceImageTransitioned selects archived images: want \"archive\"")
			}
		}
	} else if s.countType == CountSinceImageTransitioned {
		c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "storageClass"), Key: "storageClass", Offset: v.off,
			Msg: `missing: countType sinceImageTransitioned selects archived images and needs "storageClass": "archive"`})
	}
	return s
}

// tagList checks a tagPatternList or tagPrefixList.
func (c *checker) tagList(v *value, path string, patterns bool) {
	what := `tag prefix such as "prod"`
	if patterns {
		what = `tag pattern such as "prod*"`
	}
	if v.kind != array {
		c.refuse(Invalid, path, v.off, "is %s; want a list of strings, e.g. [\"prod\"]", v.describe())
		return
	}
	if len(v.items) == 0 {
		c.refuse(Invalid, path, v.off, "is empty; want at least one %s", what)
		return
	}
	for i, item := range v.items {
		p := index(path, i)
		s, ok := c.str(item, p, "a string")
		if !ok {
			continue
		}
		switch {
		case s == "":
			c.refuse(Invalid, p, item.off, "is empty; want a %s", what)
		case patterns && strings.Count(s, "*") > maxPatternWildcards:
			c.refuse(Invalid, p, item.off, "%q has %d wildcards; ECR allows at most %d (*) in each pattern", s, strings.Count(s, "*"), maxPatternWildcards)
		}
	}
}

// action checks a rule's action and returns its type ("" if invalid).
func (c *checker) action(v *value, path string) string {
	f, ok := c.fields(v, path, "an action", "type", "targetStorageClass")
	if !ok {
		return ""
	}
	t := c.require(f, v, path, "type", `"expire" (delete the images) or "transition" (move them to the archive storage class)`)
	if t == nil {
		return ""
	}
	typ, ok := c.oneOf(t, join(path, "type"), ActionExpire, ActionTransition)
	if !ok {
		return ""
	}
	target, hasTarget := f["targetStorageClass"]
	switch {
	case typ == ActionTransition && !hasTarget:
		c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "targetStorageClass"), Key: "targetStorageClass", Offset: v.off,
			Msg: `missing: a "transition" action needs "targetStorageClass": "archive"`})
	case typ == ActionTransition:
		c.oneOf(target, join(path, "targetStorageClass"), StorageArchive)
	case hasTarget:
		// Documented as required for transition; what ECR does with it on
		// an expire action is not.
		c.warn(Conflict, join(path, "targetStorageClass"), keyOff(v, "targetStorageClass"),
			"is only used by a \"transition\" action; an \"expire\" action deletes the images: leave it out")
	}
	return typ
}

// priorities checks the rules' priorities together: each unique ("you
// must give them each a unique value for rulePriority"), and a rule with
// tagStatus "any" last ("A rule with a tagStatus value of any must have the
// highest value for rulePriority and be evaluated last"). Last among the
// rules that select the same storage class: ECR takes a policy that
// archives "any" image (rulePriority 1) and then expires "any" archived one
// (rulePriority 2), as in the AWS provider for Terraform's acceptance test
// of storage classes (aws_ecr_lifecycle_policy, storageClass).
func (c *checker) priorities(rules []lifecycleRule) {
	first := make(map[int64]string)
	highest := make(map[string]int64) // storage class -> highest rulePriority
	owner := make(map[string]string)  // storage class -> the rule that has it
	for _, r := range rules {
		if r.priority == 0 {
			continue
		}
		if other, dup := first[r.priority]; dup {
			c.refuse(Duplicate, join(r.path, "rulePriority"), r.priorityV.off,
				"rulePriority %d is also %s's; each rule needs a rulePriority of its own", r.priority, other)
			continue
		}
		first[r.priority] = r.path
		if r.storage != "" && r.priority > highest[r.storage] {
			highest[r.storage], owner[r.storage] = r.priority, r.path
		}
	}
	for _, r := range rules {
		if r.tagStatus != TagStatusAny || r.priority == 0 || r.storage == "" || r.priority == highest[r.storage] {
			continue
		}
		c.refuse(Conflict, join(r.path, "rulePriority"), r.priorityV.off,
			"is %d, but a rule with tagStatus \"any\" must have the highest rulePriority (it is evaluated last) and %s, which also selects %s images, has %d; give this rule a higher rulePriority",
			r.priority, owner[r.storage], r.storage, highest[r.storage])
	}
}

// keyOff returns the offset of key in object v (its last occurrence).
func keyOff(v *value, key string) int {
	off := v.off
	for _, m := range v.members {
		if m.key == key {
			off = m.keyOff
		}
	}
	return off
}
