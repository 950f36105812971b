package stacks

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/workflow"
)

// This file derives, from a configuration, the IAM resources Ferry's roles
// need: plain Go, no CDK, so the rules are easy to read and to test.

// Function names, defined with their handlers (internal/workflow). They
// name the Lambdas, their execution roles (which the destination roles'
// trust policies name), their asset directories
// (bin/lambda/<name>/bootstrap) and their alarms: a contract, see
// docs/contracts.md.
const (
	FnValidate           = workflow.FnValidate
	FnCheckGates         = workflow.FnCheckGates
	FnAssumeRole         = workflow.FnAssumeRole
	FnEnsureRepository   = workflow.FnEnsureRepository
	FnCopyImage          = workflow.FnCopyImage
	FnVerify             = workflow.FnVerify
	FnSummarize          = workflow.FnSummarize
	FnApprovalRequest    = workflow.FnApprovalRequest
	FnApprovalCallback   = workflow.FnApprovalCallback
	FnDiscover           = workflow.FnDiscover
	FnReconcileSummarize = workflow.FnReconcileSummarize
)

// FunctionNames lists every Lambda, in workflow order: the push path's,
// then the reconcile's own.
var FunctionNames = []string{
	FnValidate, FnCheckGates, FnAssumeRole, FnEnsureRepository, FnCopyImage, FnVerify,
	FnSummarize, FnApprovalRequest, FnApprovalCallback,
	FnDiscover, FnReconcileSummarize,
}

// ReplicateFunctions and ReconcileFunctions are the functions each state
// machine invokes; the per-destination steps and the approval request are
// shared.
var (
	ReplicateFunctions = []string{FnValidate, FnCheckGates, FnAssumeRole, FnEnsureRepository, FnCopyImage, FnVerify, FnSummarize, FnApprovalRequest}
	ReconcileFunctions = []string{FnDiscover, FnAssumeRole, FnEnsureRepository, FnCopyImage, FnVerify, FnReconcileSummarize, FnApprovalRequest}
)

// SourceReaders are the functions that read the source repositories'
// images. The GateCheckers read them too (an index's platform images, its
// signatures) when a destination has gates.
var SourceReaders = []string{FnValidate, FnCopyImage, FnVerify}

// Gate actions, for the functions that check gates (GateCheckers): the
// scan findings of the rules' source repositories and their scan-on-push
// setting (GateScanActions, on those repositories), whether the registry
// scans them (GateRegistryActions, which have no resource-level
// permissions), and the configured KMS keys' public keys (GateKMSActions,
// on those keys only: internal/gate verifies with the public key locally,
// so kms:Verify is not needed).
var (
	GateScanActions     = []string{"ecr:DescribeImageScanFindings", "ecr:DescribeRepositories"}
	GateRegistryActions = []string{"ecr:GetRegistryScanningConfiguration"}
	GateKMSActions      = []string{"kms:GetPublicKey"}
)

// GateCheckers are the functions that check a destination's gates: the
// replicate workflow's CheckGates, and the reconcile's Discover, which
// checks them before it asks for approvals or lists a job (so Discover
// also reads source images, their manifests and signatures, when any
// destination has gates).
var GateCheckers = []string{FnCheckGates, FnDiscover}

// Gated reports whether any destination has gates.
func Gated(cfg *config.Config) bool {
	for _, r := range cfg.Rules {
		for _, d := range r.Destinations {
			if d.Gates.Any() {
				return true
			}
		}
	}
	return false
}

