package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
)

// account is an AWS account and region: one ECR registry of the emulator.
type account struct{ id, region string }

func (a account) String() string { return a.id + "/" + a.region }

// The sync scenario's registries: a source and three destinations.
var (
	syncSourceAccount = account{"111111111111", "us-east-1"}
	syncDestAccounts  = []account{{"222222222222", "eu-west-1"}, {"333333333333", "us-west-2"}, {"444444444444", "eu-central-1"}}
)

// syncExternalID is the sts:ExternalId of the destination roles.
const syncExternalID = "ferry-bench"

// warmSyncRuns is how many times a trial runs the warm sync; its time is the
// median. A warm sync lists 150 images in four registries, so it takes long
// enough for a few runs to be a stable median.
const warmSyncRuns = 3

// syncEnv is one trial's set-up: a new emulator whose source holds the
// generated images and whose destinations are empty, and a directory for
// the tools' configuration files.
type syncEnv struct {
	em     *emulator.Emulator
	src    *emulator.Registry
	dsts   []*emulator.Registry
	dir    string
	source *syncSource
}

// startSyncEnv starts an emulator, adds the registries, lets each
// destination role be assumed and pushes the source. The env, if not nil,
// must be closed.
func startSyncEnv(ctx context.Context, dir string, source *syncSource) (*syncEnv, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	em, err := emulator.New(nil, emulator.WithOpenPush())
	if err != nil {
		return nil, err
	}
	e := &syncEnv{em: em, dir: dir, source: source}
	if err := em.Start(ctx); err != nil {
		em.Close()
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	if e.src, err = em.AddRegistry(syncSourceAccount.id, syncSourceAccount.region); err != nil {
		e.close()
		return nil, fmt.Errorf("add source registry: %w", err)
	}
	for _, a := range syncDestAccounts {
		r, err := em.AddRegistry(a.id, a.region)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("add destination registry %s: %w", a, err)
		}
		e.dsts = append(e.dsts, r)
		role := config.Destination{Account: a.id, Region: a.region}.RoleARN()
		if err := em.AllowRole(role, syncExternalID); err != nil {
			e.close()
			return nil, fmt.Errorf("allow role %s: %w", role, err)
		}
	}
	if err := source.push(ctx, e.src.Host()); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *syncEnv) close() {
	if err := e.em.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: close emulator: %v\n", err)
	}
}

func (e *syncEnv) srcHost() string { return e.src.Host() }

func (e *syncEnv) dstHosts() []string {
	hosts := make([]string, len(e.dsts))
	for i, d := range e.dsts {
		hosts[i] = d.Host()
	}
	return hosts
}

// endpoints are the emulator's endpoints, as `ferry emulator` writes them.
func (e *syncEnv) endpoints() ecr.Endpoints {
	ep := ecr.Endpoints{STS: e.em.STSEndpoint(), ECR: map[string]string{}, Registries: map[string]string{}}
	for _, r := range append([]*emulator.Registry{e.src}, e.dsts...) {
		id := r.Account() + "/" + r.Region()
		ep.ECR[id], ep.Registries[id] = r.ECREndpoint(), r.Host()
	}
	return ep
}

// writeFile writes a tool's configuration file into the trial's directory.
func (e *syncEnv) writeFile(name, content string) (string, error) {
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return path, nil
}

// ferryFiles writes ferry.yaml and the endpoints file for `ferry sync`.
func (e *syncEnv) ferryFiles() (cfg, endpoints string, err error) {
	if cfg, err = e.writeFile("ferry.yaml", ferrySyncConfig()); err != nil {
		return "", "", err
	}
	b, err := json.MarshalIndent(e.endpoints(), "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("encode endpoints: %w", err)
	}
	endpoints, err = e.writeFile("endpoints.json", string(b)+"\n")
	return cfg, endpoints, err
}

// ferrySyncConfig is the ferry.yaml of the scenario: one rule taking
// release-* tags of bench/* to the three destinations, no approval.
func ferrySyncConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
source:
  account: %q
  region: %s
externalId: %s
reconcile:
  schedule: "off"
rules:
  - name: bench
    repositories: ["bench/*"]
    tags: ["release-*"]
    destinations:
