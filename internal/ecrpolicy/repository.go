package ecrpolicy

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxRepositoryPolicyLength is the longest policyText SetRepositoryPolicy
// takes (ECR API Reference).
const MaxRepositoryPolicyLength = 10240

// Policy versions ("Version" : ("2008-10-17" | "2012-10-17"), IAM policy
// grammar).
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

const repositoryExample = `{"Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}`

// principalTypes are the keys of a principal map (IAM policy grammar,
// <principal_map_entry>).
var principalTypes = []string{"AWS", "Service", "Federated", "CanonicalUser"}

// conditionOperators are IAM's condition operators (IAM User Guide, "IAM
// JSON policy elements: Condition operators"); each may be prefixed with
// ForAllValues: or ForAnyValue:, and all but Null suffixed with IfExists.
var conditionOperators = []string{
	"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
	"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
	"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
	"Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
	"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
}

// Repository checks a repository policy, the text SetRepositoryPolicy takes.
func Repository(text string) []Problem {
	c := &checker{}
	if n := utf8.RuneCountInString(text); n > MaxRepositoryPolicyLength {
		c.refuse(Length, "", 0, "is %d characters; ECR takes a repository policy of at most %d", n, MaxRepositoryPolicyLength)
	}
	root := c.document(text, "a JSON object such as "+repositoryExample)
	if root == nil {
		return c.problems
	}
	f, _ := c.fields(root, "", "a repository policy", "Version", "Id", "Statement")
	if v, ok := f["Version"]; ok {
		c.oneOf(v, "Version", Version2012, Version2008)
	} else {
		c.warn(Missing, "Version", root.off, `missing; a policy without a Version is read as version 2008-10-17, in which policy variables such as ${aws:PrincipalAccount} are plain text: add "Version": "2012-10-17"`)
	}
	if v, ok := f["Id"]; ok {
		c.str(v, "Id", "a string")
	}
	v := c.require(f, root, "", "Statement", "a list of statements, e.g. "+repositoryExample)
	if v == nil {
		return c.problems
	}
	var statements []*value
	var paths []string
	switch v.kind {
	case object: // "If the element takes an array but only one value is included, the brackets are optional."
		statements, paths = []*value{v}, []string{"Statement"}
	case array:
		statements = v.items
		for i := range v.items {
			paths = append(paths, index("Statement", i))
		}
	default:
		c.refuse(Invalid, "Statement", v.off, "is %s; want a list of statements", v.describe())
		return c.problems
	}
	if len(statements) == 0 {
		c.refuse(Invalid, "Statement", v.off, "is empty; want at least one statement, e.g. %s", repositoryExample)
		return c.problems
	}
	sids := make(map[string]string)
	for i, s := range statements {
		sid, sidV := c.statement(s, paths[i])
		if sidV == nil || sid == "" {
			continue
		}
		// IAM wants each Sid unique in a policy; ECR takes repeats (moto
		// stopped refusing them for ECR after checking with AWS, moto pull
		// request #8933), so this is a warning.
		if first, dup := sids[sid]; dup {
			c.warn(Duplicate, join(paths[i], "Sid"), sidV.off, "Sid %q is also %s's; IAM asks for a unique Sid in each statement", sid, first)
			continue
		}
		sids[sid] = paths[i]
	}
	return c.problems
}

