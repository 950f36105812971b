package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/emulator"
)

// tinySync is a source small enough for tests: 2 repositories × 2 tags.
var tinySync = syncSpec{repos: 2, tags: 2, baseSizes: []int64{3000, 2000}, repoLayer: 1000, tagLayer: 500}

func TestSyncSourceCountsEachUniqueBlobOnce(t *testing.T) {
	src, err := newSyncSource(tinySync)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.images) != 4 || len(src.repos) != 2 {
		t.Fatalf("%d images in %d repositories, want 4 in 2", len(src.images), len(src.repos))
	}
	// Independently: every distinct layer once, plus each image's config
	// (the images all differ, so their configs do).
	layers := map[v1.Hash]int64{}
	var configs int64
	for _, im := range src.images {
		img, err := im.build("")
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		configs += m.Config.Size
		for _, l := range m.Layers {
			layers[l.Digest] = l.Size
		}
	}
	if len(layers) != 2+2+4 {
		t.Errorf("%d distinct layers, want 2 base + 2 repository + 4 tag layers", len(layers))
	}
	want := configs
	for _, n := range layers {
		want += n
	}
	if src.uniqueBlobs != len(layers)+4 || src.uniqueBytes != want {
		t.Errorf("unique blobs %d (%d bytes), want %d (%d bytes)", src.uniqueBlobs, src.uniqueBytes, len(layers)+4, want)
	}
	if src.imageBytes <= src.uniqueBytes {
		t.Errorf("image bytes %d not above unique bytes %d: shared layers not counted per image", src.imageBytes, src.uniqueBytes)
	}
}

// startTestEnv starts a sync env with the tiny source pushed.
func startTestEnv(t *testing.T) *syncEnv {
	t.Helper()
	src, err := newSyncSource(tinySync)
	if err != nil {
		t.Fatal(err)
	}
	env, err := startSyncEnv(context.Background(), t.TempDir(), src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.close)
	return env
}

func TestSyncEnvPushesTheSourceAndVerifiesDigests(t *testing.T) {
	env := startTestEnv(t)
	ctx := context.Background()
	if issue := verifySyncDigests(ctx, []string{env.srcHost()}, env.source.images); issue != "" {
		t.Errorf("source does not hold the images: %s", issue)
	}
	issue := verifySyncDigests(ctx, env.dstHosts(), env.source.images)
	if !strings.HasPrefix(issue, "12 of 12 tags differ") {
		t.Errorf("empty destinations reported as %q, want 12 of 12 tags differ", issue)
	}
	// The base layers were mounted from the first repository, not uploaded again.
	mounts := 0
	for _, c := range env.em.Calls() {
		if c.Operation == emulator.TargetBlobUpload && c.Method == http.MethodPost && c.Status == http.StatusCreated {
			mounts++
		}
	}
	if mounts == 0 {
		t.Error("no base layer was mounted during the source push")
	}
}

