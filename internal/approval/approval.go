// Package approval seals and opens the approve/reject links Ferry sends for
// destinations that need a person's approval.
//
// A link carries a sealed ticket: the Step Functions task token, the action
// (approve or reject), the destination, the image, the execution and an
// expiry, encrypted and authenticated together with AES-256-GCM. Nothing in
// a link can be read without the key, so neither link shows the task token:
// holding the reject link (or any link) and states:SendTaskSuccess is not
// enough to approve. The action and the expiry are inside the ciphertext,
// so they cannot be changed (reject turned into approve, a later expiry,
// another destination) without the key either, and any change to a link,
// down to one character, is refused.
//
// # Ticket format
//
//	v2.<base64url, no padding, strict: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)>
//
// The plaintext is the Ticket as JSON; the associated data is the format's
// label, ferry-approval-ticket-v2, so a ticket is never read as another
// format. The nonce is random for every ticket (cipher.NewGCMWithRandomNonce):
// a key may seal 2^32 tickets before a nonce collision becomes a concern,
// and Ferry seals two per approval request.
//
// # Keys
//
// The AES-256 key is derived from the approval secret (Secrets Manager, the
// same secret that keyed the HMAC of the earlier format) with HKDF-SHA256
// and an info string of its own, so no new secret or infrastructure is
// needed and no key is used for two purposes. A second secret would not
// isolate anything: the same two functions would read both. Rotating the
// secret invalidates every pending link, as it did before.
//
// AES-256-GCM from the standard library is used rather than
// XChaCha20-Poly1305: golang.org/x/crypto is not among the module's
// dependencies, and with two tickets per request the 96-bit random nonce
// is far from its limit.
//
// # Single use
//
// A ticket is used at most once, across both links of a request: the task
// token it carries is consumed by the first SendTaskSuccess or
// SendTaskFailure, after which Step Functions refuses it (TaskTimedOut,
// InvalidToken), and the callback answers "already decided".
//
// # Links sent before sealed tickets
//
// Links from before this format carry an HMAC-SHA256-signed ticket with the
// task token in the clear ("<payload>.<signature>", base64url). Open still
// accepts them until they expire (at most one approval timeout after the
// upgrade), marked Legacy: refusing them would leave their executions
// waiting until they time out, and would not take the token back out of the
// links already sent. Seal never makes them. The legacy path can go once no
// such link can be pending.
package approval

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
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

// Errors Open returns, for errors.Is.
var (
	ErrMalformed = errors.New("malformed approval link")
	// ErrUnauthentic: the ticket was altered, or sealed (or signed) under
	// another key.
	ErrUnauthentic = errors.New("approval link is not authentic")
	ErrExpired     = errors.New("approval link has expired")
	ErrShortKey    = errors.New("approval key is shorter than 32 bytes")
)

// MinKeyLen is the shortest approval secret accepted.
const MinKeyLen = 32

const (
	// sealedPrefix starts a sealed ticket. A legacy ticket starts with the
	// base64 of '{' ("e"), so the two cannot be confused.
	sealedPrefix = "v2."
	// sealedAD is the associated data of a sealed ticket.
	sealedAD = "ferry-approval-ticket-v2"
	// sealInfo is HKDF's info for the AES-256 key.
	sealInfo = "ferry approval ticket v2: AES-256-GCM key"
	// legacyDomain prefixed the HMAC input of the legacy format.
	legacyDomain = "ferry-approval-v1\x00"
	// maxTicketLen bounds what Open decodes. A task token is at most 2,048
	// characters (the Step Functions API), so a real ticket is under 4 KiB.
	maxTicketLen = 8 << 10
)

// b64 is base64url without padding, strict: a ticket has one spelling, so a
// changed character is never read as the same ticket.
var b64 = base64.RawURLEncoding.Strict()

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
	// Legacy is set by Open on a ticket of the format sent before sealed
	// tickets (signed, the task token readable in the link).
	Legacy bool `json:"-"`
}

// Keys are the keys derived from the approval secret.
type Keys struct {
	aead cipher.AEAD
	mac  []byte // the legacy format's HMAC key: the secret itself
}

// NewKeys derives the ticket keys from the approval secret.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < MinKeyLen {
		return nil, ErrShortKey
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the approval ticket key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("approval ticket cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("approval ticket cipher: %w", err)
	}
	return &Keys{aead: aead, mac: append([]byte(nil), secret...)}, nil
}

// Seal returns t as a sealed ticket, the value of a link's ticket parameter.
func (k *Keys) Seal(t Ticket) (string, error) {
	if t.Action != Approve && t.Action != Reject {
		return "", fmt.Errorf("seal approval ticket: action %q: %w", t.Action, ErrMalformed)
	}
	if t.TaskToken == "" || t.Expires.IsZero() {
		return "", fmt.Errorf("seal approval ticket: no task token or expiry: %w", ErrMalformed)
	}
	body, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("seal approval ticket: %w", err)
	}
	return sealedPrefix + b64.EncodeToString(k.aead.Seal(nil, nil, body, []byte(sealedAD))), nil
}

// Open checks a ticket at time now and returns what it authorises.
func (k *Keys) Open(ticket string, now time.Time) (Ticket, error) {
	if ticket == "" || len(ticket) > maxTicketLen {
		return Ticket{}, ErrMalformed
	}
	var (
		t   Ticket
		err error
	)
	if rest, ok := strings.CutPrefix(ticket, sealedPrefix); ok {
		t, err = k.open(rest)
	} else {
		t, err = k.checkLegacy(ticket)
	}
	if err != nil {
		return Ticket{}, err
	}
	if (t.Action != Approve && t.Action != Reject) || t.TaskToken == "" {
		return Ticket{}, ErrMalformed
	}
	if !now.Before(t.Expires) {
		return Ticket{}, ErrExpired
	}
	return t, nil
}

func (k *Keys) open(sealed string) (Ticket, error) {
	var t Ticket
	box, err := b64.DecodeString(sealed)
	if err != nil || len(box) < k.aead.Overhead() {
		return t, ErrMalformed
	}
	body, err := k.aead.Open(nil, nil, box, []byte(sealedAD))
	if err != nil {
		return t, ErrUnauthentic
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return Ticket{}, ErrMalformed
	}
	return t, nil
}

// checkLegacy verifies a ticket of the earlier, signed format.
func (k *Keys) checkLegacy(signed string) (Ticket, error) {
	var t Ticket
	p, s, ok := strings.Cut(signed, ".")
	if !ok || p == "" || s == "" {
		return t, ErrMalformed
	}
	sig, err := b64.DecodeString(s)
	if err != nil || len(sig) != sha256.Size {
		return t, ErrMalformed
	}
	h := hmac.New(sha256.New, k.mac)
	h.Write([]byte(legacyDomain))
	h.Write([]byte(p))
	if !hmac.Equal(sig, h.Sum(nil)) {
		return t, ErrUnauthentic
	}
	body, err := b64.DecodeString(p)
	if err != nil {
		return t, ErrMalformed
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return Ticket{}, ErrMalformed
	}
	t.Legacy = true
	return t, nil
}

// Link returns base?ticket=<ticket>.
func Link(base string, ticket string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("approval URL %q: %w", base, err)
	}
	q := u.Query()
	q.Set("ticket", ticket)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