// statement checks one statement and returns its Sid.
func (c *checker) statement(v *value, path string) (string, *value) {
	f, ok := c.fields(v, path, "a statement", "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition", "Resource", "NotResource")
	if !ok {
		return "", nil
	}
	sid := ""
	sidV, hasSid := f["Sid"]
	if hasSid {
		// ECR takes characters IAM does not, such as spaces (its own
		// examples have "Sid": "ECR Repository Policy").
		sid, _ = c.str(sidV, join(path, "Sid"), "a string")
	}
	for _, k := range []string{"Resource", "NotResource"} {
		if _, ok := f[k]; ok {
			// A repository policy applies to its repository: ECR refuses a
			// statement with a Resource ("Invalid repository policy
			// provided"; awsdocs/amazon-ecr-user-guide pull request #20,
			// aws-cdk pull request #3590).
			c.refuse(Unknown, join(path, k), keyOff(v, k),
				"is not allowed in a repository policy: the policy applies to the repository it is set on, and ECR refuses a statement with %s; remove it", k)
		}
	}

	effect := ""
	if e := c.require(f, v, path, "Effect", `"Allow" or "Deny"`); e != nil {
		effect, _ = c.oneOf(e, join(path, "Effect"), "Allow", "Deny")
	}

	principal, hasPrincipal := f["Principal"]
	notPrincipal, hasNotPrincipal := f["NotPrincipal"]
	everyone := false
	switch {
	case hasPrincipal && hasNotPrincipal:
		c.refuse(Conflict, join(path, "NotPrincipal"), keyOff(v, "NotPrincipal"), "cannot be given with Principal in the same statement; keep one")
	case hasPrincipal:
		everyone = c.principal(principal, join(path, "Principal"))
	case hasNotPrincipal:
		c.principal(notPrincipal, join(path, "NotPrincipal"))
	default:
		// "You must use the Principal element in resource-based policies"
		// (IAM User Guide, Principal element).
		c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "Principal"), Key: "Principal", Offset: v.off,
			Msg: `missing; a repository policy is a resource-based policy, and each statement names whom it applies to, e.g. "Principal": {"AWS": "arn:aws:iam::123456789012:root"}`})
	}

	action, hasAction := f["Action"]
	notAction, hasNotAction := f["NotAction"]
	var actions []string
	switch {
	case hasAction && hasNotAction:
		c.refuse(Conflict, join(path, "NotAction"), keyOff(v, "NotAction"), "cannot be given with Action in the same statement; keep one")
	case hasAction:
		actions = c.actions(action, join(path, "Action"))
	case hasNotAction:
		c.actions(notAction, join(path, "NotAction"))
	default:
		c.problems = append(c.problems, Problem{Severity: Refused, Kind: Missing, Path: join(path, "Action"), Key: "Action", Offset: v.off,
			Msg: `missing; each statement needs an Action (or NotAction), e.g. "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]`})
	}

	cond, hasCondition := f["Condition"]
	if hasCondition {
		c.condition(cond, join(path, "Condition"))
		hasCondition = len(cond.members) > 0 // an empty Condition limits nothing
	}

	if effect == "Allow" {
		switch {
		case everyone && !hasCondition:
			what := "every action"
			if hasAction && len(actions) > 0 && !contains(actions, "*") {
				what = strings.Join(actions, ", ")
			}
			c.warn(Risk, join(path, "Principal"), principal.off,
				"is everyone: with Effect Allow and no Condition this grants %s on the repository to any AWS account, and to anonymous callers; name the accounts or roles instead, or add a Condition (such as aws:PrincipalOrgID)", what)
		case hasNotPrincipal && !hasPrincipal:
			c.warn(Risk, join(path, "NotPrincipal"), notPrincipal.off,
				"with Effect Allow grants the actions to every principal not listed, anonymous callers included; IAM advises NotPrincipal only with Effect Deny: use Principal")
		}
	}
	return sid, sidV
}

// principal checks a Principal or NotPrincipal and reports whether it is
// everyone ("*", or "*" among the AWS principals).
func (c *checker) principal(v *value, path string) bool {
	const want = `"*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`
	switch v.kind {
	case str:
		if v.s != "*" {
			c.refuse(Invalid, path, v.off, "is %s; want %s (a principal's ARN goes under a type: {\"AWS\": %q})", v.describe(), want, v.s)
			return false
		}
		return true
	case object:
	default:
		c.refuse(Invalid, path, v.off, "is %s; want %s", v.describe(), want)
		return false
	}
	f, ok := c.fields(v, path, "a principal", principalTypes...)
	if !ok {
		return false
	}
	if len(v.members) == 0 {
		c.refuse(Invalid, path, v.off, "is empty; want %s", want)
		return false
	}
	everyone := false
	for _, typ := range principalTypes {
		id, ok := f[typ]
		if !ok {
			continue
		}
		for _, s := range c.stringList(id, join(path, typ), "a principal") {
			if typ == "AWS" && s == "*" {
				everyone = true
			}
		}
	}
	return everyone
}

