package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/match"
)

var (
	accountRE = lazyRegexp(`^\d{12}$`)
	regionRE  = lazyRegexp(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$`)
	ruleRE    = lazyRegexp(`^[a-z0-9-]{1,64}$`)
	// IAM role names: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
	roleRE = lazyRegexp(`^[\w+=,.@-]{1,64}$`)
	// sts:ExternalId, AssumeRole: length 2 to 1224, pattern [\w+=,.@:\/-]*
	// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
	externalIDRE = lazyRegexp(`^[\w+=,.@:/-]*$`)
	// The prefix of a repository name, checked by appending "a": it can end
	// in a separator, since a source name always starts with a letter or digit.
	repositoryRE = lazyRegexp(`^` + match.RepositoryPattern + `$`)
	// KMS key ids, aliases and their ARNs, as ECR's kmsKey accepts them.
	kmsKeyIDRE    = lazyRegexp(`^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	kmsAliasRE    = lazyRegexp(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
	kmsARNRE      = lazyRegexp(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]):kms:([a-z0-9-]+):(\d{12}):(key/[0-9a-zA-Z-]+|alias/[a-zA-Z0-9/_-]+)$`)
	resourceTagRE = lazyRegexp(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// AWS resource tag limits (ECR TagResource and CreateRepository tags):
// https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Tag.html
const (
	maxTagKey   = 128
	maxTagValue = 256
	// AWS allows 50 tags per resource; Ferry keeps one (ferry:settings) to
	// know whether it finished applying a repository's settings.
	maxTags = 49
)

func (d *decoder) config(n *yaml.Node) *Config {
	o, ok := d.object(n, "", "a Ferry configuration", "version", "source", "externalId", "rules", "reconcile")
	if !ok {
		return nil
	}
	cfg := &Config{File: d.file}
	if v := o.require("version", "1"); v != nil {
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "1":
			d.errorf(v, "version", ErrInvalidValue, `"1" is a string; want the number 1 (version: 1, without quotes)`)
		case v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Value != "1":
			d.errorf(v, "version", ErrInvalidValue, "%s is not supported; want 1", describe(v))
		default:
			cfg.Version = 1
		}
	}
	if v := o.require("source", "a mapping with account and region"); v != nil {
		if src, ok := d.object(v, "source", "a mapping", "account", "region"); ok {
			if a := src.require("account", `the 12-digit source account id, quoted (e.g. "111111111111")`); a != nil {
				cfg.Source.Account = d.account(a, "source.account")
			}
			if r := src.require("region", `an AWS region such as "us-east-1"`); r != nil {
				cfg.Source.Region = d.region(r, "source.region")
			}
		}
	}
	cfg.ExternalID = DefaultExternalPrefix + cfg.Source.Account
	if v := o.get("externalId"); v != nil {
		if s, ok := d.str(v, "externalId", "a string"); ok {
			if len(s) < 2 || len(s) > 1224 || !externalIDRE.MatchString(s) {
				d.errorf(v, "externalId", ErrInvalidValue, "%q is not a valid sts:ExternalId (want 2 to 1224 letters, digits and _+=,.@:/-)", s)
			}
			cfg.ExternalID = s
		}
	}
	if v := o.require("rules", "a list of rules"); v != nil {
		cfg.Rules = d.rules(v, "rules", cfg.Source)
	}
	cfg.Reconcile = Reconcile{Schedule: DefaultReconcileSchedule}
	if v := o.get("reconcile"); v != nil {
		cfg.Reconcile = d.reconcile(v, "reconcile")
	}
	return cfg
}

// reconcile decodes the reconcile settings; an absent schedule is the
// default one.
func (d *decoder) reconcile(n *yaml.Node, path string) Reconcile {
	r := Reconcile{Schedule: DefaultReconcileSchedule}
	o, ok := d.object(n, path, "a mapping", "schedule")
	if !ok {
		return r
	}
	v := o.get("schedule")
	if v == nil {
		return r
	}
	p := join(path, "schedule")
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		d.errorf(v, p, ErrInvalidValue, "is the boolean %s; %s", v.Value, scheduleHelp)
		return r
	}
	s, ok := d.str(v, p, "a schedule expression such as rate(1 day), or off")
	if !ok {
		return r
	}
	if msg := checkSchedule(s); msg != "" {
		d.errorf(v, p, ErrInvalidValue, "%s", msg)
		return r
	}
	r.Schedule = s
	return r
}

func (d *decoder) account(n *yaml.Node, path string) string {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		d.errorf(n, path, ErrInvalidValue, "%s is an unquoted YAML number; quote it (%q) so it stays a 12-digit string with its leading zeros", n.Value, n.Value)
		return ""
	}
	s, ok := d.str(n, path, "a 12-digit account id in quotes")
	if !ok {
		return ""
	}
	if !accountRE.MatchString(s) {
		d.errorf(n, path, ErrInvalidValue, "%q is not an AWS account id (want 12 digits, quoted)", s)
		return ""
	}
	return s
}

func (d *decoder) region(n *yaml.Node, path string) string {
	s, ok := d.str(n, path, "an AWS region")
	if !ok {
		return ""
	}
	if !regionRE.MatchString(s) {
		d.errorf(n, path, ErrInvalidValue, "%q is not an AWS region (want e.g. \"us-east-1\", \"eu-west-2\", \"us-gov-west-1\")", s)
		return ""
	}
	return s
}

func (d *decoder) rules(n *yaml.Node, path string, source Source) []Rule {
	items, ok := d.list(n, path, "rules")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(n, path, ErrMissingField, "is empty; want at least one rule")
		return nil
	}
	rules := make([]Rule, 0, len(items))
	names := make(map[string]*yaml.Node)
	for i, item := range items {
		p := index(path, i)
		r, nameNode := d.rule(item, p, source)
		if nameNode != nil {
			if first, dup := names[r.Name]; dup {
				d.errorf(nameNode, join(p, "name"), ErrDuplicate, "rule name %q is already used at line %d; rule names must be unique", r.Name, first.Line)
			} else {
				names[r.Name] = nameNode
			}
		}
		rules = append(rules, r)
	}
	if len(d.errs) == 0 {
		d.overlaps(rules, items, source)
	}
	return rules
}

// rule decodes one rule; it returns the name's node when the name is valid.
func (d *decoder) rule(n *yaml.Node, path string, source Source) (Rule, *yaml.Node) {
	var r Rule
	o, ok := d.object(n, path, "a rule", "name", "repositories", "tags", "exclude", "iamScope", "destinations")
	if !ok {
		return r, nil
	}
	var nameNode *yaml.Node
	if v := o.require("name", "a rule name such as \"releases\" (1 to 64 of a-z, 0-9 and -)"); v != nil {
		if s, ok := d.str(v, join(path, "name"), "a rule name"); ok {
			if ruleRE.MatchString(s) {
				r.Name, nameNode = s, v
			} else {
				d.errorf(v, join(path, "name"), ErrInvalidValue, "%q is not a valid rule name (want 1 to 64 lowercase letters, digits and '-')", s)
			}
		}
	}
	errs := len(d.errs)
	if v := o.require("repositories", `a list of repository patterns, e.g. ["team/**"]`); v != nil {
		r.Repositories = d.patterns(v, join(path, "repositories"), "repository", true)
	}
	if v := o.require("tags", `a list of tag patterns, e.g. ["release-*"]`); v != nil {
		r.Tags = d.patterns(v, join(path, "tags"), "tag", true)
	}
	if v := o.get("exclude"); v != nil {
		if x, ok := d.object(v, join(path, "exclude"), "a mapping", "repositories", "tags"); ok {
			if v := x.get("repositories"); v != nil {
				r.Exclude.Repositories = d.patterns(v, join(path, "exclude.repositories"), "repository", false)
			}
			if v := x.get("tags"); v != nil {
				r.Exclude.Tags = d.patterns(v, join(path, "exclude.tags"), "tag", false)
			}
		}
	}
	if v := o.get("iamScope"); v != nil {
		r.IAMScope = d.iamScope(v, join(path, "iamScope"))
	}
	if len(d.errs) == errs {
		if err := r.compile(); err != nil {
			// Unreachable: every pattern compiled above.
			d.errorWrap(n, path, ErrInvalidValue, err)
		}
	}
	if v := o.require("destinations", "a list of destinations (account, region, ...)"); v != nil {
		r.Destinations = d.destinations(v, join(path, "destinations"), source)
	}
	return r, nameNode
}

// iamScopeRE is an IAM wildcard over repository names: the name grammar's
// characters, with * and ? anywhere.
var iamScopeRE = lazyRegexp(`^[a-z0-9._/*?-]{1,256}$`)

// iamScope decodes a rule's iamScope: the repository names, as IAM
// wildcards, that its grants cover instead of those derived from its
// patterns.
func (d *decoder) iamScope(n *yaml.Node, path string) []string {
	items, ok := d.list(n, path, "IAM repository wildcards")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(n, path, ErrMissingField, "is empty; want at least one repository wildcard such as \"svc-*\" (or leave iamScope out)")
		return nil
	}
	var out []string
	for i, item := range items {
		s, ok := d.str(item, index(path, i), "a repository wildcard")
		if !ok {
			continue
		}
		if !iamScopeRE.MatchString(s) {
			d.errorf(item, index(path, i), ErrInvalidValue, "%q is not an IAM wildcard over repository names (want lowercase letters, digits, '.', '_', '-', '/', with * and ? as wildcards, e.g. \"svc-*\")", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

// patterns decodes a list of patterns of repositories or tags.
func (d *decoder) patterns(n *yaml.Node, path, noun string, required bool) []string {
	items, ok := d.list(n, path, noun+" patterns")
	if !ok {
		return nil
	}
	if required && len(items) == 0 {
		d.errorf(n, path, ErrMissingField, "is empty; want at least one %s pattern", noun)
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		p := index(path, i)
		s, ok := d.str(item, p, "a pattern")
		if !ok {
			continue
		}
		pat, err := match.Compile(s)
		if err != nil {
			d.errorWrap(item, p, ErrInvalidValue, err)
			continue
		}
		if msg := impossible(pat, noun); msg != "" {
			d.errorf(item, p, ErrInvalidValue, "pattern %q %s", s, msg)
			continue
		}
		out = append(out, s)
	}
	return out
}

// impossible says why a pattern can never match a valid repository name
// or tag, or returns "".
func impossible(p match.Pattern, noun string) string {
	switch {
	case p.Kind() == match.Semver && noun == "repository":
		return "is a semver range, which only applies to tags; use a glob or /regular expression/ for repositories"
	case p.Kind() != match.Glob:
		return ""
	}
	allowed := "abcdefghijklmnopqrstuvwxyz0123456789._-/*?"
	rule := "repository names use only lowercase letters, digits, '.', '_', '-' and '/'"
	if noun == "tag" {
		allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*?"
		rule = "tags use only letters, digits, '.', '_' and '-'"
	}
	for _, r := range p.String() {
		if !strings.ContainsRune(allowed, r) {
			return fmt.Sprintf("can never match: it contains %q, but %s", r, rule)
		}
	}
	return ""
}

func (d *decoder) destinations(n *yaml.Node, path string, source Source) []Destination {
	items, ok := d.list(n, path, "destinations")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.errorf(n, path, ErrMissingField, "is empty; want at least one destination")
		return nil
	}
	out := make([]Destination, 0, len(items))
	seen := make(map[string]*yaml.Node)
	for i, item := range items {
		p := index(path, i)
		dst, ok := d.destination(item, p, source)
		if !ok {
			continue
		}
		if first, dup := seen[dst.ID()]; dup {
			d.errorf(item, p, ErrDuplicate, "destination %s is already listed in this rule at line %d; list each account and region once per rule", dst.ID(), first.Line)
			continue
		}
		seen[dst.ID()] = item
		out = append(out, dst)
	}
	return out
}

// destination decodes one destination; ok is false if its account or
// region is unusable.
func (d *decoder) destination(n *yaml.Node, path string, source Source) (Destination, bool) {
	dst := Destination{Role: DefaultRole, Approval: ApprovalNone, OnExistingTag: ExistingTagFail, OnSourceDelete: SourceDeleteKeep}
	o, ok := d.object(n, path, "a destination", "account", "region", "role", "repository", "approval", "onExistingTag", "onSourceDelete", "settings", "gates")
	if !ok {
		return dst, false
	}
	if v := o.require("account", `the 12-digit destination account id, quoted (e.g. "222222222222")`); v != nil {
		dst.Account = d.account(v, join(path, "account"))
	}
	if v := o.require("region", `an AWS region such as "eu-west-1"`); v != nil {
		dst.Region = d.region(v, join(path, "region"))
	}
	if v := o.get("role"); v != nil {
		if s, ok := d.str(v, join(path, "role"), "an IAM role name"); ok {
			if roleRE.MatchString(s) {
				dst.Role = s
			} else {
				d.errorf(v, join(path, "role"), ErrInvalidValue, "%q is not an IAM role name (want 1 to 64 letters, digits and _+=,.@-; a name, not an ARN)", s)
			}
		}
	}
	var renameNode *yaml.Node
	renameOK := true
	if v := o.get("repository"); v != nil {
		renameNode = v
		errs := len(d.errs)
		if r, ok := d.object(v, join(path, "repository"), "a rename", "prefix", "stripPrefix"); ok {
			dst.Repository.Prefix = d.namePrefix(r.get("prefix"), join(path, "repository.prefix"))
			dst.Repository.StripPrefix = d.stripPrefix(r.get("stripPrefix"), join(path, "repository.stripPrefix"))
		}
		renameOK = len(d.errs) == errs
	}
	var existingNode *yaml.Node
	if v := o.get("approval"); v != nil {
		if s, ok := d.str(v, join(path, "approval"), `"required" or "none"`); ok {
			switch a := Approval(s); a {
			case ApprovalRequired, ApprovalNone:
				dst.Approval = a
			default:
				d.errorf(v, join(path, "approval"), ErrInvalidValue, "%q is not an approval mode (want \"required\" or \"none\")", s)
			}
		}
	}
	if v := o.get("onExistingTag"); v != nil {
		existingNode = v
		if s, ok := d.str(v, join(path, "onExistingTag"), `"fail" or "overwrite"`); ok {
			switch e := ExistingTag(s); e {
			case ExistingTagFail, ExistingTagOverwrite:
				dst.OnExistingTag = e
			default:
				d.errorf(v, join(path, "onExistingTag"), ErrInvalidValue, "%q is not a valid choice (want \"fail\", which keeps the existing tag, or \"overwrite\")", s)
			}
		}
	}
	var deleteNode *yaml.Node
	if v := o.get("onSourceDelete"); v != nil {
		deleteNode = v
		if s, ok := d.str(v, join(path, "onSourceDelete"), `"keep" or "untag"`); ok {
			switch e := SourceDelete(s); e {
			case SourceDeleteKeep, SourceDeleteUntag:
				dst.OnSourceDelete = e
			default:
				d.errorf(v, join(path, "onSourceDelete"), ErrInvalidValue, "%q is not a valid choice (want \"keep\", which leaves the destination's tag, or \"untag\", which removes it while it is still at the deleted image)", s)
			}
		}
	}
	dst.Settings.Encryption.Type = EncryptionAES256
	if v := o.get("settings"); v != nil {
		dst.Settings = d.settings(v, join(path, "settings"), dst.Region)
	}
	if v := o.get("gates"); v != nil {
		dst.Gates = d.gates(v, join(path, "gates"))
	}

	if dst.OnExistingTag == ExistingTagOverwrite && dst.Settings.TagImmutability {
		d.errorf(existingNode, join(path, "onExistingTag"), ErrConflict, `"overwrite" cannot work with settings.tagImmutability: true (ECR refuses to move an immutable tag); use onExistingTag: fail or tagImmutability: false`)
	}
	if dst.OnSourceDelete == SourceDeleteUntag && dst.Settings.TagImmutability {
		d.errorf(deleteNode, join(path, "onSourceDelete"), ErrConflict, `"untag" cannot work with settings.tagImmutability: true (Ferry never removes an immutable tag); use onSourceDelete: keep or tagImmutability: false`)
	}
	if dst.Account == "" || dst.Region == "" {
		return dst, false
	}
	if renameOK && dst.ID() == source.ID() && dst.Repository.Prefix == dst.Repository.StripPrefix {
		at := n
		if renameNode != nil {
			at = renameNode
		}
		if dst.Repository.Prefix == "" {
			d.errorf(at, path, ErrConflict, "destination %s is the source registry and has no rename, so every image would be copied onto itself; add repository.prefix, or remove this destination", dst.ID())
		} else {
			d.errorf(at, path, ErrConflict, "destination %s is the source registry and repository.prefix equals repository.stripPrefix, so images would be copied onto themselves; change the prefix", dst.ID())
		}
	}
	return dst, true
}

// namePrefix checks a rename prefix: with a repository name after it, it
// must still be a valid repository name.
func (d *decoder) namePrefix(n *yaml.Node, path string) string {
	if n == nil {
		return ""
	}
	s, ok := d.str(n, path, "a repository name prefix")
	if !ok {
		return ""
	}
	if len(s) > match.MaxRepositoryLength-1 || !repositoryRE.MatchString(s+"a") {
		d.errorf(n, path, ErrInvalidValue, "%q cannot start a repository name (want lowercase letters and digits, with single '.', '_', '-' or '/' between them, e.g. \"mirror/\" or \"team-\")", s)
		return ""
	}
	return s
}

// stripPrefix is a namePrefix that ends where a name part does ("/", "-",
// "_" or "."): "team" would turn team/app into "/app", which no registry
// takes, where "team/" gives "app".
func (d *decoder) stripPrefix(n *yaml.Node, path string) string {
	s := d.namePrefix(n, path)
	if s == "" || strings.ContainsAny(s[len(s)-1:], "/-_.") {
		return s
	}
	d.errorf(n, path, ErrInvalidValue, "%q ends in the middle of a name part, so %s/app would become \"/app\", which is not a repository name; end it with \"/\", \"-\", \"_\" or \".\" (e.g. %q)", s, s, s+"/")
	return ""
}

func (d *decoder) settings(n *yaml.Node, path, region string) RepositorySettings {
	s := RepositorySettings{Encryption: Encryption{Type: EncryptionAES256}}
	o, ok := d.object(n, path, "a mapping", "tagImmutability", "scanOnPush", "encryption", "lifecyclePolicy", "repositoryPolicy", "tags")
	if !ok {
		return s
	}
	if v := o.get("tagImmutability"); v != nil {
		s.TagImmutability = d.boolean(v, join(path, "tagImmutability"))
	}
	if v := o.get("scanOnPush"); v != nil {
		s.ScanOnPush = d.boolean(v, join(path, "scanOnPush"))
	}
	if v := o.get("encryption"); v != nil {
		s.Encryption = d.encryption(v, join(path, "encryption"), region)
	}
	if v := o.get("lifecyclePolicy"); v != nil {
		s.LifecyclePolicy = d.policy(v, join(path, "lifecyclePolicy"), "rules", `{"rules":[{"rulePriority":1,"selection":{...},"action":{"type":"expire"}}]}`)
		d.lifecyclePolicy(v, join(path, "lifecyclePolicy"), s.LifecyclePolicy)
	}
	if v := o.get("repositoryPolicy"); v != nil {
		s.RepositoryPolicy = d.policy(v, join(path, "repositoryPolicy"), "Statement", `{"Version":"2012-10-17","Statement":[...]}`)
		d.repositoryPolicy(v, join(path, "repositoryPolicy"), s.RepositoryPolicy)
	}
	if v := o.get("tags"); v != nil {
		s.Tags = d.resourceTags(v, join(path, "tags"))
	}
	return s
}

func (d *decoder) encryption(n *yaml.Node, path, region string) Encryption {
	e := Encryption{Type: EncryptionAES256}
	o, ok := d.object(n, path, "a mapping", "type", "kmsKey")
	if !ok {
		return e
	}
	if v := o.get("type"); v != nil {
		if s, ok := d.str(v, join(path, "type"), `"AES256" or "KMS"`); ok {
			switch s {
			case EncryptionAES256, EncryptionKMS:
				e.Type = s
			default:
				d.errorf(v, join(path, "type"), ErrInvalidValue, "%q is not an encryption type (want \"AES256\", the default, or \"KMS\")", s)
				return e
			}
		}
	}
	v := o.get("kmsKey")
	if v == nil {
		return e
	}
	key, ok := d.str(v, join(path, "kmsKey"), "a KMS key ARN, key id or alias")
	if !ok {
		return e
	}
	if e.Type != EncryptionKMS {
		d.errorf(v, join(path, "kmsKey"), ErrConflict, "kmsKey needs type: KMS (the type is %s); set type: KMS or remove kmsKey", e.Type)
		return e
	}
	if m := kmsARNRE.FindStringSubmatch(key); m != nil {
		if region != "" && m[2] != region {
			d.errorf(v, join(path, "kmsKey"), ErrConflict, "the key is in %s but the destination is in %s; ECR needs a KMS key in the repository's own region", m[2], region)
			return e
		}
	} else if !kmsKeyIDRE.MatchString(key) && !kmsAliasRE.MatchString(key) {
		d.errorf(v, join(path, "kmsKey"), ErrInvalidValue, "%q is not a KMS key (want a key ARN \"arn:aws:kms:REGION:ACCOUNT:key/ID\", a key id, or an alias \"alias/NAME\")", key)
		return e
	}
	e.KMSKey = key
	return e
}

// policy checks that a policy is JSON text for an object with the given
// top-level key.
func (d *decoder) policy(n *yaml.Node, path, key, example string) string {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		d.errorf(n, path, ErrInvalidValue, "is %s; want JSON text in a string, e.g. a block scalar (%s: |) holding %s", describe(n), path[strings.LastIndex(path, ".")+1:], example)
		return ""
	}
	s, ok := d.str(n, path, "JSON text")
	if !ok {
		return ""
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			d.errorWrap(n, path, ErrInvalidValue, fmt.Errorf("is not valid JSON (at byte %d of the text): %w; want %s", syn.Offset, err, example))
		} else {
			d.errorWrap(n, path, ErrInvalidValue, fmt.Errorf("is not a JSON object: %w; want %s", err, example))
		}
		return ""
	}
	if _, ok := obj[key]; !ok {
		d.errorf(n, path, ErrInvalidValue, "the JSON object has no %q key; want %s", key, example)
		return ""
	}
	return s
}

func (d *decoder) resourceTags(n *yaml.Node, path string) map[string]string {
	n = d.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, ErrInvalidValue, "is %s; want a mapping of tag keys to values, e.g. {team: platform}", describe(n))
		return nil
	}
	tags := make(map[string]string)
	lines := make(map[string]int)
	pairs := d.pairs(n, path)
	if len(pairs) > maxTags {
		d.errorf(n, path, ErrInvalidValue, "has %d tags; at most %d (AWS allows 50 per resource and Ferry uses one, ferry:settings)", len(pairs), maxTags)
	}
	for _, f := range pairs {
		k, v := f.key, d.resolve(f.value)
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, ErrInvalidValue, "a tag key is %s; want a string", describe(k))
			continue
		}
		p := join(path, k.Value)
		if line, dup := lines[k.Value]; dup {
			if isOwnKey(n, k) {
				d.errorf(k, p, ErrDuplicate, "tag key %q is given twice (first at line %d)", k.Value, line)
			}
			continue
		}
		lines[k.Value] = k.Line
		switch l := utf8.RuneCountInString(k.Value); {
		case l < 1 || l > maxTagKey:
			d.errorf(k, p, ErrInvalidValue, "tag key is %d characters; want 1 to %d", l, maxTagKey)
			continue
		case strings.HasPrefix(strings.ToLower(k.Value), "aws:"):
			d.errorf(k, p, ErrInvalidValue, "tag key %q uses the reserved prefix \"aws:\"; choose another key", k.Value)
			continue
		case strings.HasPrefix(strings.ToLower(k.Value), "ferry:"):
			// ferry:settings marks a repository whose settings Ferry has
			// not finished; the destination role's IAM conditions rely on
			// no one else setting it.
			d.errorf(k, p, ErrInvalidValue, "tag key %q uses the prefix \"ferry:\", which Ferry keeps for its own markers (ferry:settings); choose another key", k.Value)
			continue
		case !resourceTagRE.MatchString(k.Value):
			d.errorf(k, p, ErrInvalidValue, "tag key %q has a character AWS does not allow (want letters, digits, spaces and _.:/=+-@)", k.Value)
			continue
		}
		value := ""
		if v != nil && !isNull(v) {
			s, ok := d.str(v, p, "a tag value (a string)")
			if !ok {
				continue
			}
			value = s
		}
		if l := utf8.RuneCountInString(value); l > maxTagValue {
			d.errorf(v, p, ErrInvalidValue, "tag value is %d characters; want at most %d", l, maxTagValue)
			continue
		}
		if !resourceTagRE.MatchString(value) {
			d.errorf(v, p, ErrInvalidValue, "tag value %s has a character AWS does not allow (want letters, digits, spaces and _.:/=+-@)", strconv.Quote(value))
			continue
		}
		tags[k.Value] = value
	}
	return tags
}