func TestCountCallsReadsSourceBlobBytes(t *testing.T) {
	env := startTestEnv(t)
	im := env.source.images[0]
	ref, err := name.ParseReference(env.srcHost()+"/"+im.repo+":"+im.tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	env.em.ResetCalls()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	want := m.Config.Size
	for _, d := range m.Layers {
		want += d.Size
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	// A HEAD of a source blob and a GET of a destination's are not source reads.
	if _, err := http.Head("http://" + env.srcHost() + "/v2/" + im.repo + "/blobs/" + m.Layers[0].Digest.String()); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + env.dstHosts()[0] + "/v2/"); err == nil {
		resp.Body.Close()
	}
	s := countCalls(env.em.Calls(), syncSourceAccount.id)
	if s.SourceBlobGets != 1+len(m.Layers) || s.SourceBlobBytes != want {
		t.Errorf("source blob GETs %d of %d bytes, want %d of %d bytes", s.SourceBlobGets, s.SourceBlobBytes, 1+len(m.Layers), want)
	}
	if s.Requests != len(env.em.Calls()) || s.ByOperation["source registry blob pull HEAD 200"] != 1 ||
		s.ByOperation["destination registry ping GET 200"] != 1 {
		t.Errorf("requests %d by operation %v", s.Requests, s.ByOperation)
	}
}

func TestFerryFilesNameTheEmulator(t *testing.T) {
	env := startTestEnv(t)
	cfgPath, epPath, err := env.ferryFiles()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("ferry.yaml does not load: %v\n%s", err, ferrySyncConfig())
	}
	if len(cfg.Rules) != 1 || len(cfg.Rules[0].Destinations) != len(syncDestAccounts) {
		t.Fatalf("rules %+v, want one rule with %d destinations", cfg.Rules, len(syncDestAccounts))
	}
	r := cfg.Rules[0]
	for _, c := range []struct {
		repo, tag string
		want      bool
	}{{"bench/app-07", "release-2", true}, {"bench/app-07", "latest", false}, {"other/app", "release-1", false}} {
		okRepo, _ := r.MatchRepository(c.repo)
		okTag, _ := r.MatchTag(c.tag)
		if got := okRepo && okTag; got != c.want {
			t.Errorf("rule takes %s:%s = %v, want %v", c.repo, c.tag, got, c.want)
		}
	}
	for _, d := range r.Destinations {
		if d.Approval != config.ApprovalNone {
			t.Errorf("destination %s approval %q, want none", d.ID(), d.Approval)
		}
	}
	b, err := os.ReadFile(epPath)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ecr.ParseEndpoints(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if ep.STS == "" || len(ep.ECR) != 1+len(syncDestAccounts) || ep.Registries[syncSourceAccount.String()] != env.srcHost() {
		t.Errorf("endpoints %+v do not name the emulator's STS, source and destinations", ep)
	}
	if filepath.Dir(cfgPath) != env.dir {
		t.Errorf("ferry.yaml written to %s, not the trial's directory %s", cfgPath, env.dir)
	}
}

func TestRegsyncConfig(t *testing.T) {
	var c struct {
		Creds []struct {
			Registry string `yaml:"registry"`
			TLS      string `yaml:"tls"`
		} `yaml:"creds"`
		Defaults struct {
			Parallel  int `yaml:"parallel"`
			RateLimit struct {
				Min *int `yaml:"min"`
			} `yaml:"ratelimit"`
			SkipDockerConfig bool `yaml:"skipDockerConfig"`
		} `yaml:"defaults"`
		Sync []struct {
			Source, Target, Type string
			Tags                 struct{ Allow []string }
		} `yaml:"sync"`
	}
	text := regsyncConfig("127.0.0.1:1", []string{"127.0.0.1:2", "127.0.0.1:3"}, []string{"bench/a", "bench/b"})
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(c.Creds) != 3 {
		t.Errorf("creds for %d hosts, want 3", len(c.Creds))
	}
	for _, h := range c.Creds {
		if h.TLS != "disabled" {
			t.Errorf("%s: tls %q, want disabled", h.Registry, h.TLS)
		}
	}
	if c.Defaults.RateLimit.Min == nil || *c.Defaults.RateLimit.Min != 0 || c.Defaults.Parallel != 0 || !c.Defaults.SkipDockerConfig {
		t.Errorf("defaults %+v, want rate limit off, regsync's parallelism, no Docker config", c.Defaults)
	}
	if len(c.Sync) != 4 {
		t.Fatalf("%d sync entries, want one per repository and destination", len(c.Sync))
	}
	s := c.Sync[3]
	if s.Source != "127.0.0.1:1/bench/b" || s.Target != "127.0.0.1:3/bench/b" || s.Type != "repository" ||
		len(s.Tags.Allow) != 1 || s.Tags.Allow[0] != "release-.*" {
		t.Errorf("last entry %+v", s)
	}
}

func TestSkopeoSyncCommands(t *testing.T) {
	env := startTestEnv(t)
	cmds, err := skopeoSyncCommands("/bin/skopeo", env)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != len(syncDestAccounts) {
		t.Fatalf("%d commands, want one per destination", len(cmds))
	}
	last := cmds[0][len(cmds[0])-1]
	if last != env.dstHosts()[0]+"/bench" {
		t.Errorf("destination %q, want %s/bench (skopeo appends the last name component)", last, env.dstHosts()[0])
	}
	b, err := os.ReadFile(cmds[0][len(cmds[0])-2])
	if err != nil {
		t.Fatal(err)
	}
	var src map[string]struct {
		TLSVerify *bool             `yaml:"tls-verify"`
		ByRegex   map[string]string `yaml:"images-by-tag-regex"`
	}
	if err := yaml.Unmarshal(b, &src); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	reg, ok := src[env.srcHost()]
	if !ok || reg.TLSVerify == nil || *reg.TLSVerify || len(reg.ByRegex) != 2 || reg.ByRegex["bench/app-01"] != "^release-.*$" {
		t.Errorf("yaml source %s", b)
	}
}

func TestCompareSync(t *testing.T) {
	rows := []syncRow{
		{Tool: "ferry", Version: "dev", ColdSeconds: 2, WarmSeconds: 0.1, ColdRequests: 900, SourceBytes: 100},
		{Tool: "skopeo", Peer: true, ColdSeconds: 20, WarmSeconds: 2, ColdRequests: 1000, SourceBytes: 300},
		{Tool: "regsync", Peer: true, ColdSeconds: 10, WarmSeconds: 0.4, ColdRequests: 1800, SourceBytes: 900},
		{Tool: "fast", Peer: true, ColdSeconds: 1, WarmSeconds: 0.01, DigestIssue: "changed"},
	}
	c := compareSync(rows, 100)
	if c.ColdSpeedup != 5 || c.ColdPeer != "regsync" || c.WarmSpeedup != 4 || c.WarmPeer != "regsync" {
		t.Errorf("cold %vx vs %s, warm %vx vs %s; want 5x and 4x vs regsync", c.ColdSpeedup, c.ColdPeer, c.WarmSpeedup, c.WarmPeer)
	}
	if c.RequestsRatio != 0.9 || c.RequestsPeer != "skopeo" || !c.ColdGoalMet || !c.WarmGoalMet || !c.SourceGoalMet {
		t.Errorf("comparison %+v", c)
	}
	if c := compareSync(rows, 99); c.SourceGoalMet {
		t.Error("ferry read more than the unique blobs and met the source goal")
	}
	rows[0].WarmSeconds = 0.2
	if c := compareSync(rows, 100); c.WarmGoalMet {
		t.Errorf("warm %vx met the %gx goal", c.WarmSpeedup, goalSyncWarmSpeedup)
	}
	if c := compareSync(rows[:1], 100); c.ColdPeer != "" || !c.SourceGoalMet || c.Reason != "" {
		t.Errorf("without peers: %+v; want the source goal only", c)
	}
}

func TestSummarizeSyncKeepsFailuresVisible(t *testing.T) {
	r := summarizeSync(tool{name: "skopeo", peer: true}, []syncTrial{
		{Cold: 3e9, Warm: 1e9, ColdCalls: callStats{Requests: 10, SourceBlobBytes: 7}},
		{Err: "cold sync: exit status 1"},
		{Cold: 5e9, Warm: 2e9, ColdCalls: callStats{Requests: 20, SourceBlobBytes: 9}, DigestIssue: "cold sync: 3 of 450 tags differ"},
	})
	if r.ColdSeconds != 4 || r.ColdRequests != 15 || r.SourceBytes != 8 {
		t.Errorf("medians over successful trials: %+v", r)
	}
	line := syncTableLine(r, 8)
	if r.ok() || !strings.Contains(line, "CHANGED") || !strings.Contains(line, "some trials failed") {
		t.Errorf("table line hides problems: %q", line)
	}
}

func TestWriteSyncTable(t *testing.T) {
	var buf bytes.Buffer
	writeSyncTable(&buf, syncResult{
		Title:        "title",
		ToolVersions: "tools: regsync v0.11.7",
		UniqueBytes:  64 * mib,
		Rows: []syncRow{
			{Tool: "ferry", Unavailable: "bin/ferry not found; run make build"},
			{Tool: "regsync", Version: "v0.11.7", Peer: true, ColdSeconds: 10.27, WarmSeconds: 0.391, ColdRequests: 8700, SourceBytes: 640 * mib},
		},
		Comparison: syncComparison{Reason: "ferry has no valid result"},
	})
	want := `title
tools: regsync v0.11.7
tool                  cold 3 dst   warm 3 dst   requests cold   read from source cold            digests
ferry                not available (bin/ferry not found; run make build)
regsync v0.11.7          10.27 s      0.391 s            8700   640.0 MiB = 10.00x unique        ok
ferry vs best peer:  n/a (ferry has no valid result)
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseFlagsScenarios(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{name: "default both", want: []string{"copy", "sync"}},
		{name: "sync only", args: []string{"--scenario", "sync"}, want: []string{"sync"}},
		{name: "repeated", args: []string{"--scenario", "sync, copy,sync"}, want: []string{"sync", "copy"}},
		{name: "unknown", args: []string{"--scenario", "mirror"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && strings.Join(o.scenarios, ",") != strings.Join(tc.want, ",") {
				t.Errorf("scenarios %q, want %q", o.scenarios, tc.want)
			}
		})
	}
	if inScenarios("regsync", []string{"copy"}) || !inScenarios("regsync", []string{"sync"}) || !inScenarios("crane", []string{"copy", "sync"}) {
		t.Error("inScenarios: regsync belongs to sync only, crane to copy")
	}
}

// The JSON result carries the sync scenario under "sync".
func TestResultJSONHasSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeJSON(path, result{Scenarios: []string{"sync"}, Sync: &syncResult{UniqueBytes: 5, Rows: []syncRow{{Tool: "ferry"}}}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sync struct {
			UniqueBytes int64 `json:"unique_blob_bytes"`
			Rows        []struct {
				Tool string `json:"tool"`
			} `json:"rows"`
		} `json:"sync"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Sync.UniqueBytes != 5 || len(got.Sync.Rows) != 1 {
		t.Errorf("JSON %s (err %v)", b, err)
	}
}

func TestSyncToolsOrder(t *testing.T) {
	tools := []tool{
		{name: "ferry"},
		{name: "crane", peer: true},
		{name: "skopeo", peer: true},
		{name: "regsync", peer: true},
	}
	got := syncTools(tools)
	var names []string
	for _, t := range got {
		names = append(names, t.name)
	}
	if strings.Join(names, ",") != "ferry,regsync,skopeo" {
		t.Errorf("sync tools %v, want ferry, regsync, skopeo", names)
	}
}
