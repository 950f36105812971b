package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The STS endpoint speaks the AWS query protocol: a form-encoded POST with
// Action and Version (2011-06-15), answered with XML in the
// https://sts.amazonaws.com/doc/2011-06-15/ namespace; errors are an
// <ErrorResponse> with <Type>Sender</Type> and a 4xx status.
//
// Faithful: AssumeRole's RoleArn, RoleSessionName, DurationSeconds and
// ExternalId validation (ValidationError), trust checks against roles
// allowed with AllowRole (AccessDenied, 403, naming the caller), temporary
// credentials shaped like AWS's (ASIA access key ID, secret, session token,
// expiration), and GetCallerIdentity answering the assumed role for
// credentials it issued. Requests without a SigV4 Authorization header fail
// with MissingAuthenticationToken (403).
//
// Not faithful: signatures are not verified (no secrets are kept; the issued
// secret key is returned once and forgotten), session policies, tags and
// source identity are ignored, and any caller may assume any allowed role.
const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

var (
	roleARNRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/((?:[\x21-\x7E]+/)*)([\w+=,.@-]{1,64})$`)
	})
	sessionNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]{2,64}$`) })
	externalIDRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@:/-]+$`) }) // and 2 to 1224 characters
	arnAccountRE  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}):.+$`)
	})
)

func parseARNAccount(arn string) (string, bool) {
	m := arnAccountRE().FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// session is what the emulator remembers of credentials it issued: enough to
// answer GetCallerIdentity, never the secret.
type session struct {
	arn, userID, account string
	expires              time.Time
}

type stsState struct {
	em       *Emulator
	mu       sync.Mutex
	allowed  map[string]string   // role ARN -> required external ID ("" = none)
	sessions map[string]*session // access key ID -> session
}

func newSTSState(e *Emulator) *stsState {
	return &stsState{em: e, allowed: map[string]string{}, sessions: map[string]*session{}}
}

// AllowRole lets callers assume roleARN. When externalID is not empty, the
// role's trust policy requires it (sts:ExternalId), as Ferry's destination
// roles do; AssumeRole without it, or with another, is AccessDenied.
func (e *Emulator) AllowRole(roleARN, externalID string) error {
	if !roleARNRE().MatchString(roleARN) {
		return fmt.Errorf("allow role %q: %w", roleARN, ErrInvalidRoleARN)
	}
	e.sts.mu.Lock()
	defer e.sts.mu.Unlock()
	e.sts.allowed[roleARN] = externalID
	return nil
}

func (e *Emulator) serveSTS(w http.ResponseWriter, req *http.Request) {
	call := Call{Time: e.now(), Service: ServiceSTS}
	body, apiErr := e.handleSTS(req, &call)
	if apiErr != nil {
		call.Status, call.ErrorCode = apiErr.Status, apiErr.Code
		writeSTSError(w, apiErr)
	} else {
		call.Status = http.StatusOK
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-Requestid", newRequestID())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	e.log.record(call)
}

func (e *Emulator) handleSTS(req *http.Request, call *Call) ([]byte, *APIError) {
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return nil, badRequest("MalformedQueryString", "could not read request body")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, badRequest("MalformedQueryString", "could not parse the form body")
	}
	for k, v := range req.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	call.Operation = form.Get("Action")
	if apiErr := checkSigV4(req, "sts", ""); apiErr != nil {
		if apiErr.Code == CodeMissingAuthenticationToken {
			apiErr.Code = CodeSTSMissingAuthenticationTok
			apiErr.Message = "Request is missing Authentication Token"
		}
		return nil, apiErr
	}
	scope, _ := credentialScope(req.Header.Get("Authorization"))
	if v := form.Get("Version"); v != "2011-06-15" {
		return nil, badRequest(CodeSTSInvalidAction, "Could not find operation %s for version %s", call.Operation, v)
	}
	var op func(url.Values, string, *Call) (any, *APIError)
	switch call.Operation {
	case "AssumeRole":
		op = e.sts.assumeRole
	case "GetCallerIdentity":
		op = e.sts.getCallerIdentity
	default:
		return nil, badRequest(CodeSTSInvalidAction, "Could not find operation %s for version 2011-06-15", call.Operation)
	}
	if f, ok := e.stsFaults.take(call.Operation); ok {
		call.Injected = true
		return nil, f
	}
	out, apiErr := op(form, scope.accessKeyID, call)
	if apiErr != nil {
		return nil, apiErr
	}
	b, err := xml.Marshal(out)
	if err != nil {
		return nil, &APIError{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: "could not encode response"}
	}
	return append([]byte(xml.Header), b...), nil
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
		PackedPolicySize *int `xml:"PackedPolicySize,omitempty"`
	} `xml:"AssumeRoleResult"`
	ResponseMetadata responseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"GetCallerIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	ResponseMetadata responseMetadata `xml:"ResponseMetadata"`
}

