package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
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
		{"child's status, already reported", ExitStatus(7), 7, ""},
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
		{"no arguments", nil, nil, false, "ferry.yaml", ""},
		{"after --", []string{"a", "--", "--json", "-x"}, []string{"a", "--json", "-x"}, false, "ferry.yaml", ""},
		{"unknown flag", []string{"a", "--force"}, nil, false, "", "flag provided but not defined: -force (run 'ferry test --help' for usage)"},
		{"missing value", []string{"a", "--config"}, nil, false, "", "flag needs an argument: -config (run 'ferry test --help' for usage)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			fs := NewFlags("ferry test", "Usage: ferry test [flags] ARG...\n", &out)
			asJSON := fs.Bool("json", false, "print JSON")
			conf := fs.String("config", "ferry.yaml", "configuration file")
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

func TestParseHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	fs := NewFlags("ferry test", "Usage: ferry test [flags] ARG...\n", &out)
	fs.Bool("json", false, "print JSON")
	if _, err := Parse(fs, []string{"a", "--help"}); !errors.Is(err, ErrHelp) {
		t.Fatalf("error = %v, want ErrHelp", err)
	}
	want := "Usage: ferry test [flags] ARG...\n\nFlags:\n  -json\n    \tprint JSON\n"
	if out.String() != want {
		t.Errorf("help printed %q, want %q (once)", out.String(), want)
	}
}
