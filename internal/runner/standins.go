package runner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ferry-dev/ferry/internal/workflow"
)

// ApprovalMessage is one approval request published to the topic.
type ApprovalMessage struct {
	Subject    string
	Message    string
	ApproveURL string
	RejectURL  string
}

// Alert is a message published to the alerts topic.
type Alert struct {
	Subject string
	Message string
}

// Approver answers an approval request, as a person would: by following
// one of its links. It runs on its own goroutine.
type Approver func(ctx context.Context, m ApprovalMessage) error

// AutoApprove follows every approve link.
func AutoApprove(ctx context.Context, m ApprovalMessage) error { return Follow(ctx, m.ApproveURL) }

// AutoReject follows every reject link.
func AutoReject(ctx context.Context, m ApprovalMessage) error { return Follow(ctx, m.RejectURL) }

// Follow opens an approval link as a browser would: GET shows the confirmation
// page; submitting its form POSTs the ticket.
func Follow(ctx context.Context, link string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("open approval link: %s", resp.Status)
	}
	u, err := url.Parse(link)
	if err != nil {
		return err
	}
	form := url.Values{"ticket": {u.Query().Get("ticket")}}
	u.RawQuery = ""
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answer approval: %s: %s", resp.Status, stripTags(string(body)))
	}
	return nil
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

func stripTags(s string) string { return strings.TrimSpace(tagRE.ReplaceAllString(s, " ")) }

var linkRE = regexp.MustCompile(`(?m)^(Approve|Reject): (\S+)$`)

// serveSNS is SNS Publish (query protocol), the only call Ferry makes.
func (r *Runner) serveSNS(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") != "Publish" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>only Publish is served locally</Message></Error></ErrorResponse>`)
		return
	}
	m := ApprovalMessage{Subject: form.Get("Subject"), Message: form.Get("Message")}
	if form.Get("TopicArn") == r.env[workflow.EnvAlertsTopic] {
		// An alert (a destination a gate blocked): kept for Alerts, and
		// no approver's business.
		r.mu.Lock()
		r.alerts = append(r.alerts, Alert{Subject: m.Subject, Message: m.Message})
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`, randomHex(16), randomHex(16))
		return
	}
	for _, sm := range linkRE.FindAllStringSubmatch(m.Message, -1) {
		if sm[1] == "Approve" {
			m.ApproveURL = sm[2]
		} else {
			m.RejectURL = sm[2]
		}
	}
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
	id := randomHex(16)
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`, id, randomHex(16))
	if r.opts.Approver != nil {
		r.approvers.Add(1)
		go func() {
			defer r.approvers.Done()
			ctx, cancel := context.WithTimeout(context.Background(), r.opts.ApprovalTimeout+5*time.Second)
			defer cancel()
			if err := r.opts.Approver(ctx, m); err != nil {
				r.opts.Logger.Warn("approver could not answer", "error", err.Error())
			}
		}()
	}
}

// serveSFN is Step Functions SendTaskSuccess and SendTaskFailure (JSON 1.0).
func (r *Runner) serveSFN(w http.ResponseWriter, req *http.Request) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	var in struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
		Error     string `json:"error"`
		Cause     string `json:"cause"`
	}
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&in); err != nil {
		awsJSONError(w, "application/x-amz-json-1.0", http.StatusBadRequest, "SerializationException", "malformed request")
		return
	}
	var res waitResult
	switch op {
	case "SendTaskSuccess":
		if !json.Valid([]byte(in.Output)) {
			awsJSONError(w, "application/x-amz-json-1.0", http.StatusBadRequest, "InvalidOutput", "output is not JSON")
			return
		}
		res.output = json.RawMessage(in.Output)
	case "SendTaskFailure":
		res.errName, res.cause = in.Error, in.Cause
	default:
		awsJSONError(w, "application/x-amz-json-1.0", http.StatusBadRequest, "UnknownOperationException", "only SendTaskSuccess and SendTaskFailure are served locally")
		return
	}
	r.mu.Lock()
	ch, ok := r.waits[in.TaskToken]
	delete(r.waits, in.TaskToken) // a token is used once
	r.mu.Unlock()
	if !ok {
		awsJSONError(w, "application/x-amz-json-1.0", http.StatusBadRequest, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
		return
	}
	ch <- res
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write([]byte("{}"))
}

