package emulator_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferry-dev/ferry/internal/emulator"
)

const (
	roleARN    = "arn:aws:iam::444455556666:role/ferry/destination"
	externalID = "ferry-external-id"
)

func TestAssumeRole(t *testing.T) {
	t.Parallel()
	em := newEmulator(t, emulator.WithCallerARN("arn:aws:iam::111122223333:role/ferry-lambda"))
	if err := em.AllowRole(roleARN, externalID); err != nil {
		t.Fatalf("AllowRole: %v", err)
	}
	c := stsClient(t, em.STSEndpoint(), nil)

	id, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(id.Arn) != "arn:aws:iam::111122223333:role/ferry-lambda" || aws.ToString(id.Account) != "111122223333" || aws.ToString(id.UserId) == "" {
		t.Errorf("caller identity = %s %s %s, want the configured caller", aws.ToString(id.Arn), aws.ToString(id.Account), aws.ToString(id.UserId))
	}

	out, err := c.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN),
		RoleSessionName: aws.String("ferry-copy"), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	cr := out.Credentials
	if !strings.HasPrefix(aws.ToString(cr.AccessKeyId), "ASIA") || len(aws.ToString(cr.AccessKeyId)) != 20 ||
		aws.ToString(cr.SecretAccessKey) == "" || aws.ToString(cr.SessionToken) == "" {
		t.Errorf("credentials = %q, want ASIA... with a secret and a session token", aws.ToString(cr.AccessKeyId))
	}
	if cr.Expiration == nil || time.Until(*cr.Expiration) > 16*time.Minute || time.Until(*cr.Expiration) < 14*time.Minute {
		t.Errorf("expiration = %v, want 15 minutes from now", cr.Expiration)
	}
	wantARN := "arn:aws:sts::444455556666:assumed-role/destination/ferry-copy"
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != wantARN {
		t.Errorf("assumed role ARN = %q, want %q", got, wantARN)
	}
	if got := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !strings.HasPrefix(got, "AROA") || !strings.HasSuffix(got, ":ferry-copy") {
		t.Errorf("assumed role ID = %q, want AROA...:ferry-copy", got)
	}

	// The issued credentials identify as the assumed role.
	assumed := stsClient(t, em.STSEndpoint(), credentials.NewStaticCredentialsProvider(
		aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)))
	id, err = assumed.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with assumed credentials: %v", err)
	}
	if aws.ToString(id.Arn) != wantARN || aws.ToString(id.Account) != "444455556666" {
		t.Errorf("assumed identity = %s in %s, want %s", aws.ToString(id.Arn), aws.ToString(id.Account), wantARN)
	}
}

func TestAssumeRoleErrors(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	if err := em.AllowRole(roleARN, externalID); err != nil {
		t.Fatalf("AllowRole: %v", err)
	}
	if err := em.AllowRole("arn:aws:iam::444455556666:role/open", ""); err != nil {
		t.Fatalf("AllowRole: %v", err)
	}
	if err := em.AllowRole("not-a-role", ""); !errors.Is(err, emulator.ErrInvalidRoleARN) {
		t.Errorf("AllowRole(not-a-role) = %v, want ErrInvalidRoleARN", err)
	}
	c := stsClient(t, em.STSEndpoint(), nil)
	tests := []struct {
		name       string
		in         sts.AssumeRoleInput
		wantCode   string
		wantStatus int
	}{
		{"role not allowed", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/other"), ExternalId: aws.String(externalID)}, "AccessDenied", 403},
		{"wrong external ID", sts.AssumeRoleInput{RoleArn: aws.String(roleARN), ExternalId: aws.String("guess-me")}, "AccessDenied", 403},
		{"missing external ID", sts.AssumeRoleInput{RoleArn: aws.String(roleARN)}, "AccessDenied", 403},
		{"unexpected external ID", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/open"), ExternalId: aws.String(externalID)}, "AccessDenied", 403},
		{"short role ARN", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:r")}, "ValidationError", 400},
		{"not a role ARN", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:s3:::bucket-name/with/key")}, "ValidationError", 400},
		{"bad session name", sts.AssumeRoleInput{RoleArn: aws.String(roleARN), ExternalId: aws.String(externalID), RoleSessionName: aws.String("has space")}, "ValidationError", 400},
		{"duration above role maximum", sts.AssumeRoleInput{RoleArn: aws.String(roleARN), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(7200)}, "ValidationError", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("ferry")
			}
			_, err := c.AssumeRole(t.Context(), &in)
			if err == nil {
				t.Fatal("AssumeRole succeeded, want error")
			}
			if code, status := apiErr(t, err); code != tt.wantCode || status != tt.wantStatus {
				t.Errorf("error = %s (HTTP %d), want %s (HTTP %d)", code, status, tt.wantCode, tt.wantStatus)
			}
		})
	}

	_, err := c.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
	want := "User: arn:aws:iam::000000000000:user/ferry-local is not authorized to perform: sts:AssumeRole on resource: " + roleARN
	if _, msg := errorMessage(err); msg != want {
		t.Errorf("AccessDenied message = %q, want %q", msg, want)
	}
}

func TestSTSRequestsMustBeSigned(t *testing.T) {
	t.Parallel()
	em := newEmulator(t)
	form := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	req := newRequest(t, http.MethodPost, em.STSEndpoint()+"/", []byte(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, body := rawDo(t, req)
	if status != http.StatusForbidden || !strings.Contains(body, "<Code>MissingAuthenticationToken</Code>") ||
		!strings.Contains(body, "<Type>Sender</Type>") {
		t.Errorf("unsigned request = %d %s, want 403 MissingAuthenticationToken", status, body)
	}
}
