// Command checkgates is Ferry's CheckGates Lambda: see workflow.CheckGates.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ferry-dev/ferry/internal/lambdalog"
)

func main() {
	logger := lambdalog.New(os.Stdout, os.Getenv)
	h, err := newHandler(context.Background(), logger, os.Getenv)
	if err != nil {
		logger.Error("cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