// serveSecrets is Secrets Manager GetSecretValue (JSON 1.1).
func (r *Runner) serveSecrets(w http.ResponseWriter, req *http.Request) {
	var in struct {
		SecretID string `json:"SecretId"`
	}
	_ = json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&in)
	if req.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretID != r.env["FERRY_APPROVAL_SECRET_ARN"] {
		awsJSONError(w, "application/x-amz-json-1.1", http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretID, "Name": "ferry-approval-key", "SecretString": r.key, "VersionId": "local"})
}

func awsJSONError(w http.ResponseWriter, ct string, status int, code, msg string) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// serveFunctionURL is the approval callback's Lambda Function URL.
func (r *Runner) serveFunctionURL(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	// A Function URL's sourceIp is the caller's address alone, no port.
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	ev := events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        req.URL.Path,
		RawQueryString: req.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID: randomHex(8),
			HTTP:      events.LambdaFunctionURLRequestContextHTTPDescription{Method: req.Method, Path: req.URL.Path, SourceIP: ip, UserAgent: req.UserAgent()},
		},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	}
	for k := range req.Header {
		ev.Headers[strings.ToLower(k)] = req.Header.Get(k)
	}
	if q := req.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k := range q {
			ev.QueryStringParameters[k] = q.Get(k)
		}
	}
	payload, _ := json.Marshal(ev)
	res := r.invoke(req.Context(), r.handlers["approvalcallback"], payload)
	if res.ErrorType != "" {
		http.Error(w, "Internal Server Error", http.StatusBadGateway)
		return
	}
	var out events.LambdaFunctionURLResponse
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		http.Error(w, "Internal Server Error", http.StatusBadGateway)
		return
	}
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(out.StatusCode)
	_, _ = io.WriteString(w, out.Body)
}

// serveS3 is S3 PutObject and GetObject, path-style (/s3/<bucket>/<key>),
// over files under the runner's S3 directory: the reconcile's bucket, and
// the Distributed Map's ItemReader and ResultWriter (run.mjs reads and
// writes it too). A redrive in another process finds what the run wrote
// when both use the same directory (Options.S3Dir).
func (r *Runner) serveS3(w http.ResponseWriter, req *http.Request) {
	// Only this machine, by the runner's own address: no page a browser
	// opens can reach it through another host name.
	if req.Host != strings.TrimPrefix(r.base, "http://") {
		s3Error(w, http.StatusForbidden, "AccessDenied", "the local S3 stand-in answers only at "+r.base)
		return
	}
	rest := strings.TrimPrefix(req.URL.Path, "/s3/")
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || !bucketNameRE.MatchString(bucket) || !safeKey(key) {
		s3Error(w, http.StatusBadRequest, "InvalidRequest", "want /s3/<bucket>/<key>, a bucket name of 3-63 lowercase letters, digits, '.' and '-', and a key without empty, '.' or '..' segments")
		return
	}
	path := filepath.Join(r.s3Dir, bucket, filepath.FromSlash(key))
	if rel, err := filepath.Rel(r.s3Dir, path); err != nil || !filepath.IsLocal(rel) {
		s3Error(w, http.StatusBadRequest, "InvalidRequest", "the key leaves the bucket")
		return
	}
	switch req.Method {
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<30))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(path), 0o700)
		}
		if err == nil {
			err = os.WriteFile(path, body, 0o600)
		}
		if err != nil {
			s3Error(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		w.Header().Set("ETag", `"`+randomHex(16)+`"`)
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		body, err := os.ReadFile(path)
		if err != nil {
			s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	default:
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "only PutObject and GetObject are served locally")
	}
}

// bucketNameRE is S3's bucket name syntax (without the finer rules).
var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// safeKey reports whether an object key maps to a file under its bucket:
// no empty, "." or ".." segment, no backslash.
func safeKey(key string) bool {
	if key == "" || strings.ContainsRune(key, '\\') {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}
