package emulator_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferry-dev/ferry/internal/emulator"
)

// Ferry's code runs unchanged against the emulator: only the clients'
// BaseEndpoint differs, and image references come from repositoryUri.
func Example() {
	ctx := context.Background()
	em, err := emulator.New(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err != nil {
		panic(err)
	}
	defer em.Close()
	if err := em.Start(ctx); err != nil {
		panic(err)
	}
	dest, _ := em.AddRegistry("444455556666", "eu-west-1")
	_ = em.AllowRole("arn:aws:iam::444455556666:role/ferry-destination", "ferry-external-id")

	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")))
	stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(em.STSEndpoint()) })
	if _, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::444455556666:role/ferry-destination"),
		RoleSessionName: aws.String("ferry"),
		ExternalId:      aws.String("ferry-external-id"),
	}); err != nil {
		panic(err)
	}
	ecrClient := ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint = aws.String(dest.ECREndpoint()) })
	out, err := ecrClient.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		panic(err)
	}
	// Push and pull at repositoryUri with basic auth AWS:<token> from
	// GetAuthorizationToken, as against ECR.
	fmt.Println(aws.ToString(out.Repository.RepositoryUri) == dest.Host()+"/team/app")
	for _, c := range em.Calls() {
		fmt.Println(c.Service, c.Operation, c.Account, c.Region, c.Status)
	}
}