`, syncSourceAccount.id, syncSourceAccount.region, syncExternalID)
	for _, a := range syncDestAccounts {
		fmt.Fprintf(&b, "      - account: %q\n        region: %s\n        approval: none\n", a.id, a.region)
	}
	return b.String()
}

// regsyncConfig is regsync's configuration: every registry plain HTTP with
// no login, and one sync entry per source repository and destination,
// taking release-* tags (regsync anchors the pattern). Defaults are
// regsync's own (parallel 0: one step at a time), except that the rate
// limit is spelled out as off (min 0: regsync never waits for the source's
// rate-limit headers; it is also the default) and Docker's configuration is
// not read.
func regsyncConfig(src string, dsts, repos []string) string {
	var b strings.Builder
	b.WriteString("version: 1\ncreds:\n")
	for _, h := range append([]string{src}, dsts...) {
		fmt.Fprintf(&b, "  - registry: %s\n    tls: disabled\n", h)
	}
	b.WriteString("defaults:\n  skipDockerConfig: true\n  ratelimit:\n    min: 0\nsync:\n")
	for _, d := range dsts {
		for _, r := range repos {
			fmt.Fprintf(&b, "  - source: %s/%s\n    target: %s/%s\n    type: repository\n    tags:\n      allow: [\"release-.*\"]\n", src, r, d, r)
		}
	}
	return b.String()
}

// skopeoSyncYAML is skopeo sync's --src yaml file: the source registry over
// plain HTTP and, for every repository, the tags matching ^release-.
func skopeoSyncYAML(src string, repos []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  tls-verify: false\n  images-by-tag-regex:\n", src)
	for _, r := range repos {
		fmt.Fprintf(&b, "    %s: ^release-.*$\n", r)
	}
	return b.String()
}

// callStats are the requests one tool run sent, counted at the registries
// (the emulator's request log), and what they read from the source.
type callStats struct {
	Requests        int            `json:"requests"`          // ECR API, STS and data plane
	SourceBlobGets  int            `json:"source_blob_gets"`  // GET of a source blob
	SourceBlobBytes int64          `json:"source_blob_bytes"` // body bytes of those GETs
	ByOperation     map[string]int `json:"by_operation"`      // "source registry blob pull GET 200", "destination ecr DescribeImages", ...
}

// countCalls adds up calls; src is the source account.
func countCalls(calls []emulator.Call, src string) callStats {
	s := callStats{Requests: len(calls), ByOperation: map[string]int{}}
	for _, c := range calls {
		key := c.Service + " " + c.Operation
		switch {
		case c.Service == emulator.ServiceSTS:
		case c.Account == src:
			key = "source " + key
		default:
			key = "destination " + key
		}
		if c.Method != "" {
			key += fmt.Sprintf(" %s %d", c.Method, c.Status)
		}
		s.ByOperation[key]++
		if c.Service == emulator.ServiceRegistry && c.Operation == emulator.TargetBlobPull &&
			c.Method == http.MethodGet && c.Account == src {
			s.SourceBlobGets++
			s.SourceBlobBytes += c.Bytes
		}
	}
	return s
}

// topOperations lists the n most frequent operations, for the log.
func (s callStats) topOperations(n int) string {
	keys := make([]string, 0, len(s.ByOperation))
	for k := range s.ByOperation {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := s.ByOperation[keys[i]], s.ByOperation[keys[j]]
		return a > b || a == b && keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, s.ByOperation[k])
	}
	return strings.Join(parts, ", ")
}

// syncTrial is one tool's measurements of one sync trial.
type syncTrial struct {
	Cold        time.Duration `json:"cold_ns"`
	Warm        time.Duration `json:"warm_ns"` // median of warmSyncRuns
	ColdCalls   callStats     `json:"cold_calls"`
	WarmCalls   callStats     `json:"warm_calls"` // of the last warm run
	DigestIssue string        `json:"digest_issue,omitempty"`
	Err         string        `json:"error,omitempty"`
}

// syncScenario runs the sync trials.
type syncScenario struct {
	runner
	work   string
	source *syncSource
	log    io.Writer
	trials int // trials started so far, for directory names
}

// runAll runs every trial of every available tool, rotating which goes first.
func (s *syncScenario) runAll(ctx context.Context, tools []tool, trials int) ([]syncRow, error) {
	var runnable []int
	for i, t := range tools {
		if t.unavailable == "" {
			runnable = append(runnable, i)
		}
	}
	results := make([][]syncTrial, len(tools))
	for n := range trials {
		for k := range runnable {
			i := runnable[(n+k)%len(runnable)]
			tr, err := s.runTrial(ctx, tools[i])
			if err != nil {
				return nil, fmt.Errorf("sync trial %d of %s: %w", n+1, tools[i].name, err)
			}
			fmt.Fprintf(s.log, "sync trial %d/%d %-7s %s\n", n+1, trials, tools[i].name, describeSyncTrial(tr))
			results[i] = append(results[i], tr)
		}
	}
	rows := make([]syncRow, len(tools))
	for i, t := range tools {
		rows[i] = summarizeSync(t, results[i])
	}
	return rows, nil
}

func describeSyncTrial(tr syncTrial) string {
	if tr.Err != "" {
		return "failed: " + tr.Err
	}
	s := fmt.Sprintf("cold %.2f s, warm %.3f s, %d requests cold (%s), %d warm, %s read from the source in %d blob GETs",
		tr.Cold.Seconds(), tr.Warm.Seconds(), tr.ColdCalls.Requests, tr.ColdCalls.topOperations(4),
		tr.WarmCalls.Requests, humanSize(tr.ColdCalls.SourceBlobBytes), tr.ColdCalls.SourceBlobGets)
	if tr.DigestIssue != "" {
		s += ", DIGEST CHANGED: " + tr.DigestIssue
	}
	return s
}

// runTrial starts a fresh emulator with the source pushed and empty
// destinations, then times a cold sync and warmSyncRuns warm ones, counting
// each run's requests and verifying the destinations' digests.
func (s *syncScenario) runTrial(ctx context.Context, t tool) (syncTrial, error) {
	var tr syncTrial
	s.trials++
	env, err := startSyncEnv(ctx, filepath.Join(s.work, fmt.Sprintf("sync-%d-%s", s.trials, t.name)), s.source)
	if err != nil {
		return tr, err
	}
	defer env.close()
	cmds, err := t.syncCommands(t.bin, env)
	if err != nil {
		return tr, err
	}
	runOnce := func() (time.Duration, callStats, error) {
		syscall.Sync() // what set-up or the last run wrote is not timed
		env.em.ResetCalls()
		r, err := s.runCommands(ctx, cmds, false, false)
		return r.elapsed, countCalls(env.em.Calls(), syncSourceAccount.id), err
	}
	fail := func(what string, err error) (syncTrial, error) {
		if ctx.Err() != nil {
			return tr, ctx.Err()
		}
		tr.Err = fmt.Sprintf("%s: %v", what, err)
		return tr, nil
	}
	if tr.Cold, tr.ColdCalls, err = runOnce(); err != nil {
		return fail("cold sync", err)
	}
	if issue := verifySyncDigests(ctx, env.dstHosts(), s.source.images); issue != "" {
		tr.DigestIssue = "cold sync: " + issue
	}
	var times []time.Duration
	for range warmSyncRuns {
		var d time.Duration
		if d, tr.WarmCalls, err = runOnce(); err != nil {
			return fail("warm sync", err)
		}
		times = append(times, d)
	}
	tr.Warm = median(times)
	if issue := verifySyncDigests(ctx, env.dstHosts(), s.source.images); issue != "" && tr.DigestIssue == "" {
		tr.DigestIssue = "warm sync: " + issue
	}
	return tr, nil
}

// verifySyncDigests checks that every image's tag resolves (HEAD manifest)
// to its source digest in every destination. It returns how many do not,
// with the first, or "" if all match.
func verifySyncDigests(ctx context.Context, hosts []string, images []syncImage) string {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	var bad []string
	for _, h := range hosts {
		for _, im := range images {
			s := h + "/" + im.repo + ":" + im.tag
			ref, err := name.ParseReference(s, name.Insecure)
			if err != nil {
				bad = append(bad, fmt.Sprintf("parse %s: %v", s, err))
				continue
			}
			desc, err := remote.Head(ref, remote.WithContext(ctx), remote.WithTransport(tr))
			switch {
			case err != nil:
				bad = append(bad, fmt.Sprintf("%s: %v", s, err))
			case desc.Digest != im.digest:
				bad = append(bad, fmt.Sprintf("%s is %s, source is %s", s, short(desc.Digest), short(im.digest)))
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d tags differ; first: %s", len(bad), len(hosts)*len(images), bad[0])
}

// syncTools returns the tools of the sync scenario, in its table order
// (ferry, regsync, skopeo); a tool that can copy but not sync is
// unavailable here, with the reason.
func syncTools(tools []tool) []tool {
	var out []tool
	for _, name := range scenarioTools[scenarioSync] {
		i := slices.IndexFunc(tools, func(t tool) bool { return t.name == name })
		if i < 0 {
			continue
		}
		t := tools[i]
		out = append(out, t)
	}
	return out
}