// GateKMSKeyARNs are the KMS keys of every signature gate, once each,
// sorted: the only keys CheckGates may use.
func GateKMSKeyARNs(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Rules {
		for _, d := range r.Destinations {
			if d.Gates.Signature == nil {
				continue
			}
			for _, k := range d.Gates.Signature.Keys {
				if k.KMS != "" {
					out = append(out, k.KMS)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SourceListers are the functions that list the source registry: every
// repository (ecr:DescribeRepositories, which without repository names is
// authorized on repository/*) and the images of the rules' repositories,
// without reading any image.
var SourceListers = []string{FnDiscover}

// SourceListActions list the images of the rules' source repositories.
var SourceListActions = []string{"ecr:DescribeImages"}

// DestinationAssumers are the functions that assume destination roles, and
// so the only principals the destination roles trust: the readers only
// with the session tag ferry-access=read, the writers only with
// ferry-access=write, the admins only with ferry-access=admin
// (ecr.TagAccess). The roles push images only in write sessions, and
// create, tag and set up repositories only in admin sessions, so
// AssumeRole, Verify and Discover (which lists what each destination
// holds) can look but never change anything, and CopyImage can push but
// never change a repository's tags or policies.
var (
	DestinationReaders  = []string{FnAssumeRole, FnVerify, FnDiscover}
	DestinationWriters  = []string{FnCopyImage}
	DestinationAdmins   = []string{FnEnsureRepository}
	DestinationAssumers = []string{FnAssumeRole, FnEnsureRepository, FnCopyImage, FnVerify, FnDiscover}
)

// Source repository actions: read an image and its layers, list tags.
var SourceActions = []string{
	"ecr:BatchCheckLayerAvailability",
	"ecr:BatchGetImage",
	"ecr:DescribeImages",
	"ecr:GetDownloadUrlForLayer",
	"ecr:ListImages",
}

// What a destination role may do on the repositories its rules can write:
// DestinationReadActions in any Ferry session; the push and untag actions
// only in a session tagged ferry-access=write; creating, tagging and
// setting up a repository only in a session tagged ferry-access=admin, and
// the repository settings only on a repository Ferry created and has not
// finished setting up (its ferry:settings tag is pending), never on one it
// found.
var (
	DestinationReadActions = []string{
		"ecr:BatchCheckLayerAvailability",
		"ecr:BatchGetImage",
		"ecr:DescribeImages",
		"ecr:DescribeRepositories",
		"ecr:GetDownloadUrlForLayer",
		"ecr:ListImages",
		"ecr:ListTagsForResource",
	}
	DestinationPushActions = []string{
		"ecr:CompleteLayerUpload",
		"ecr:InitiateLayerUpload",
		"ecr:PutImage",
		"ecr:UploadLayerPart",
	}
	// DestinationCreateActions need the request to mark the repository
	// pending; DestinationSetUpActions need the repository to be pending.
	// ecr:TagResource is allowed twice: to set the pending marker with the
	// configured tags (ECR checks it for the tags CreateRepository sets,
	// when the repository has no tags yet, so that statement cannot ask
	// for a resource tag), and to turn a pending marker into applied. Both
	// only in admin sessions, which only EnsureRepository's role may
	// start: CopyImage's write sessions cannot mark a repository pending
	// to set its policies.
	DestinationCreateActions = []string{"ecr:CreateRepository"}
	DestinationSetUpActions  = []string{"ecr:PutLifecyclePolicy", "ecr:SetRepositoryPolicy"}
	DestinationTagActions    = []string{"ecr:TagResource"}
	// DestinationUntagActions remove a tag deleted in the source: only on
	// the repositories of destinations with onSourceDelete: untag
	// (AccessRole.UntagRepositories). ECR has no untag action of its own;
	// BatchDeleteImage by tag removes the tag (and the image with its
	// last tag).
	DestinationUntagActions = []string{"ecr:BatchDeleteImage"}
)

// ViaECR is the kms:ViaService value of requests ECR makes for a caller,
// in any region.
const ViaECR = "ecr.*.amazonaws.com"

// KMSActions let ECR use a customer managed key for a repository Ferry
// creates and for the images it pushes there; KMSGrantActions let ECR
// give itself a grant on the key when it creates the repository, only
// with kms:GrantIsForAWSResource (a grant for an AWS service, never one
// for a principal of the caller's choosing).
var (
	KMSActions = []string{
		"kms:Decrypt",
		"kms:DescribeKey",
		"kms:Encrypt",
		"kms:GenerateDataKey*",
	}
	KMSGrantActions = []string{"kms:CreateGrant"}
)

// maxRoleName is IAM's limit on role names.
const maxRoleName = 64

// SourceRoleName is the fixed name of a source Lambda's execution role. It
// is predictable, so destination stacks in other accounts can trust it by
// ARN without a cross-stack reference: "<stack>-<region>-<function>".
func SourceRoleName(stackName, region, function string) string {
	return fmt.Sprintf("%s-%s-%s", stackName, region, function)
}

// SourceRoleARN is the ARN of SourceRoleName in the source account.
func SourceRoleARN(src config.Source, stackName, function string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", config.Partition(src.Region), src.Account,
		SourceRoleName(stackName, src.Region, function))
}

// CheckStackName reports whether every role name derived from stackName
// fits IAM's limits.
func CheckStackName(stackName, region string) error {
	if stackName == "" {
		return fmt.Errorf("stack name is empty")
	}
	for _, r := range stackName {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("stack name %q: want letters, digits and hyphens only", stackName)
		}
	}
	for _, fn := range FunctionNames {
		if n := SourceRoleName(stackName, region, fn); len(n) > maxRoleName {
			return fmt.Errorf("stack name %q is too long: role name %q has %d characters, IAM allows %d",
				stackName, n, len(n), maxRoleName)
		}
	}
	return nil
}

// RepositoryWildcard turns a repository pattern into an IAM resource
// wildcard that covers every name it can match: a glob keeps its literal
// text, with each run of "*" (which may or may not cross "/") becoming one
// "*" and "?" kept as IAM's "?"; a regular expression becomes the literal
// prefix its matches start with (RegexpWildcard). ok is false when no
// wildcard short of every repository covers the pattern: a regular
// expression that is not anchored with "^", or has no literal text after
// it.
//
// IAM's "*" crosses "/", so a wildcard can cover more names than its glob
// matches ("team/*" covers "team/a/b" too); the glob "**" (or "*") becomes
// "*", every repository, which the rule asked for.
func RepositoryWildcard(pattern string) (w string, ok bool) {
	p, err := match.Compile(pattern)
	if err != nil {
		return "", false
	}
	switch p.Kind() {
	case match.Glob:
	case match.Regexp:
		return RegexpWildcard(strings.TrimSuffix(strings.TrimPrefix(pattern, "/"), "/"))
	default:
		// Semver ranges apply to tags only; config refuses them for
		// repositories.
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '*' {
			for i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
			}
		}
		b.WriteByte(pattern[i])
	}
	return b.String(), true
}

// RegexpWildcard is the IAM wildcard over repository names that covers
// every name the regular expression expr (RE2 syntax, without the
// slashes) matches: the literal text that follows its leading "^" (or
// "\A"), then "*"; the text alone when "$" (or "\z") follows it and
// nothing else. "^svc-[a-z]+$" gives "svc-*", "^svc-api$" gives "svc-api".
// ok is false when there is no such text: an unanchored expression
// matches anywhere in a name, so it can match any name.
//
// It reads the expression's syntax tree (regexp/syntax), descending into
// groups and repeats that Simplify writes out; it stops at the first
// character class, alternation, optional or repeated part, and at any
// character a repository name cannot hold, which keeps the prefix sound
// (every match starts with it) if shorter than it might be. A
// case-insensitive letter stands for its lowercase form, the only one a
// repository name can hold.
func RegexpWildcard(expr string) (w string, ok bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	// "^" is OpBeginText; in (?m) mode it is OpBeginLine, which anchors a
	// repository name just as well (a name has no line breaks).
	if len(parts) == 0 || parts[0].Op != syntax.OpBeginText && parts[0].Op != syntax.OpBeginLine {
		return "", false
	}
	var b strings.Builder
	rest := parts[1:]
	i := 0
	for i < len(rest) && literalText(&b, rest[i]) {
		i++
	}
	exact := i == len(rest)-1 && rest[i].Op == syntax.OpEndText
	lit := b.String()
	if j := strings.IndexFunc(lit, func(r rune) bool { return !isRepositoryNameRune(r) }); j >= 0 {
		lit, exact = lit[:j], false
	}
	switch {
	case lit == "":
		return "", false
	case exact:
		return lit, true
	}
	return lit + "*", true
}

// literalText appends to b the literal text every match of re starts
// with, and reports whether re matches exactly that text and nothing else
// (so what follows re continues the prefix).
func literalText(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				if r >= utf8.RuneSelf {
					return false
				}
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		return true
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpCapture:
		return literalText(b, re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !literalText(b, s) {
				return false
			}
		}
		return true
	}
	return false
}

// isRepositoryNameRune reports whether r can appear in an ECR repository
// name (lowercase letters, digits, '.', '_', '-' and '/'); a wildcard
// character ("*", "?") never can.
func isRepositoryNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)
}

