// Package config reads and checks ferry.yaml: which repositories and tags go
// to which destination registries, and how Ferry sets up the repositories it
// creates there.
//
// Decoding is strict: unknown keys are errors, and every error names the
// file, line, column and field, and says what would be valid. Parse reports
// all the problems it finds at once.
package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/ferry-dev/ferry/internal/match"
)

// Defaults for optional fields.
const (
	DefaultRole           = "ferry-replication"
	DefaultExternalPrefix = "ferry-" // the external id defaults to this and the source account
	EncryptionAES256      = "AES256"
	EncryptionKMS         = "KMS"
	// DefaultReconcileSchedule is how often the reconcile runs unless told.
	DefaultReconcileSchedule = "rate(1 day)"
	// ScheduleOff is the reconcile schedule that never runs: the reconcile
	// state machine is still deployed, to be started by hand.
	ScheduleOff = "off"
)

// Config is a whole ferry.yaml. Values returned by Parse and Load are valid
// and have every default filled in.
type Config struct {
	Version    int    `json:"version"`
	Source     Source `json:"source"`
	ExternalID string `json:"externalId"` // sts:ExternalId sent when assuming destination roles
	Rules      []Rule `json:"rules"`
	// Reconcile configures the scheduled reconcile, which converges every
	// destination on the rules (images pushed before Ferry, destinations
	// added later, lost events).
	Reconcile Reconcile `json:"reconcile"`
	File      string    `json:"file,omitempty"` // the path it came from
	// Warnings are what Parse found valid but likely a mistake or a risk,
	// sorted by position; each wraps ErrWarning.
	Warnings []*Error `json:"-"`
}

// Reconcile configures the reconcile state machine's schedule.
type Reconcile struct {
	// Schedule is an EventBridge Scheduler expression, rate(...) or
	// cron(...) (evaluated in UTC), or ScheduleOff.
	Schedule string `json:"schedule"`
}

// Scheduled reports whether the reconcile runs on a schedule.
func (r Reconcile) Scheduled() bool { return r.Schedule != ScheduleOff }

// Source is the registry whose pushes Ferry replicates.
type Source struct {
	Account string `json:"account"`
	Region  string `json:"region"`
}

// ID returns "account/region".
func (s Source) ID() string { return s.Account + "/" + s.Region }

// Rule sends the repositories and tags it matches to its destinations.
type Rule struct {
	Name         string   `json:"name"`
	Repositories []string `json:"repositories"`
	Tags         []string `json:"tags"`
	Exclude      Exclude  `json:"exclude,omitzero"`
	// IAMScope, when set, is what the rule's IAM grants cover, as IAM
	// wildcards over repository names ("svc-*"; "*" for every
	// repository), in place of what is derived from Repositories: for a
	// regular expression with no literal prefix, which no wildcard can
	// follow. A copy to a repository outside it is denied.
	IAMScope     []string      `json:"iamScope,omitempty"`
	Destinations []Destination `json:"destinations"`

	// Compiled patterns. Parse fills them; a Rule built another way (by
	// hand, or decoded from JSON) compiles its patterns on each call.
	repositories *match.Set
	tags         *match.Set
}

// Exclude lists patterns that take names back out of a rule.
type Exclude struct {
	Repositories []string `json:"repositories,omitempty"`
	Tags         []string `json:"tags,omitempty"`
}

// MatchRepository reports whether the rule selects the repository name, and
// why, in words for a person.
func (r Rule) MatchRepository(name string) (bool, string) {
	s := r.repositories
	if s == nil {
		c, err := match.NewSet(r.Repositories, r.Exclude.Repositories)
		if err != nil {
			return false, err.Error()
		}
		c = c.Named("repository")
		s = &c
	}
	return s.Match(name)
}

// MatchTag reports whether the rule selects the tag, and why, in words for a
// person.
func (r Rule) MatchTag(tag string) (bool, string) {
	s := r.tags
	if s == nil {
		c, err := match.NewSet(r.Tags, r.Exclude.Tags)
		if err != nil {
			return false, err.Error()
		}
		c = c.Named("tag")
		s = &c
	}
	return s.Match(tag)
}

