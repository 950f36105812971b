package main

import (
	"context"
	"log/slog"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// newHandler builds the handler from the environment (FERRY_CONFIG,
// FERRY_ALERTS_TOPIC_ARN, AWS_REGION, ...).
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*workflow.CheckGates, error) {
	env, err := workflow.LoadEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return workflow.NewCheckGates(logger, env, nil, nil), nil
}
