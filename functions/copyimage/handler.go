package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ferry-dev/ferry/internal/imagecopy"
	"github.com/ferry-dev/ferry/internal/workflow"
)

// maxCopyJobs bounds FERRY_COPY_JOBS: each stream holds two 256 KiB
// chunks, so 64 streams are 32 MiB of buffers.
const maxCopyJobs = 64

// newHandler builds the handler from the environment (FERRY_CONFIG,
// AWS_REGION, ..., and FERRY_COPY_JOBS, the most blobs one copy streams
// at once: imagecopy.DefaultJobs when unset; the stack sets it from the
// copyJobs context value).
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*workflow.CopyImage, error) {
	var opts []imagecopy.Option
	if v := getenv("FERRY_COPY_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCopyJobs {
			return nil, fmt.Errorf("FERRY_COPY_JOBS is %q: want a whole number from 1 to %d (set it with cdk deploy -c copyJobs=N)", v, maxCopyJobs)
		}
		opts = append(opts, imagecopy.WithJobs(n))
	}
	env, err := workflow.LoadEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return workflow.NewCopyImage(logger, env, nil, opts...), nil
}