// compile fills the rule's compiled patterns.
func (r *Rule) compile() error {
	repos, err := match.NewSet(r.Repositories, r.Exclude.Repositories)
	if err != nil {
		return err
	}
	tags, err := match.NewSet(r.Tags, r.Exclude.Tags)
	if err != nil {
		return err
	}
	repos, tags = repos.Named("repository"), tags.Named("tag")
	r.repositories, r.tags = &repos, &tags
	return nil
}

// Destination is one registry a rule copies to, and how.
type Destination struct {
	Account       string      `json:"account"`
	Region        string      `json:"region"`
	Role          string      `json:"role"` // IAM role name in Account that Ferry assumes
	Repository    Rename      `json:"repository,omitzero"`
	Approval      Approval    `json:"approval"`
	OnExistingTag ExistingTag `json:"onExistingTag"`
	// OnSourceDelete says what a tag deleted in the source does here.
	OnSourceDelete SourceDelete       `json:"onSourceDelete"`
	Settings       RepositorySettings `json:"settings,omitzero"`
	// Gates are checked before any approval and any copy (gates.go).
	Gates Gates `json:"gates,omitzero"`
}

// ID returns "account/region", e.g. "222222222222/eu-west-1".
func (d Destination) ID() string { return d.Account + "/" + d.Region }

// RoleARN returns the ARN of the role Ferry assumes in the destination, in
// the partition of its region.
func (d Destination) RoleARN() string {
	role := d.Role
	if role == "" {
		role = DefaultRole
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", Partition(d.Region), d.Account, role)
}

// RepositoryName returns the destination repository for a source
// repository: StripPrefix is removed if the name starts with it, then Prefix
// is added. The result is not checked; see match.ValidRepository.
func (d Destination) RepositoryName(source string) string {
	return d.Repository.Prefix + strings.TrimPrefix(source, d.Repository.StripPrefix)
}

// Partition returns the AWS partition of a region: aws-cn for cn-*,
// aws-us-gov for us-gov-*, the ISO partitions for *-iso*, aws otherwise.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	}
	return "aws"
}

// Rename changes repository names on the way to a destination.
type Rename struct {
	Prefix      string `json:"prefix,omitempty"`
	StripPrefix string `json:"stripPrefix,omitempty"`
}

// Approval says whether a person must approve copies to a destination.
type Approval string

// Approval values.
const (
	ApprovalNone     Approval = "none"
	ApprovalRequired Approval = "required"
)

// SourceDelete says what a destination does when a tag it got is deleted
// in the source.
type SourceDelete string

// SourceDelete values.
const (
	SourceDeleteKeep  SourceDelete = "keep"  // the destination keeps its tag (the default)
	SourceDeleteUntag SourceDelete = "untag" // remove the tag, if it is still at the deleted digest
)

// ExistingTag says what to do when the destination already has the tag
// pointing at a different digest.
type ExistingTag string

// ExistingTag values.
const (
	ExistingTagFail      ExistingTag = "fail"      // leave the tag alone and fail the job
	ExistingTagOverwrite ExistingTag = "overwrite" // move the tag to the new digest
)

// RepositorySettings apply only when Ferry creates the destination
// repository; an existing repository is left as it is.
type RepositorySettings struct {
	TagImmutability  bool              `json:"tagImmutability,omitempty"`
	ScanOnPush       bool              `json:"scanOnPush,omitempty"`
	Encryption       Encryption        `json:"encryption"`
	LifecyclePolicy  string            `json:"lifecyclePolicy,omitempty"`  // JSON text
	RepositoryPolicy string            `json:"repositoryPolicy,omitempty"` // JSON text
	Tags             map[string]string `json:"tags,omitempty"`             // AWS resource tags
}

// Encryption is the repository's encryption at rest.
type Encryption struct {
	Type   string `json:"type"`             // EncryptionAES256 or EncryptionKMS
	KMSKey string `json:"kmsKey,omitempty"` // only with KMS; empty means the AWS managed key
}

// Load reads and checks the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data)
}

// Destinations returns every destination of every rule, once per ID
// (account/region), in the order they first appear in the file. Where one
// ID appears in several rules, the first occurrence is returned.
func (c *Config) Destinations() []Destination {
	var out []Destination
	seen := make(map[string]bool)
	for _, r := range c.Rules {
		for _, d := range r.Destinations {
			if !seen[d.ID()] {
				seen[d.ID()] = true
				out = append(out, d)
			}
		}
	}
	return out
}