// literalPrefix is the text of an IAM wildcard before its first "*" or "?".
func literalPrefix(w string) string {
	if i := strings.IndexAny(w, "*?"); i >= 0 {
		return w[:i]
	}
	return w
}

// RenamedWildcard applies a destination's rename to a repository wildcard,
// widening it where the wildcard part could hold the stripped prefix.
func RenamedWildcard(w string, r config.Rename) string {
	if r.StripPrefix == "" {
		return r.Prefix + w
	}
	lit := literalPrefix(w)
	switch {
	case strings.HasPrefix(lit, r.StripPrefix):
		// Every name starts with the prefix: it is always stripped.
		return r.Prefix + strings.TrimPrefix(w, r.StripPrefix)
	case strings.HasPrefix(r.StripPrefix, lit) && lit != w:
		// Some names may start with it and some not: anything after Prefix.
		return r.Prefix + "*"
	default:
		// No name starts with it: the names are only prefixed.
		return r.Prefix + w
	}
}

// collapse sorts and deduplicates wildcards; if one is "*" it is the only
// one kept.
func collapse(ws []string) []string {
	if slices.Contains(ws, "*") {
		return []string{"*"}
	}
	out := slices.Clone(ws)
	slices.Sort(out)
	return slices.Compact(out)
}

// RuleWildcards are the IAM wildcards over source repository names that a
// rule's grants cover: its iamScope as written when it has one, else one
// per repository pattern (RepositoryWildcard), "*" for a pattern without
// one. Synth refuses a "*" the rule did not ask for
// (CheckRepositoryScopes).
func RuleWildcards(r config.Rule) []string {
	var ws []string
	for _, s := range ruleScopes(r) {
		ws = append(ws, s.wildcard)
	}
	return ws
}

