package main

import (
	"context"
	"log/slog"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// newHandler builds the handler. Summarize needs no AWS client, but it
// checks FERRY_CONFIG like the others, so a broken deployment fails at cold
// start everywhere alike.
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*workflow.Summarize, error) {
	if _, err := workflow.LoadEnv(ctx, getenv); err != nil {
		return nil, err
	}
	return workflow.NewSummarize(logger), nil
}
