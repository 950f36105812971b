package workflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ferry-dev/ferry/internal/approval"
	"github.com/ferry-dev/ferry/internal/ecr"
)

// approvalKey reads the approval secret from Secrets Manager once per warm
// Lambda and keeps the ticket keys derived from it (approval.NewKeys).
type approvalKey struct {
	secrets ecr.SecretsAPI
	arn     string

	mu   sync.Mutex
	keys *approval.Keys
}

func (k *approvalKey) get(ctx context.Context) (*approval.Keys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys != nil {
		return k.keys, nil
	}
	if k.arn == "" {
		return nil, &ConfigurationError{Msg: EnvApprovalSecret + " is not set"}
	}
	out, err := k.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(k.arn)})
	if err != nil {
		return nil, classifyAWS("read the approval key "+k.arn, err)
	}
	keys, err := approval.NewKeys([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		return nil, &ConfigurationError{Msg: fmt.Sprintf("approval key %s: %v", k.arn, err)}
	}
	k.keys = keys
	return keys, nil
}

// ApprovalRequest is the .waitForTaskToken side of the approval: it sends
// the approval request, with approve and reject links, to the SNS topic.
// Each link carries a sealed ticket (package approval): the task token is
// in it encrypted, so neither link shows it, and it is never logged or
// returned.
type ApprovalRequest struct {
	log   *slog.Logger
	sns   ecr.SNSAPI
	key   *approvalKey
	topic string
	url   string
	ttl   time.Duration
	now   func() time.Time
}

// NewApprovalRequest returns the ApprovalRequest step, configured from
// FERRY_APPROVAL_* in env.
func NewApprovalRequest(logger *slog.Logger, env *Env, snsAPI ecr.SNSAPI, secrets ecr.SecretsAPI) (*ApprovalRequest, error) {
	if snsAPI == nil {
		snsAPI = env.Clients.SNS()
	}
	if secrets == nil {
		secrets = env.Clients.Secrets()
	}
	ttl := defaultApprovalTTL
	if s := env.Getenv(EnvApprovalTTL); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, &ConfigurationError{Msg: fmt.Sprintf("%s=%q: want a whole number of seconds", EnvApprovalTTL, s)}
		}
		ttl = n
	}
	a := &ApprovalRequest{log: logger, sns: snsAPI, key: &approvalKey{secrets: secrets, arn: env.Getenv(EnvApprovalSecret)},
		topic: env.Getenv(EnvApprovalTopic), url: env.Getenv(EnvApprovalURL), ttl: time.Duration(ttl) * time.Second, now: time.Now}
	if a.topic == "" || a.url == "" {
		return nil, &ConfigurationError{Msg: EnvApprovalTopic + " and " + EnvApprovalURL + " must be set"}
	}
	return a, nil
}

