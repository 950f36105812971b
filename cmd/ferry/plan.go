package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/match"
	"github.com/ferry-dev/ferry/internal/plan"
)

const planUsage = `Usage: ferry plan [--config FILE] [--json] REPOSITORY:TAG

Show where a push of REPOSITORY:TAG to the source registry would be copied:
each destination with its repository name, rule, approval and gates (scan,
signature), and for each rule that would not copy it, why. Nothing is copied and AWS is not called.

REPOSITORY:TAG may also be a full image URI in the source registry, e.g.
111111111111.dkr.ecr.us-east-1.amazonaws.com/team/app:release-1.4.
`

func runPlan(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fset := cli.NewFlagSet("ferry plan", planUsage)
	fset.SetOutput(stdout)
	configPath := fset.String("config", "ferry.yaml", "configuration `FILE`")
	asJSON := fset.Bool("json", false, "print the plan as JSON")
	args, err := cli.Parse(fset, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("ferry plan takes one REPOSITORY:TAG, got %d arguments (run 'ferry plan --help' for usage)", len(args))
	}
	ref := args[0]
	cfg, err := loadConfigFile(*configPath, "give the file with --config", stderr)
	if err != nil {
		return err
	}
	repository, tag, err := parseImageRef(ref, cfg.Source)
	if err != nil {
		return err
	}
	p, err := plan.For(cfg, repository, tag)
	if errors.Is(err, match.ErrInvalidName) {
		return usageError{Err: err}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(p)
	}
	return printPlan(stdout, p)
}

// ecrHost matches a private ECR registry host name (compiled on first use:
// most runs never need it, and every start would pay for it).
var ecrHost = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`)
})

// parseImageRef splits REPOSITORY:TAG, accepting a registry host in front
// when it is the source registry.
func parseImageRef(ref string, source config.Source) (repository, tag string, err error) {
	rest := ref
	if host, path, ok := strings.Cut(ref, "/"); ok && strings.ContainsAny(host, ".:") {
		m := ecrHost().FindStringSubmatch(host)
		if m == nil {
			return "", "", usagef("%q is not an image in an ECR registry; want REPOSITORY:TAG as pushed to the source registry %s", ref, source.ID())
		}
		if m[1] != source.Account || m[2] != source.Region {
			return "", "", usagef("%q is in registry %s/%s, not the source registry %s; Ferry only replicates pushes to its source", ref, m[1], m[2], source.ID())
		}
		rest = path
	}
	if strings.Contains(rest, "@") {
		return "", "", usagef("%q names a digest; want REPOSITORY:TAG (rules choose images by tag)", ref)
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return "", "", usagef("%q has no tag; want REPOSITORY:TAG, e.g. team/app:release-1.4", ref)
	}
	return rest[:i], rest[i+1:], nil
}

func printPlan(w io.Writer, p plan.Selection) error {
	image := p.Repository + ":" + p.Tag
	switch len(p.Jobs) {
	case 0:
		fmt.Fprintf(w, "%s would not be copied anywhere.\n", image)
	default:
		fmt.Fprintf(w, "%s would be copied to %s:\n\n", image, plural(len(p.Jobs), "destination", "destinations"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  DESTINATION\tREPOSITORY\tRULE\tAPPROVAL\tON EXISTING TAG")
		for _, j := range p.Jobs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", j.Destination.ID(), j.Repository, j.Rule, j.Destination.Approval, j.Destination.OnExistingTag)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		var gated []string
		for _, j := range p.Jobs {
			if j.Destination.Gates.Any() {
				gated = append(gated, fmt.Sprintf("  %s: %s\n", j.Destination.ID(), j.Destination.Gates))
			}
		}
		if len(gated) > 0 {
			fmt.Fprintln(w, "\nGates, checked before any approval (a refused image is blocked there, not copied):")
			fmt.Fprint(w, strings.Join(gated, ""))
		}
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintln(w, "\nNot copied:")
		for _, s := range p.Skipped {
			if s.Destination != "" {
				fmt.Fprintf(w, "  rule %s, %s: %s\n", s.Rule, s.Destination, s.Reason)
			} else {
				fmt.Fprintf(w, "  rule %s: %s\n", s.Rule, s.Reason)
			}
		}
	}
	return nil
}
