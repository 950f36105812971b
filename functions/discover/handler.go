package main

import (
	"context"
	"log/slog"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// newHandler builds the handler from the environment (FERRY_CONFIG,
// FERRY_RECONCILE_BUCKET, AWS_REGION, ...).
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*workflow.Discover, error) {
	env, err := workflow.LoadEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return workflow.NewDiscover(logger, env, nil, nil), nil
}
