package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-dev/ferry/internal/workflow"
)

func TestNewHandler(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"FERRY_CONFIG": "ferry.yaml", "LAMBDA_TASK_ROOT": dir, "AWS_REGION": "us-east-1",
		"FERRY_APPROVAL_TOPIC_ARN":  "arn:aws:sns:us-east-1:111111111111:ferry-approvals",
		"FERRY_APPROVAL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:111111111111:secret:ferry",
		"FERRY_APPROVAL_URL":        "https://example.lambda-url.us-east-1.on.aws/",
	}
	t.Setenv("AWS_REGION", "us-east-1")
	h, err := newHandler(context.Background(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] })
	if err != nil || h == nil {
		t.Fatalf("newHandler: %v", err)
	}
	delete(env, "FERRY_CONFIG")
	_, err = newHandler(context.Background(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] })
	var ce *workflow.ConfigurationError
	if !errors.As(err, &ce) {
		t.Fatalf("without FERRY_CONFIG: %v, want a ConfigurationError", err)
	}
}

const testConfig = `version: 1
source: {account: "111111111111", region: us-east-1}
rules:
  - name: releases
    repositories: ["team/**"]
    tags: ["release-*"]
    destinations:
      - {account: "222222222222", region: eu-west-1}
`
