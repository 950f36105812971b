// Package approval signs and checks the approve/reject links Ferry sends
// for destinations that need a person's approval.
//
// A link carries a sealed ticket: the Step Functions task token, the action
// (approve or reject), the destination, the execution and an expiry, signed
// with HMAC-SHA256 under a key kept in Secrets Manager. A ticket cannot be
// forged or changed (approve turned into reject, another destination, a later
// expiry) without the key, and it expires. It is used at most once: the task
// token it carries is consumed by the first SendTaskSuccess/SendTaskFailure,
// after which Step Functions refuses it (TaskTimedOut, InvalidToken), and
// the callback answers "already decided".
package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Actions.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Errors Check returns, for errors.Is.
var (
	ErrMalformed = errors.New("malformed approval link")
	ErrSignature = errors.New("approval link signature does not match")
	ErrExpired   = errors.New("approval link has expired")
	ErrShortKey  = errors.New("approval key is shorter than 32 bytes")
)

// MinKeyLen is the shortest HMAC key accepted.
const MinKeyLen = 32

// Ticket is what a link authorises.
type Ticket struct {
	Action      string    `json:"a"`
	TaskToken   string    `json:"t"`
	Destination string    `json:"d"` // account/region
	Repository  string    `json:"r"`
	Tag         string    `json:"g"`
	Digest      string    `json:"i"`
	Execution   string    `json:"x"`
	Expires     time.Time `json:"e"`
}

// Sign returns the query value for t ("<payload>.<signature>", base64url).
func Sign(key []byte, t Ticket) (string, error) {
	if len(key) < MinKeyLen {
		return "", ErrShortKey
	}
	if t.Action != Approve && t.Action != Reject {
		return "", fmt.Errorf("sign approval link: action %q: %w", t.Action, ErrMalformed)
	}
	body, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("sign approval link: %w", err)
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(mac(key, p)), nil
}

// Check verifies a signed value at time now and returns its ticket.
func Check(key []byte, signed string, now time.Time) (Ticket, error) {
	var t Ticket
	if len(key) < MinKeyLen {
		return t, ErrShortKey
	}
	p, s, ok := strings.Cut(signed, ".")
	if !ok || p == "" || s == "" {
		return t, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, ErrMalformed
	}
	if !hmac.Equal(sig, mac(key, p)) {
		return t, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return t, ErrMalformed
	}
	if err := json.Unmarshal(body, &t); err != nil || (t.Action != Approve && t.Action != Reject) || t.TaskToken == "" {
		return Ticket{}, ErrMalformed
	}
	if !now.Before(t.Expires) {
		return Ticket{}, ErrExpired
	}
	return t, nil
}

func mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("ferry-approval-v1\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// Link returns base?ticket=<signed>.
func Link(base string, signed string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("approval URL %q: %w", base, err)
	}
	q := u.Query()
	q.Set("ticket", signed)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