// ruleScope is one of a rule's wildcards and where it came from.
type ruleScope struct {
	from     string // `iamScope "svc-*"` or `repository pattern "/^svc-/"`
	wildcard string
	derived  bool // false for a regular expression with no literal prefix (wildcard "*")
}

func ruleScopes(r config.Rule) []ruleScope {
	var out []ruleScope
	if len(r.IAMScope) > 0 {
		for _, w := range r.IAMScope {
			out = append(out, ruleScope{from: fmt.Sprintf("iamScope %q", w), wildcard: w, derived: true})
		}
		return out
	}
	for _, p := range r.Repositories {
		w, ok := RepositoryWildcard(p)
		if !ok {
			w = "*"
		}
		out = append(out, ruleScope{from: fmt.Sprintf("repository pattern %q", p), wildcard: w, derived: ok})
	}
	return out
}

// CheckRepositoryScopes refuses a configuration whose grants would let a
// destination role write every repository of its registry
// (repository/*) without the configuration asking for every repository,
// with the glob "**" (or "*") or iamScope: ["*"]. That happens to a
// destination without a rename prefix when a rule has no iamScope and a
// regular expression no IAM wildcard can follow (no literal prefix after
// a leading "^", RepositoryWildcard), or when the destination strips the
// whole literal prefix of a wildcard.
func CheckRepositoryScopes(cfg *config.Config) error {
	var errs []error
	for i, r := range cfg.Rules {
		for _, d := range r.Destinations {
			for _, s := range ruleScopes(r) {
				if s.derived && s.wildcard == "*" || RenamedWildcard(s.wildcard, d.Repository) != "*" {
					// Asked for every repository, or narrower than that.
					continue
				}
				if !s.derived {
					errs = append(errs, fmt.Errorf("rules[%d] (%q): %s has no literal prefix after a leading \"^\", "+
						"so its IAM grants would cover every repository (repository/*) in %s; "+
						"to fix it, write the pattern as a glob (\"svc-*\"), anchor it with a literal prefix (\"/^svc-[a-z]+$/\"), "+
						"give the destination a rename prefix (repository.prefix), "+
						"or give the rule an iamScope of the repositories it may touch (iamScope: [\"svc-*\"]; [\"*\"] for every repository)",
						i, r.Name, s.from, d.ID()))
					continue
				}
				errs = append(errs, fmt.Errorf("rules[%d] (%q): destination %s strips %q from %s (IAM %q) and adds no prefix, "+
					"so its IAM grants would cover every repository (repository/*) there; "+
					"to fix it, give the destination a rename prefix (repository.prefix), "+
					"or, if it may write every repository, say so with iamScope: [\"*\"] on the rule",
					i, r.Name, d.ID(), d.Repository.StripPrefix, s.from, s.wildcard))
			}
		}
	}
	return errors.Join(errs...)
}