// actions checks an Action or NotAction and returns its actions.
func (c *checker) actions(v *value, path string) []string {
	const want = `an action such as "ecr:BatchGetImage"`
	type action struct {
		s, path string
		off     int
	}
	var list []action
	switch v.kind {
	case array:
		if len(v.items) == 0 {
			c.refuse(Invalid, path, v.off, "is an empty list; want %s, or a list of them", want)
		}
		for i, item := range v.items {
			if s, ok := c.str(item, index(path, i), want); ok {
				list = append(list, action{s, index(path, i), item.off})
			}
		}
	case str:
		list = []action{{v.s, path, v.off}}
	default:
		c.refuse(Invalid, path, v.off, "is %s; want %s, or a list of them", v.describe(), want)
	}
	var out []string
	for _, a := range list {
		if a.s == "*" {
			out = append(out, a.s)
			continue
		}
		service, name, ok := strings.Cut(a.s, ":")
		// "service-prefix:action-name" (IAM User Guide, Action element).
		if !ok || service == "" || name == "" || strings.Contains(name, ":") || !validService(service) {
			c.refuse(Invalid, a.path, a.off, "%q is not an action; want \"ecr:ACTION\" (e.g. \"ecr:BatchGetImage\", \"ecr:*\") or \"*\"", a.s)
			continue
		}
		if !strings.EqualFold(service, "ecr") {
			c.warn(Invalid, a.path, a.off, "%q is not an ECR action: a repository policy grants only ecr: actions on its repository, so this grants nothing", a.s)
		}
		out = append(out, a.s)
	}
	return out
}

// validService reports whether s can be a service prefix: letters,
// digits, '-' and '.'.
func validService(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// stringList checks a string or a non-empty list of non-empty strings.
func (c *checker) stringList(v *value, path, what string) []string {
	switch v.kind {
	case str:
		if v.s == "" {
			c.refuse(Invalid, path, v.off, "is empty; want %s", what)
			return nil
		}
		return []string{v.s}
	case array:
		if len(v.items) == 0 {
			c.refuse(Invalid, path, v.off, "is an empty list; want %s, or a list of them", what)
			return nil
		}
		var out []string
		for i, item := range v.items {
			s, ok := c.str(item, index(path, i), what)
			if !ok {
				continue
			}
			if s == "" {
				c.refuse(Invalid, index(path, i), item.off, "is empty; want %s", what)
				continue
			}
			out = append(out, s)
		}
		return out
	}
	c.refuse(Invalid, path, v.off, "is %s; want %s, or a list of them", v.describe(), what)
	return nil
}

// condition checks a Condition block: operator -> condition key -> values.
func (c *checker) condition(v *value, path string) {
	if v.kind != object {
		c.refuse(Invalid, path, v.off, "is %s; want an object such as {\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-abc123\"}}", v.describe())
		return
	}
	for _, m := range v.members {
		p := join(path, m.key)
		if !validOperator(m.key) {
			msg := fmt.Sprintf("%q is not a condition operator (want one such as StringEquals, StringLike, ArnLike, Bool, IpAddress or Null, optionally prefixed ForAnyValue: or ForAllValues: or suffixed IfExists)", m.key)
			if s := suggest(m.key, conditionOperators); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			c.problems = append(c.problems, Problem{Severity: Refused, Kind: Invalid, Path: p, Offset: m.keyOff, Msg: msg})
			continue
		}
		if m.val.kind != object {
			c.refuse(Invalid, p, m.val.off, "is %s; want an object of condition keys to values, such as {\"aws:PrincipalOrgID\": \"o-abc123\"}", m.val.describe())
			continue
		}
		for _, k := range m.val.members {
			kp := join(p, k.key)
			switch k.val.kind {
			case str, number, boolean:
			case array:
				for i, item := range k.val.items {
					if item.kind != str && item.kind != number && item.kind != boolean {
						c.refuse(Invalid, index(kp, i), item.off, "is %s; want a string, number or boolean", item.describe())
					}
				}
			default:
				c.refuse(Invalid, kp, k.val.off, "is %s; want a value or a list of values", k.val.describe())
			}
		}
	}
}

// validOperator reports whether op is a condition operator, with its set
// prefix and IfExists suffix taken off.
func validOperator(op string) bool {
	for _, prefix := range []string{"ForAllValues:", "ForAnyValue:"} {
		if rest, ok := strings.CutPrefix(op, prefix); ok {
			op = rest
			break
		}
	}
	if rest, ok := strings.CutSuffix(op, "IfExists"); ok && rest != "Null" {
		op = rest
	}
	return contains(conditionOperators, op)
}