// Handle is the Lambda handler.
func (a *ApprovalRequest) Handle(ctx context.Context, p ApprovalRequestPayload) (ApprovalRequestResult, error) {
	j := p.Replication.Job
	log := jobLogger(a.log, j)
	if p.Batch != nil {
		j = Job{Destination: p.Batch.Destination, Repository: fmt.Sprintf("%d images", p.Batch.Images), Tag: "reconcile"}
		log = a.log.With(slog.String("execution", p.Execution), slog.String("destination", j.Destination))
	}
	if p.TaskToken == "" {
		return ApprovalRequestResult{}, validationf("approval request for %s has no task token", j.Destination)
	}
	keys, err := a.key.get(ctx)
	if err != nil {
		return ApprovalRequestResult{}, err
	}
	exp := a.now().Add(a.ttl).UTC().Truncate(time.Second)
	links := map[string]string{}
	for _, act := range []string{approval.Approve, approval.Reject} {
		sealed, err := keys.Seal(approval.Ticket{Action: act, TaskToken: p.TaskToken, Destination: j.Destination,
			Repository: j.Repository, Tag: j.Tag, Digest: j.Digest, Execution: p.Execution, Expires: exp})
		if err != nil {
			return ApprovalRequestResult{}, &ConfigurationError{Msg: "seal approval link: " + err.Error()}
		}
		if links[act], err = approval.Link(a.url, sealed); err != nil {
			return ApprovalRequestResult{}, &ConfigurationError{Msg: err.Error()}
		}
	}
	var subject, msg string
	if b := p.Batch; b != nil {
		subject = fmt.Sprintf("Ferry: approve %d images to %s?", b.Images, b.Destination)
		images := strings.Join(b.Sample, "\n              ")
		if more := b.Images - len(b.Sample); more > 0 {
			images += fmt.Sprintf("\n              and %d more", more)
		}
		msg = fmt.Sprintf(`Ferry's reconcile asks for approval to copy images to a destination that requires it:
images the rules select that the destination lacks, or holds at another digest or without
all their referrers. One answer covers them all.

Destination:  %s
Images:       %s
Execution:    %s (its bucket lists every image under %s)

Approve: %s
Reject: %s

The links expire at %s and work once. Each opens a page that asks you to confirm.
`, b.Destination, images, p.Execution, b.Key, links[approval.Approve], links[approval.Reject], exp.Format(time.RFC3339))
	} else {
		subject = fmt.Sprintf("Ferry: approve %s:%s to %s?", j.SourceRepository, j.Tag, j.Destination)
		msg = fmt.Sprintf(`Ferry asks for approval to copy an image to a destination that requires it.

Image:        %s:%s
Digest:       %s
Destination:  %s (account %s, region %s), repository %s
Rule:         %s
Execution:    %s

Approve: %s
Reject: %s

The links expire at %s and work once. Each opens a page that asks you to confirm.
`, j.SourceRepository, j.Tag, j.Digest, j.Destination, j.Account, j.Region, j.Repository, j.Rule, p.Execution,
			links[approval.Approve], links[approval.Reject], exp.Format(time.RFC3339))
	}
	if len(subject) > 100 {
		subject = subject[:100]
	}
	out, err := a.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(a.topic), Subject: aws.String(subject), Message: aws.String(msg)})
	if err != nil {
		return ApprovalRequestResult{}, classifyAWS("publish the approval request to "+a.topic, err)
	}
	log.InfoContext(ctx, "approval requested", slog.String("topic", a.topic), slog.Time("expires", exp), slog.String("message_id", aws.ToString(out.MessageId)))
	return ApprovalRequestResult{Requested: true, Expires: exp, MessageID: aws.ToString(out.MessageId)}, nil
}

// ApprovalCallback serves the approve/reject links (behind a Lambda
// Function URL). GET shows a confirmation page, so that a mail scanner
// opening the link decides nothing; POST opens the sealed ticket and
// reports the decision to Step Functions. What is decided comes from the
// ticket alone, never from the request: the reject link can only reject.
// The decision records the link used, when, and the source IP the Function
// URL saw, in the task's output (approve) or cause (reject) and in the log;
// the task token is never logged or returned.
type ApprovalCallback struct {
	log *slog.Logger
	sfn ecr.SFNAPI
	key *approvalKey
	now func() time.Time
}

// How a decision came (ApprovalDecision.Via).
const (
	viaSealedLink = "sealed link"
	// viaSignedLink is a link sent before sealed tickets, accepted until it
	// expires (see package approval).
	viaSignedLink = "signed link"
)

// NewApprovalCallback returns the ApprovalCallback step.
func NewApprovalCallback(logger *slog.Logger, env *Env, sfnAPI ecr.SFNAPI, secrets ecr.SecretsAPI) *ApprovalCallback {
	if sfnAPI == nil {
		sfnAPI = env.Clients.SFN()
	}
	if secrets == nil {
		secrets = env.Clients.Secrets()
	}
	return &ApprovalCallback{log: logger, sfn: sfnAPI, key: &approvalKey{secrets: secrets, arn: env.Getenv(EnvApprovalSecret)}, now: time.Now}
}

