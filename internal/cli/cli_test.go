package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		wantCode int
		wantOut  string
	}{
		{"success", nil, ExitOK, ""},
		{"help", fmt.Errorf("copy: %w", ErrHelp), ExitOK, ""},
		{"usage", Usagef("--jobs must be at least 1, not %d", 0), ExitUsage, "ferry: --jobs must be at least 1, not 0\n"},
		{"wrapped config", fmt.Errorf("load: %w", ConfigError{Err: errors.New("ferry.yaml:3:1: bad")}), ExitUsage, "ferry: load: ferry.yaml:3:1: bad\n"},
		{"failure", errors.New("copy failed"), ExitFailed, "ferry: copy failed\n"},
		{"already reported", Reported{Err: errors.New("copy failed")}, ExitFailed, ""},
		{"already reported usage", Reported{Err: Usagef("bad")}, ExitUsage, ""},
		{"Ctrl-C", Interrupted{Signal: os.Interrupt}, 130, "ferry: interrupted (Ctrl-C)\n"},
		{"Ctrl-C, no signal named", Interrupted{}, 130, "ferry: interrupted (Ctrl-C)\n"},
		{"SIGTERM with a hint", fmt.Errorf("copy: %w", Interrupted{Signal: syscall.SIGTERM, Hint: "a re-run resumes from the blobs already copied"}), 143,
			"ferry: interrupted (SIGTERM); a re-run resumes from the blobs already copied\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if code := Report(&out, tc.err); code != tc.wantCode || out.String() != tc.wantOut {
				t.Errorf("Report(%v) = %d, %q; want %d, %q", tc.err, code, out.String(), tc.wantCode, tc.wantOut)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string // positional arguments; nil with wantErr
		json bool
		conf string
		err  string // what the error says; "" for none
	}{
		{"flags first", []string{"--json", "--config", "f.yaml", "a", "b"}, []string{"a", "b"}, true, "f.yaml", ""},
		{"flags last", []string{"a", "b", "--json", "--config=f.yaml"}, []string{"a", "b"}, true, "f.yaml", ""},
		{"flags between", []string{"a", "--json", "b"}, []string{"a", "b"}, true, "ferry.yaml", ""},
		{"one dash", []string{"-json", "-config", "f.yaml"}, nil, true, "f.yaml", ""},
		{"bool set false", []string{"--json=false"}, nil, false, "ferry.yaml", ""},
		{"a value that starts with a dash", []string{"--config", "-odd.yaml"}, nil, false, "-odd.yaml", ""},
		{"stdin as an argument", []string{"-", "--json"}, []string{"-"}, true, "ferry.yaml", ""},
		{"no arguments", nil, nil, false, "ferry.yaml", ""},
		{"after --", []string{"a", "--", "--json", "-x"}, []string{"a", "--json", "-x"}, false, "ferry.yaml", ""},
		{"unknown flag, close to one", []string{"a", "--confg", "x"}, nil, false, "",
			"unknown flag --confg; did you mean --config? (run 'ferry test --help' for the flags)"},
		{"unknown flag, a prefix of one", []string{"--insecur"}, nil, false, "",
			"unknown flag --insecur; did you mean --insecure-registry? (run 'ferry test --help' for the flags)"},
		{"unknown flag, nothing close", []string{"a", "--force"}, nil, false, "", "unknown flag --force (run 'ferry test --help' for the flags)"},
		{"missing value", []string{"a", "--config"}, nil, false, "", "--config needs a value: --config FILE (run 'ferry test --help' for the flags)"},
		{"bad duration", []string{"--timeout", "soon"}, nil, false, "",
			`--timeout "soon": want DURATION (e.g. 90s, 30m or 2h) (run 'ferry test --help' for the flags)`},
		{"bad bool", []string{"--json=maybe"}, nil, false, "",
			`--json "maybe": want true or false (run 'ferry test --help' for the flags)`},
		{"a Var's own error", []string{"--insecure-registry", "http://x"}, nil, false, "",
			`--insecure-registry "http://x": drop the scheme: HOST[:PORT] (run 'ferry test --help' for the flags)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			fs := NewFlagSet("ferry test", "Usage: ferry test [flags] ARG...\n")
			fs.SetOutput(&out)
			asJSON := fs.Bool("json", false, "print JSON")
			conf := fs.String("config", "ferry.yaml", "configuration `FILE`")
			fs.Duration("timeout", 0, "give up after `DURATION`")
			fs.Var(new(hosts), "insecure-registry", "plain HTTP to `HOST`")
			got, err := Parse(fs, tc.args)
			if tc.err != "" {
				var ue UsageError
				if !errors.As(err, &ue) || err.Error() != tc.err {
					t.Fatalf("Parse(%q) error = %v, want usage error %q", tc.args, err, tc.err)
				}
				if out.Len() > 0 {
					t.Errorf("Parse printed %q; a bad flag should only be the error", out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) || *asJSON != tc.json || *conf != tc.conf {
				t.Errorf("Parse(%q) = %q, json %v, config %q; want %q, %v, %q", tc.args, got, *asJSON, *conf, tc.want, tc.json, tc.conf)
			}
		})
	}
}

// hosts is a repeatable flag, as --insecure-registry is.
type hosts []string

func (h *hosts) String() string { return fmt.Sprint(*h) }
func (h *hosts) Set(s string) error {
	if strings.Contains(s, "://") {
		return errors.New("drop the scheme: HOST[:PORT]")
	}
	*h = append(*h, s)
	return nil
}

func TestParseHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h", "-help"} {
		var out bytes.Buffer
		fs := NewFlagSet("ferry test", "Usage: ferry test [flags] ARG...\n")
		fs.SetOutput(&out)
		fs.Bool("json", false, "print JSON")
		fs.String("config", "ferry.yaml", "configuration `FILE`")
		fs.String("name", "", "a name")
		fs.Int("jobs", 8, "blobs at once")
		fs.Duration("timeout", 0, "give up after `DURATION`")
		if _, err := Parse(fs, []string{"a", arg}); !errors.Is(err, ErrHelp) {
			t.Fatalf("%s: error = %v, want ErrHelp", arg, err)
		}
		want := `Usage: ferry test [flags] ARG...

Flags:
  --config FILE
        configuration FILE (default "ferry.yaml")
  --jobs N
        blobs at once (default 8)
  --json
        print JSON
  --name STRING
        a name
  --timeout DURATION
        give up after DURATION
`
		if out.String() != want {
			t.Errorf("%s printed:\n%s\nwant:\n%s", arg, out.String(), want)
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	commands := []string{"copy", "plan", "sync", "emulator", "run", "config", "version"}
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"cp", commands, "copy"},
		{"vesion", commands, "version"},
		{"verison", commands, "version"},
		{"emu", commands, "emulator"},
		{"sycn", commands, "sync"},
		{"rn", commands, "run"},
		{"confg", commands, "config"},
		{"deploy", commands, ""},
		{"x", commands, ""},
		{"insecur", []string{"insecure-registry", "jobs"}, "insecure-registry"},
		{"insecur", []string{"insecure-registry", "insecure"}, "insecure"}, // one edit beats a prefix
		{"jbos", []string{"jobs", "json"}, "jobs"},
		{"", commands, ""},
	} {
		if got := Closest(tc.word, tc.candidates); got != tc.want {
			t.Errorf("Closest(%q, %q) = %q, want %q", tc.word, tc.candidates, got, tc.want)
		}
	}
}

// The first signal cancels the context with Interrupted as its cause and
// gives the signals back (released); a command's own Interrupted keeps its
// hint and gains the signal.
func TestCancelOn(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 1)
	released := make(chan struct{})
	ctx, stop := cancelOn(context.Background(), sigs, func() { close(released) })
	defer stop()
	if err := Interruption(ctx, errors.New("boom")); err.Error() != "boom" {
		t.Errorf("before any signal, Interruption changed the error to %v", err)
	}
	sigs <- syscall.SIGTERM
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the signal did not cancel the context")
	}
	<-released
	if cause, ok := context.Cause(ctx).(Interrupted); !ok || cause.Signal != syscall.SIGTERM {
		t.Errorf("cause %v, want Interrupted{SIGTERM}", context.Cause(ctx))
	}
	if err := Interruption(ctx, nil); err != nil {
		t.Errorf("a command that succeeded despite the signal became %v", err)
	}
	if err := Interruption(ctx, context.Canceled); err != (Interrupted{Signal: syscall.SIGTERM}) {
		t.Errorf("a cancelled command became %#v, want Interrupted{SIGTERM}", err)
	}
	own := fmt.Errorf("copy: %w", Interrupted{Hint: "a re-run resumes"})
	if err := Interruption(ctx, own); err != (Interrupted{Signal: syscall.SIGTERM, Hint: "a re-run resumes"}) {
		t.Errorf("the command's own Interrupted became %#v, want its hint and the signal", err)
	}
}

// stop ends the watch: a later signal is not taken for an interruption.
func TestCancelOnStop(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 1)
	ctx, stop := cancelOn(context.Background(), sigs, func() { t.Error("released after stop") })
	stop()
	sigs <- os.Interrupt
	<-ctx.Done()
	if _, ok := context.Cause(ctx).(Interrupted); ok {
		t.Errorf("cause %v after stop, want no interruption", context.Cause(ctx))
	}
}
