package lambdalog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func env(level string) func(string) string {
	return func(k string) string {
		if k == EnvLevel {
			return level
		}
		return ""
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, env string
		want      slog.Level
	}{
		{name: "unset", env: "", want: slog.LevelInfo},
		{name: "TRACE", env: "TRACE", want: LevelTrace},
		{name: "DEBUG", env: "DEBUG", want: slog.LevelDebug},
		{name: "INFO", env: "INFO", want: slog.LevelInfo},
		{name: "WARN", env: "WARN", want: slog.LevelWarn},
		{name: "ERROR", env: "ERROR", want: slog.LevelError},
		{name: "FATAL", env: "FATAL", want: LevelFatal},
		{name: "lower case", env: "debug", want: slog.LevelDebug},
		{name: "spaces", env: " warn\n", want: slog.LevelWarn},
		{name: "slog's WARNING is not Lambda's", env: "WARNING", want: slog.LevelInfo},
		{name: "unknown", env: "LOUD", want: slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Level(env(tt.env)); got != tt.want {
				t.Errorf("Level(%s=%q) = %v, want %v", EnvLevel, tt.env, got, tt.want)
			}
		})
	}
}

// TestNew logs a record at each of Lambda's levels and checks which come
// out, as JSON with the "level" Lambda filters on.
func TestNew(t *testing.T) {
	t.Parallel()
	levels := []struct {
		name  string
		level slog.Level
	}{
		{"TRACE", LevelTrace}, {"DEBUG", slog.LevelDebug}, {"INFO", slog.LevelInfo},
		{"WARN", slog.LevelWarn}, {"ERROR", slog.LevelError}, {"FATAL", LevelFatal},
	}
	for i, set := range levels {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			// A level in a group is the caller's own: it keeps slog's name.
			log := New(&buf, env(set.name)).With(slog.Group("g", slog.Any("level", LevelTrace)))
			for _, l := range levels {
				log.Log(context.Background(), l.level, "at "+l.name)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec struct {
					Level string `json:"level"`
					Msg   string `json:"msg"`
					G     struct {
						Level string `json:"level"`
					} `json:"g"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("not a JSON record: %q: %v", line, err)
				}
				if rec.Msg != "at "+rec.Level {
					t.Errorf("record %q has level %q", rec.Msg, rec.Level)
				}
				if rec.G.Level != "DEBUG-4" {
					t.Errorf("a level in a group became %q, want slog's DEBUG-4", rec.G.Level)
				}
				got = append(got, rec.Level)
			}
			var want []string
			for _, l := range levels[i:] {
				want = append(want, l.name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s=%s logged %v, want %v", EnvLevel, set.name, got, want)
			}
		})
	}
}

// TestEveryLambdaUsesIt: each functions/*/main.go builds its logger here,
// so that none ignores AWS_LAMBDA_LOG_LEVEL.
func TestEveryLambdaUsesIt(t *testing.T) {
	t.Parallel()
	mains, err := filepath.Glob(filepath.Join("..", "..", "functions", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no functions/*/main.go found: %v", err)
	}
	for _, p := range mains {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if src := string(b); !strings.Contains(src, "lambdalog.New(os.Stdout, os.Getenv)") || strings.Contains(src, "slog.New(") {
			t.Errorf("%s builds its own logger; want lambdalog.New(os.Stdout, os.Getenv)", p)
		}
	}
}