func validationError(value, field, constraint string) *APIError {
	return badRequest(CodeSTSValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
		value, field, constraint)
}

// caller is the identity behind an access key ID.
func (s *stsState) caller(accessKeyID string) (arn, userID, account string) {
	s.mu.Lock()
	sess, ok := s.sessions[accessKeyID]
	s.mu.Unlock()
	if ok && s.em.now().Before(sess.expires) {
		return sess.arn, sess.userID, sess.account
	}
	arn = s.em.cfg.callerARN
	account, _ = parseARNAccount(arn)
	return arn, "AIDA" + stableID(arn, 17), account
}

func (s *stsState) assumeRole(form url.Values, accessKeyID string, call *Call) (any, *APIError) {
	roleARN := form.Get("RoleArn")
	sessionName := form.Get("RoleSessionName")
	if len(roleARN) < 20 {
		return nil, validationError(roleARN, "roleArn", "Member must have length greater than or equal to 20")
	}
	m := roleARNRE().FindStringSubmatch(roleARN)
	if m == nil {
		return nil, badRequest(CodeSTSValidation, "%s is invalid", roleARN)
	}
	call.Account = m[1]
	if !sessionNameRE().MatchString(sessionName) {
		return nil, validationError(sessionName, "roleSessionName",
			`Member must satisfy regular expression pattern: [\w+=,.@-]* and have length between 2 and 64`)
	}
	duration := 3600
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			return nil, validationError(d, "durationSeconds", "Member must have value between 900 and 43200")
		}
		if n > 3600 {
			// Roles default to a one-hour MaxSessionDuration.
			return nil, badRequest(CodeSTSValidation,
				"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		}
		duration = n
	}
	externalID, hasExternalID := form.Get("ExternalId"), form.Has("ExternalId")
	if hasExternalID && (len(externalID) < 2 || len(externalID) > 1224 || !externalIDRE().MatchString(externalID)) {
		return nil, validationError(externalID, "externalId",
			`Member must satisfy regular expression pattern: [\w+=,.@:\/-]* and have length between 2 and 1224`)
	}
	callerARN, _, _ := s.caller(accessKeyID)
	s.mu.Lock()
	want, allowed := s.allowed[roleARN]
	s.mu.Unlock()
	if !allowed || want != externalID {
		return nil, &APIError{Status: http.StatusForbidden, Code: CodeSTSAccessDenied,
			Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", callerARN, roleARN)}
	}

	roleName := m[3]
	roleID := "AROA" + stableID(roleARN, 17)
	out := &assumeRoleResponse{Xmlns: stsNamespace}
	out.Result.AssumedRoleUser.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", m[1], roleName, sessionName)
	out.Result.AssumedRoleUser.AssumedRoleID = roleID + ":" + sessionName
	expires := s.em.now().Add(time.Duration(duration) * time.Second).UTC()
	creds := &out.Result.Credentials
	creds.AccessKeyID = "ASIA" + randomID(16)
	creds.SecretAccessKey = randomSecret(30)
	creds.SessionToken = "FwoGZXIvYXdzE" + randomSecret(120)
	creds.Expiration = expires.Format(time.RFC3339)
	out.ResponseMetadata.RequestID = newRequestID()

	s.mu.Lock()
	s.sessions[creds.AccessKeyID] = &session{
		arn:     out.Result.AssumedRoleUser.Arn,
		userID:  out.Result.AssumedRoleUser.AssumedRoleID,
		account: m[1],
		expires: expires,
	}
	s.mu.Unlock()
	return out, nil
}

func (s *stsState) getCallerIdentity(_ url.Values, accessKeyID string, call *Call) (any, *APIError) {
	arn, userID, account := s.caller(accessKeyID)
	call.Account = account
	out := &getCallerIdentityResponse{Xmlns: stsNamespace}
	out.Result.Arn, out.Result.UserID, out.Result.Account = arn, userID, account
	out.ResponseMetadata.RequestID = newRequestID()
	return out, nil
}

func writeSTSError(w http.ResponseWriter, e *APIError) {
	type errorResponse struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
	out := errorResponse{Xmlns: stsNamespace, RequestID: newRequestID()}
	out.Error.Type = "Sender"
	if e.Status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message = e.Code, e.Message
	b, _ := xml.Marshal(out) // a struct of strings always marshals
	w.Header().Set("Content-Type", "text/xml")
	if e.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", itoa(e.RetryAfterSeconds))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// stableID derives an n-character uppercase ID from s, so a role keeps its
// AROA... ID across calls.
func stableID(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	out := make([]byte, n)
	for i := range out {
		out[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return string(out)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func randomSecret(nBytes int) string {
	b := make([]byte, nBytes)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.StdEncoding.EncodeToString(b), "=")
}
