package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestCopyJobsMustBeInRange(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "-1", "65", "many"} {
		getenv := func(k string) string {
			if k == "FERRY_COPY_JOBS" {
				return v
			}
			return ""
		}
		_, err := newHandler(context.Background(), slog.New(slog.DiscardHandler), getenv)
		if err == nil || !strings.Contains(err.Error(), "FERRY_COPY_JOBS") || !strings.Contains(err.Error(), "copyJobs") {
			t.Errorf("FERRY_COPY_JOBS=%s: error %v, want one naming the variable and the context value that sets it", v, err)
		}
	}
}
