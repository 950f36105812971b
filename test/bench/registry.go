package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// registry is one distribution `registry` server on 127.0.0.1 with
// filesystem storage. It keeps its port across restarts, so tool
// configuration made for its host (regctl's) stays valid.
type registry struct {
	name       string // "src", "dst1", ...
	bin        string // path to the registry binary
	workDir    string // holds config and log
	storageDir string // holds the storage directories (tmpfs in the WAN profile)
	addr       string // 127.0.0.1:PORT
	gen        int    // how many times it has been started
	// proxy, when set, shapes the tools' connections (the WAN profile):
	// they reach the registry through it, and it counts their requests.
	proxy *shaper
	// tls, when set, makes the registry speak HTTPS (and HTTP/2) with
	// this certificate (--tls).
	tls *tlsFiles

	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	storage string
	logPath string
}

// newRegistry picks a free port for a registry named name; it does not
// start it. Its storage goes under storageDir ("": workDir).
func newRegistry(bin, workDir, storageDir, name string) (*registry, error) {
	if storageDir == "" {
		storageDir = workDir
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a port for registry %s: %w", name, err)
	}
	return &registry{
		name:       name,
		bin:        bin,
		workDir:    workDir,
		storageDir: storageDir,
		addr:       fmt.Sprintf("127.0.0.1:%d", port),
	}, nil
}

// public is the address the tools use: the proxy's, if there is one.
func (r *registry) public() string {
	if r.proxy != nil {
		return r.proxy.addr()
	}
	return r.addr
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startFresh stops the server if it runs, deletes its storage and starts it
// again on a new, empty storage directory.
func (r *registry) startFresh(ctx context.Context) error {
	if err := r.stop(); err != nil {
		return err
	}
	if r.storage != "" {
		if err := os.RemoveAll(r.storage); err != nil {
			return fmt.Errorf("remove storage of registry %s: %w", r.name, err)
		}
	}
	r.gen++
	r.storage = filepath.Join(r.storageDir, fmt.Sprintf("%s-storage-%d", r.name, r.gen))
	if err := os.MkdirAll(r.storage, 0o755); err != nil {
		return fmt.Errorf("create storage for registry %s: %w", r.name, err)
	}
	return r.start(ctx)
}

func (r *registry) start(ctx context.Context) error {
	config := filepath.Join(r.workDir, r.name+"-config.yml")
	if err := os.WriteFile(config, []byte(r.config()), 0o644); err != nil {
		return fmt.Errorf("write config of registry %s: %w", r.name, err)
	}
	r.logPath = filepath.Join(r.workDir, fmt.Sprintf("%s-%d.log", r.name, r.gen))
	logFile, err := os.Create(r.logPath)
	if err != nil {
		return fmt.Errorf("create log of registry %s: %w", r.name, err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	cmd := exec.Command(r.bin, "serve", config)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a terminal Ctrl-C reaches the harness, which then
	// stops the registries itself after the tool that is running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start registry %s: %w", r.name, err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.exited) }()
	if err := r.waitReady(ctx); err != nil {
		_ = r.stop()
		return fmt.Errorf("registry %s on %s: %w%s", r.name, r.addr, err, r.logTail())
	}
	return nil
}

// config is the registry's configuration: quiet, no upload purging, local files.
func (r *registry) config() string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, r.storage, r.addr) + r.tlsConfig()
}

// tlsConfig is the http section's tls block, if the registry speaks HTTPS.
func (r *registry) tlsConfig() string {
	if r.tls == nil {
		return ""
	}
	return fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", r.tls.cert, r.tls.key)
}

// waitReady polls GET /v2/ until the server answers 200.
func (r *registry) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	url, client := "http://"+r.addr+"/v2/", http.DefaultClient
	if r.tls != nil {
		url = "https://" + r.addr + "/v2/"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.tls.pool, MinVersion: tls.VersionTLS12}}}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			return errors.New("server exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop terminates the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (r *registry) stop() error {
	if r.cmd == nil {
		return nil
	}
	defer func() { r.cmd = nil }()
	select {
	case <-r.exited:
		return nil
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop registry %s: %w", r.name, err)
	}
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	return nil
}

// logTail returns the end of the server's log, for error messages.
func (r *registry) logTail() string {
	b, err := os.ReadFile(r.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "\n--- registry log (end) ---\n" + string(bytes.TrimSpace(b))
}
