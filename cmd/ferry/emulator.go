package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/ferry-dev/ferry/internal/cli"
	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
)

const emulatorUsage = `Usage: ferry emulator --config FILE [--endpoints-out FILE] [--scan-findings FILE]

Run a local stand-in for the AWS side of FILE until Ctrl-C: one ECR registry
(control plane and OCI registry) for each account and region the
configuration names, the source included, and an STS that lets Ferry assume
each destination role with the configuration's externalId. Everything is on
127.0.0.1 and kept in memory (blobs in a temporary directory); nothing
survives a restart.

The registries take pushes and pulls from crane, regctl, skopeo and docker
over plain HTTP with no login (docker needs the host in its
insecure-registries), and a push creates its repository, as ECR does with a
create-on-push repository creation template. Ferry itself logs in with
GetAuthorizationToken, as it does in AWS.

--endpoints-out writes the endpoints as JSON, for ferry run and ferry sync:

  {"sts": URL, "ecr": {"ACCOUNT/REGION": URL, ...},
   "registries": {"ACCOUNT/REGION": "127.0.0.1:PORT", ...}}

  ferry emulator --config ferry.yaml --endpoints-out endpoints.json &
  crane copy --insecure some/image:tag 127.0.0.1:PORT/team/app:release-1.0
  ferry sync --config ferry.yaml --endpoints @endpoints.json --dry-run
  ferry sync --config ferry.yaml --endpoints @endpoints.json --approve

Every registry reports scanning on (scan on push for every repository), and
every image has a complete scan with no findings, unless --scan-findings
names a JSON file that says otherwise, for trying the scan gate. The file is
read again at every DescribeImageScanFindings, so it can be edited while a
run waits on a scan. It maps "REPOSITORY@DIGEST" to ECR's
DescribeImageScanFindings response for that image:

  {"team/app@sha256:...": {
     "imageScanStatus": {"status": "COMPLETE"},
     "imageScanFindings": {"findings": [
       {"name": "CVE-2024-0001", "severity": "HIGH", "uri": "https://..."}]}}}

  (status IN_PROGRESS or FAILED to try the wait; findingSeverityCounts is
  counted from the findings when left out; an index has no scan of its own,
  as in ECR: the gate reads its platform images)
`

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("ferry emulator", emulatorUsage)
	fs.SetOutput(stdout)
	cfgPath := fs.String("config", "ferry.yaml", "configuration `FILE`")
	out := fs.String("endpoints-out", "", "write the endpoints JSON to this `FILE`")
	findings := fs.String("scan-findings", "", "answer DescribeImageScanFindings from this JSON `FILE` (read at every call)")
	args, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usagef("emulator takes no arguments, got %q (run 'ferry emulator --help' for usage)", args)
	}
	cfg, err := loadConfigFile(*cfgPath, "give the file with --config", stderr)
	if err != nil {
		return err
	}
	var opts []emulator.Option
	if *findings != "" {
		// Checked now, so that a broken file fails here, not at the first
		// scan a gate reads.
		if _, err := emulator.ReadScanFindings(*findings); err != nil {
			return fmt.Errorf("ferry emulator --scan-findings: %w", err)
		}
		opts = append(opts, emulator.WithScanFindings(*findings))
	}
	em, ep, err := startEmulator(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	defer em.Close()
	if *out != "" {
		b, _ := json.MarshalIndent(ep, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write endpoints: %w", err)
		}
	}
	printEmulator(stdout, cfg, ep, *out)
	<-ctx.Done()
	fmt.Fprintln(stdout, "ferry emulator: stopped")
	return nil
}

// startEmulator serves a registry for every account and region of cfg and
// lets each destination role be assumed with cfg's externalId. opts add
// to the emulator's (the scan findings file).
func startEmulator(ctx context.Context, cfg *config.Config, opts ...emulator.Option) (*emulator.Emulator, ecr.Endpoints, error) {
	ep := ecr.Endpoints{ECR: map[string]string{}, Registries: map[string]string{}}
	em, err := emulator.New(nil, append([]emulator.Option{emulator.WithOpenPush()}, opts...)...)
	if err != nil {
		return nil, ep, err
	}
	if err := em.Start(ctx); err != nil {
		return nil, ep, err
	}
	ep.STS = em.STSEndpoint()
	add := func(account, region string) error {
		id := account + "/" + region
		if _, ok := ep.ECR[id]; ok {
			return nil
		}
		r, err := em.AddRegistry(account, region)
		if err != nil {
			return err
		}
		ep.ECR[id], ep.Registries[id] = r.ECREndpoint(), r.Host()
		return nil
	}
	if err := add(cfg.Source.Account, cfg.Source.Region); err != nil {
		em.Close()
		return nil, ep, err
	}
	for _, d := range cfg.Destinations() {
		if err := add(d.Account, d.Region); err != nil {
			em.Close()
			return nil, ep, err
		}
	}
	for _, r := range cfg.Rules {
		for _, d := range r.Destinations {
			if err := em.AllowRole(d.RoleARN(), cfg.ExternalID); err != nil {
				em.Close()
				return nil, ep, err
			}
		}
	}
	return em, ep, nil
}

func printEmulator(w io.Writer, cfg *config.Config, ep ecr.Endpoints, out string) {
	fmt.Fprintf(w, "ferry emulator: the AWS side of %s on 127.0.0.1 (Ctrl-C to stop)\n\n", cfg.File)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  \tACCOUNT/REGION\tREGISTRY (push here)\tECR API")
	fmt.Fprintf(tw, "  source\t%s\t%s\t%s\n", cfg.Source.ID(), ep.Registries[cfg.Source.ID()], ep.ECR[cfg.Source.ID()])
	for _, d := range cfg.Destinations() {
		if d.ID() == cfg.Source.ID() {
			continue
		}
		fmt.Fprintf(tw, "  destination\t%s\t%s\t%s\n", d.ID(), ep.Registries[d.ID()], ep.ECR[d.ID()])
	}
	fmt.Fprintf(tw, "  STS\t\t\t%s\n", ep.STS)
	tw.Flush()
	fmt.Fprintln(w)
	file := "endpoints.json"
	if out != "" {
		file = out
		fmt.Fprintf(w, "Endpoints written to %s. Try:\n", out)
	} else {
		fmt.Fprintln(w, "Run with --endpoints-out endpoints.json to use these from ferry run and ferry sync, e.g.:")
	}
	fmt.Fprintf(w, "  crane copy --insecure IMAGE %s/REPOSITORY:TAG\n", ep.Registries[cfg.Source.ID()])
	fmt.Fprintf(w, "  ferry sync --config %s --endpoints @%s --dry-run\n", cfg.File, file)
}
