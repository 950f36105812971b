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
