package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/runner"
)

// LocalOptions say what FromRecords reads and how its redrive commands go.
type LocalOptions struct {
	// Since: executions started before it are left out.
	Since time.Time
	// Config and Endpoints are the --config and --endpoints of the printed
	// ferry run --redrive commands (Endpoints "" leaves it out: the run
	// then goes to AWS).
	Config    string
	Endpoints string
}

// FromRecords reads the executions that ferry run --record (or --json)
// wrote: each path is such a file, or a directory of them (its *.json files
// that are not executions, an event say, are passed over). Where several
// files hold the same execution (a run recorded, then its redrive recorded
// in another file), the one with the most redrives is shown.
func FromRecords(paths []string, opts LocalOptions) (*Report, error) {
	rep := &Report{Source: "local", Since: opts.Since, Executions: []Execution{}}
	byARN := map[string]int{} // -> index in rep.Executions
	for _, p := range paths {
		files, err := recordFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			ex, err := readRecord(f.path)
			if err != nil {
				if f.listed {
					continue // another JSON file in the directory
				}
				return nil, err
			}
			rep.Records = append(rep.Records, f.path)
			if ex.Start.Before(opts.Since) {
				continue
			}
			e := fromRecord(ex, f.path, opts)
			if i, ok := byARN[e.ARN]; ok {
				if e.RedriveCount > rep.Executions[i].RedriveCount {
					rep.Executions[i] = e
				}
				continue
			}
			byARN[e.ARN] = len(rep.Executions)
			rep.Executions = append(rep.Executions, e)
		}
	}
	if len(rep.Records) == 0 {
		return nil, fmt.Errorf("%s: no execution that ferry run --record wrote (run ferry run ... --record FILE.json, then ferry status --record FILE.json or its directory)", strings.Join(paths, ", "))
	}
	sortNewestFirst(rep.Executions)
	return rep, nil
}

type recordFile struct {
	path   string
	listed bool // found in a directory, not named
}

func recordFiles(p string) ([]recordFile, error) {
	info, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read local runs: %w (--record names the file ferry run --record wrote, or its directory)", err)
		}
		return nil, fmt.Errorf("read local runs: %w", err)
	}
	if !info.IsDir() {
		return []recordFile{{path: p}}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("read local runs in %s: %w", p, err)
	}
	var out []recordFile
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, recordFile{path: filepath.Join(p, e.Name()), listed: true})
		}
	}
	return out, nil
}

// readRecord reads one execution ferry run wrote.
func readRecord(path string) (*runner.Execution, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read local run: %w", err)
	}
	var ex runner.Execution
	if err := json.Unmarshal(b, &ex); err != nil {
		return nil, fmt.Errorf("%s is not an execution that ferry run --record wrote: %w", path, err)
	}
	if ex.ID == "" || len(ex.Events) == 0 {
		return nil, fmt.Errorf("%s is not an execution that ferry run --record wrote (it has no executionArn or events)", path)
	}
	return &ex, nil
}

func fromRecord(ex *runner.Execution, path string, opts LocalOptions) Execution {
	e := Execution{
		StateMachine: stateMachineOf(ex.ID),
		ARN:          ex.ID,
		Name:         ex.Name,
		Status:       ex.Status,
		Start:        ex.Start,
		RedriveCount: ex.RedriveCount,
		Error:        ex.Error,
		Cause:        causeText(ex.Cause),
		Record:       path,
	}
	if !ex.Stop.IsZero() {
		stop := ex.Stop
		e.Stop = &stop
	}
	var summary json.RawMessage
	for _, ev := range slices.Backward(ex.Events) {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == SummarizeState && ev.Index == nil {
			summary = ev.State.Output
			break
		}
	}
	e.fill(ex.Input, summary)
	if e.Status != "SUCCEEDED" && e.Status != "" {
		e.Redrive = localRedrive(path, opts)
	}
	return e
}

// localRedrive is the ferry run command that redrives a recorded
// execution and records the redrive in the same file, so that ferry status
// then shows its outcome.
func localRedrive(record string, opts LocalOptions) string {
	cmd := "ferry run --config " + shellQuote(cmpOr(opts.Config, "ferry.yaml"))
	if opts.Endpoints != "" {
		cmd += " --endpoints " + shellQuote(opts.Endpoints)
	}
	return cmd + " --redrive " + shellQuote(record) + " --record " + shellQuote(record)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@=+-,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
