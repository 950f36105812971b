// Package plan turns one push (repository and tag) into the copy jobs
// Ferry's rules call for, and says why every other rule stays out.
package plan

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
)

// Job is one copy: the pushed image to one repository in one destination.
type Job struct {
	Rule             string             `json:"rule"`
	Destination      config.Destination `json:"destination"`
	SourceRepository string             `json:"sourceRepository"`
	Repository       string             `json:"repository"` // in the destination, after any rename
	Tag              string             `json:"tag"`
}

// Skip is a rule, or one destination of a rule, that gets no job, and why.
type Skip struct {
	Rule        string `json:"rule"`
	Destination string `json:"destination,omitempty"` // ID of the destination, when only it is skipped
	Reason      string `json:"reason"`
}

// Selection is what the rules select for a push: a job per destination, and
// the rules and destinations left out, with why. (workflow.Plan, the
// execution's plan, is built from it.)
type Selection struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Jobs       []Job  `json:"jobs"`
	Skipped    []Skip `json:"skipped"`
}

// For plans a push of repository:tag under cfg. Jobs come in rule order,
// then destination order, once per destination registry and repository: when
// two rules send the image to the same place, the first wins and the later
// one is noted in Skipped. A destination whose renamed repository is not a
// valid ECR name, or that would copy the image onto itself, is skipped with
// the reason. Invalid names are an error wrapping match.ErrInvalidName.
func For(cfg *config.Config, repository, tag string) (Selection, error) {
	p := Selection{Repository: repository, Tag: tag, Jobs: []Job{}, Skipped: []Skip{}}
	if err := match.ValidRepository(repository); err != nil {
		return p, fmt.Errorf("plan %s:%s: %w", repository, tag, err)
	}
	if err := match.ValidTag(tag); err != nil {
		return p, fmt.Errorf("plan %s:%s: %w", repository, tag, err)
	}
	type key struct{ destination, repository string }
	planned := make(map[key]string) // -> rule
	for _, rule := range cfg.Rules {
		ok, reason := rule.MatchRepository(repository)
		if ok {
			ok, reason = rule.MatchTag(tag)
		}
		if !ok {
			p.Skipped = append(p.Skipped, Skip{Rule: rule.Name, Reason: reason})
			continue
		}
		for _, d := range rule.Destinations {
			skip := func(format string, args ...any) {
				p.Skipped = append(p.Skipped, Skip{Rule: rule.Name, Destination: d.ID(), Reason: fmt.Sprintf(format, args...)})
			}
			name := d.RepositoryName(repository)
			if err := match.ValidRepository(name); err != nil {
				skip("renamed repository is not valid: %v", err)
				continue
			}
			k := key{d.ID(), name}
			if first, dup := planned[k]; dup {
				skip("already planned by rule %q (same destination repository %s)", first, name)
				continue
			}
			if d.ID() == cfg.Source.ID() {
				if name == repository {
					skip("destination is the source registry and the rename leaves %s unchanged, so the image would be copied onto itself", name)
					continue
				}
				if cascades(cfg, name, tag) {
					skip("destination is the source registry, and a push of %s:%s there would be replicated within it again (a loop); exclude the renamed repositories from the rules", name, tag)
					continue
				}
			}
			planned[k] = rule.Name
			p.Jobs = append(p.Jobs, Job{Rule: rule.Name, Destination: d, SourceRepository: repository, Repository: name, Tag: tag})
		}
	}
	return p, nil
}

// cascades reports whether a push of repository:tag to the source registry
// would itself be copied to another repository of the source registry.
func cascades(cfg *config.Config, repository, tag string) bool {
	for _, rule := range cfg.Rules {
		if ok, _ := rule.MatchRepository(repository); !ok {
			continue
		}
		if ok, _ := rule.MatchTag(tag); !ok {
			continue
		}
		for _, d := range rule.Destinations {
			if d.ID() == cfg.Source.ID() && d.RepositoryName(repository) != repository {
				return true
			}
		}
	}
	return false
}