// Handle is the Lambda handler.
func (c *ApprovalCallback) Handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	method := req.RequestContext.HTTP.Method
	ip := sourceIP(req.RequestContext.HTTP.SourceIP)
	log := c.log.With(slog.String("source_ip", ip), slog.String("method", method))
	keys, err := c.key.get(ctx)
	if err != nil {
		log.ErrorContext(ctx, "approval key unavailable", slog.String("error", err.Error()))
		return page(http.StatusInternalServerError, "Ferry cannot check approvals right now", "Try the link again later."), nil
	}
	ticket := req.QueryStringParameters["ticket"]
	if method == http.MethodPost {
		body := req.Body
		if req.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return page(http.StatusBadRequest, "Malformed request", ""), nil
			}
			body = string(b)
		}
		if form, err := url.ParseQuery(body); err == nil && form.Get("ticket") != "" {
			ticket = form.Get("ticket")
		}
	}
	now := c.now().UTC()
	t, err := keys.Open(ticket, now)
	switch {
	case errors.Is(err, approval.ErrExpired):
		log.WarnContext(ctx, "approval link expired")
		return page(http.StatusGone, "This link has expired", "The approval window has closed; the copy was not made."), nil
	case err != nil:
		log.WarnContext(ctx, "approval link refused", slog.String("error", err.Error()))
		return page(http.StatusForbidden, "This link is not valid", "It may have been altered. Use the links in the approval message."), nil
	}
	via := viaSealedLink
	if t.Legacy {
		via = viaSignedLink
	}
	what := fmt.Sprintf("%s:%s (%s) to %s", t.Repository, t.Tag, t.Digest, t.Destination)
	if t.Digest == "" { // a reconcile's images, one request per destination
		what = fmt.Sprintf("%s (%s) to %s", t.Repository, t.Tag, t.Destination)
	}
	log = log.With(slog.String("execution", t.Execution), slog.String("repository", t.Repository), slog.String("tag", t.Tag),
		slog.String("digest", t.Digest), slog.String("destination", t.Destination), slog.String("link", t.Action), slog.String("via", via))
	if method != http.MethodPost {
		verb := "Approve"
		if t.Action == approval.Reject {
			verb = "Reject"
		}
		log.InfoContext(ctx, "approval page shown")
		body := fmt.Sprintf(`<p>%s the copy of %s?</p><form method="post"><input type="hidden" name="ticket" value="%s"><button type="submit">%s</button></form>`,
			verb, html.EscapeString(what), html.EscapeString(ticket), verb)
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK, Headers: htmlHeaders(), Body: htmlPage("Ferry approval", body)}, nil
	}
	d := ApprovalDecision{Decision: "approved", DecidedAt: now, Via: via, Link: t.Action, SourceIP: ip}
	if t.Action == approval.Approve {
		out, _ := json.Marshal(d)
		_, err = c.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(t.TaskToken), Output: aws.String(string(out))})
	} else {
		d.Decision = "rejected"
		_, err = c.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(t.TaskToken),
			Error: aws.String(ErrorApprovalRejected), Cause: aws.String(rejectionCause(d))})
	}
	var timedOut *sfntypes.TaskTimedOut
	var missing *sfntypes.TaskDoesNotExist
	var invalid *sfntypes.InvalidToken
	switch {
	case errors.As(err, &timedOut), errors.As(err, &missing), errors.As(err, &invalid):
		log.WarnContext(ctx, "approval already decided or expired")
		return page(http.StatusGone, "Already decided", "This copy was already approved or rejected, or its wait has ended."), nil
	case err != nil:
		log.ErrorContext(ctx, "cannot report the decision", slog.String("error", err.Error()))
		return events.LambdaFunctionURLResponse{}, classifyAWS("report the approval decision", err)
	}
	log.InfoContext(ctx, "approval decided", slog.String("decision", d.Decision), slog.Time("decided_at", d.DecidedAt))
	past := map[string]string{approval.Approve: "Approved", approval.Reject: "Rejected"}[t.Action]
	return page(http.StatusOK, past, past+": "+what+"."), nil
}

// rejectionCause is SendTaskFailure's cause for a rejection: the decision,
// as ApprovalDecision records an approval.
func rejectionCause(d ApprovalDecision) string {
	from := "an unknown address"
	if d.SourceIP != "" {
		from = d.SourceIP
	}
	return fmt.Sprintf("rejected by an approver through the %s link at %s from %s (%s)", d.Link, d.DecidedAt.Format(time.RFC3339), from, d.Via)
}

// sourceIP is the address the Function URL saw, in its canonical form, or ""
// if it is not an IP address (nothing else is recorded from it).
func sourceIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return a.WithZone("").String()
}

func htmlHeaders() map[string]string {
	return map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
}

func page(status int, title, text string) events.LambdaFunctionURLResponse {
	return events.LambdaFunctionURLResponse{StatusCode: status, Headers: htmlHeaders(),
		Body: htmlPage(title, "<p>"+html.EscapeString(text)+"</p>")}
}

func htmlPage(title, body string) string {
	return "<!doctype html><title>" + html.EscapeString(title) + "</title><h1>" + html.EscapeString(title) + "</h1>" + strings.TrimSpace(body)
}