// SourceRepositoryARNs are the source repositories the rules can read, as
// IAM resources (RuleWildcards).
func SourceRepositoryARNs(cfg *config.Config) []string {
	var ws []string
	for _, r := range cfg.Rules {
		ws = append(ws, RuleWildcards(r)...)
	}
	var out []string
	for _, w := range collapse(ws) {
		out = append(out, repositoryARN(cfg.Source.Account, cfg.Source.Region, w))
	}
	return out
}

// DestinationRoleARNs are the roles the source Lambdas may assume: every
// destination's, once each, sorted.
func DestinationRoleARNs(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.Rules {
		for _, d := range r.Destinations {
			out = append(out, d.RoleARN())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SourceRegistryARN is every repository of the source registry, the
// resource of a registry-wide ecr:DescribeRepositories.
func SourceRegistryARN(src config.Source) string {
	return repositoryARN(src.Account, src.Region, "*")
}

func repositoryARN(account, region, wildcard string) string {
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", config.Partition(region), region, account, wildcard)
}

// AccessRole is one destination role: what Ferry may do in one account
// under one role name.
type AccessRole struct {
	Name         string
	Repositories []string // repository ARNs, possibly with wildcards
	// UntagRepositories are the Repositories of the destinations that
	// remove a tag deleted in the source (onSourceDelete: untag), collapsed
	// the same way; empty if none does.
	UntagRepositories []string
	// TagKeys are the keys of the tags (settings.tags) its destinations
	// give the repositories Ferry creates, sorted, without Ferry's marker
	// (ecr.SettingsTag): the only keys the role may tag with besides it.
	TagKeys    []string
	KMSKeys    []string // key ARNs
	KMSAliases []KMSAlias
}

// KMSAlias is a key named by alias. IAM cannot grant use of a key by alias
// ARN (the request's resource is the key), so it is granted on the region's
// keys with a kms:ResourceAliases condition.
type KMSAlias struct {
	Account, Region, Alias string // Alias is "alias/name"
}

// KeysARN is the ARN pattern of every key in the alias's account and region.
func (a KMSAlias) KeysARN() string {
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/*", config.Partition(a.Region), a.Region, a.Account)
}

// Access is everything Ferry needs in one destination account.
type Access struct {
	Account string
	Region  string // the first region the rules use in the account
	Roles   []AccessRole
}

// DestinationAccess groups the configuration's destinations by account, in
// order of first appearance, with one role per role name used there.
func DestinationAccess(cfg *config.Config) []Access {
	var out []Access
	index := make(map[string]int)
	for _, rule := range cfg.Rules {
		for _, d := range rule.Destinations {
			i, ok := index[d.Account]
			if !ok {
				i = len(out)
				index[d.Account] = i
				out = append(out, Access{Account: d.Account, Region: d.Region})
			}
			a := &out[i]
			name := d.Role
			if name == "" {
				name = config.DefaultRole
			}
			j := slices.IndexFunc(a.Roles, func(r AccessRole) bool { return r.Name == name })
			if j < 0 {
				j = len(a.Roles)
				a.Roles = append(a.Roles, AccessRole{Name: name})
			}
			role := &a.Roles[j]
			for k := range d.Settings.Tags {
				role.TagKeys = append(role.TagKeys, k)
			}
			for _, rw := range RuleWildcards(rule) {
				w := RenamedWildcard(rw, d.Repository)
				arn := repositoryARN(d.Account, d.Region, w)
				role.Repositories = append(role.Repositories, arn)
				if untags(d) {
					role.UntagRepositories = append(role.UntagRepositories, arn)
				}
			}
			if key := d.Settings.Encryption.KMSKey; d.Settings.Encryption.Type == config.EncryptionKMS && key != "" {
				if alias, ok := kmsAlias(key, d); ok {
					role.KMSAliases = append(role.KMSAliases, alias)
				} else {
					role.KMSKeys = append(role.KMSKeys, kmsKeyARN(key, d))
				}
			}
		}
	}
	for i := range out {
		for j := range out[i].Roles {
			r := &out[i].Roles[j]
			r.Repositories = collapseARNs(r.Repositories)
			r.UntagRepositories = collapseARNs(r.UntagRepositories)
			slices.Sort(r.TagKeys)
			r.TagKeys = slices.Compact(r.TagKeys)
			slices.Sort(r.KMSKeys)
			r.KMSKeys = slices.Compact(r.KMSKeys)
			slices.SortFunc(r.KMSAliases, func(a, b KMSAlias) int {
				return strings.Compare(a.Region+a.Alias, b.Region+b.Alias)
			})
			r.KMSAliases = slices.Compact(r.KMSAliases)
		}
	}
	return out
}

// collapseARNs sorts and deduplicates repository ARNs, keeping only
// "repository/*" in a region that has it.
func collapseARNs(arns []string) []string {
	all := make(map[string]bool) // ARN prefixes up to "repository/" that have "*"
	for _, a := range arns {
		if strings.HasSuffix(a, ":repository/*") {
			all[strings.TrimSuffix(a, "*")] = true
		}
	}
	var out []string
	for _, a := range arns {
		i := strings.Index(a, ":repository/") + len(":repository/")
		if all[a[:i]] && a[i:] != "*" {
			continue
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// kmsKeyARN returns the ARN of a key given as an ARN or a key id, in the
// destination's account and region.
func kmsKeyARN(key string, d config.Destination) string {
	if strings.HasPrefix(key, "arn:") {
		return key
	}
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", config.Partition(d.Region), d.Region, d.Account, key)
}

// kmsAlias reports whether key names an alias ("alias/x" or an alias ARN).
func kmsAlias(key string, d config.Destination) (KMSAlias, bool) {
	if strings.HasPrefix(key, "alias/") {
		return KMSAlias{Account: d.Account, Region: d.Region, Alias: key}, true
	}
	// arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME
	parts := strings.SplitN(key, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && strings.HasPrefix(parts[5], "alias/") {
		return KMSAlias{Account: parts[4], Region: parts[3], Alias: parts[5]}, true
	}
	return KMSAlias{}, false
}
