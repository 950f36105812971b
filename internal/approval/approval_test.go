package approval

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

const (
	testSecret = "test-approval-secret-0123456789abcdef0123456789"
	testToken  = "testTaskToken-AQCEAAAAKgAAAAMAAAAAAAAAAc1d+/="
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testKeys(t *testing.T, secret string) *Keys {
	t.Helper()
	k, err := NewKeys([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testTicket(action string) Ticket {
	return Ticket{Action: action, TaskToken: testToken, Destination: "222222222222/eu-west-1", Repository: "team/app",
		Tag: "release-1.0", Digest: "sha256:" + strings.Repeat("a", 64), Execution: "run-1", Expires: testNow.Add(time.Hour)}
}

func seal(t *testing.T, k *Keys, tk Ticket) string {
	t.Helper()
	s, err := k.Seal(tk)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := testKeys(t, testSecret)
	approve := seal(t, k, testTicket(Approve))
	reject := seal(t, k, testTicket(Reject))
	box := strings.TrimPrefix(approve, sealedPrefix)
	raw, err := b64.DecodeString(box)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		keys       *Keys
		ticket     string
		now        time.Time
		wantAction string
		wantErr    error
	}{
		{"approve", k, approve, testNow, Approve, nil},
		{"reject", k, reject, testNow, Reject, nil},
		{"opened by another instance (the callback)", testKeys(t, testSecret), approve, testNow, Approve, nil},
		{"other secret", testKeys(t, strings.Repeat("x", 32)), approve, testNow, "", ErrUnauthentic},
		{"expired", k, approve, testNow.Add(time.Hour), "", ErrExpired},
		{"last moment", k, approve, testNow.Add(time.Hour - time.Nanosecond), Approve, nil},
		{"empty", k, "", testNow, "", ErrMalformed},
		{"prefix only", k, sealedPrefix, testNow, "", ErrMalformed},
		{"shorter than nonce and tag", k, sealedPrefix + box[:30], testNow, "", ErrMalformed},
		{"truncated", k, sealedPrefix + b64.EncodeToString(raw[:len(raw)-3]), testNow, "", ErrUnauthentic},
		{"padded", k, approve + "==", testNow, "", ErrMalformed},
		{"not base64", k, sealedPrefix + "!!" + box[2:], testNow, "", ErrMalformed},
		{"without its prefix", k, box, testNow, "", ErrMalformed},
		{"other version", k, "v3." + box, testNow, "", ErrMalformed},
		{"too long", k, sealedPrefix + strings.Repeat("A", maxTicketLen), testNow, "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.keys.Open(tt.ticket, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != (Ticket{}) {
					t.Errorf("a refused ticket returned %+v", got)
				}
				return
			}
			want := testTicket(tt.wantAction)
			if got != want {
				t.Errorf("ticket %+v, want %+v", got, want)
			}
		})
	}
}

func TestSealRefusesIncompleteTickets(t *testing.T) {
	t.Parallel()
	k := testKeys(t, testSecret)
	for name, tk := range map[string]Ticket{
		"no action":    {TaskToken: testToken, Expires: testNow},
		"other action": {Action: "approve ", TaskToken: testToken, Expires: testNow},
		"no token":     {Action: Approve, Expires: testNow},
		"no expiry":    {Action: Approve, TaskToken: testToken},
	} {
		if s, err := k.Seal(tk); !errors.Is(err, ErrMalformed) || s != "" {
			t.Errorf("%s: Seal = %q, %v; want ErrMalformed", name, s, err)
		}
	}
	if _, err := NewKeys([]byte("short")); !errors.Is(err, ErrShortKey) {
		t.Errorf("NewKeys(short): %v, want ErrShortKey", err)
	}
}

// encodings are the spellings of s that would give it away: itself,
// URL-escaped, hex, and base64 (standard and URL alphabets) at each of the
// three alignments it can have inside a longer encoded text.
func encodings(s string) []string {
	out := []string{s, url.QueryEscape(s), hex.EncodeToString([]byte(s))}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for shift := range 3 {
			e := enc.EncodeToString([]byte(strings.Repeat("\x00", shift) + s))
			// Drop the characters that mix in the neighbours' bits.
			out = append(out, e[(shift*4+2)/3:len(e)-2])
		}
	}
	return out
}

// The links a person gets show neither the task token nor what the ticket
// says, in any spelling; two tickets of the same content differ (a fresh
// nonce each).
func TestSealedTicketRevealsNothing(t *testing.T) {
	t.Parallel()
	k := testKeys(t, testSecret)
	for _, action := range []string{Approve, Reject} {
		s := seal(t, k, testTicket(action))
		link, err := Link("https://abc.lambda-url.eu-west-1.on.aws/", s)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{testToken, testSecret, `"t":"` + testToken[:20], `{"a":"` + action, "222222222222/eu-west-1"} {
			for _, e := range encodings(secret) {
				if strings.Contains(s, e) || strings.Contains(link, e) {
					t.Errorf("%s ticket %s shows %q (as %q)", action, s, secret, e)
				}
			}
		}
		if again := seal(t, k, testTicket(action)); again == s {
			t.Errorf("%s: two seals of the same ticket are equal; the nonce is not fresh", action)
		}
	}
	// The check can catch what it looks for: the legacy format shows the token.
	legacy := readLegacy(t)[Approve]
	found := false
	for _, e := range encodings("legacyTaskToken-AQCEAAAAKgAAAAMAAAAAAAAAAc1d") {
		found = found || strings.Contains(legacy, e)
	}
	if !found {
		t.Error("encodings does not find the token in a legacy ticket, which carries it in base64")
	}
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Any change to a ticket, one character or one bit of what it encodes, is
// refused: never opened as a ticket at all, let alone as another one.
func TestEveryChangeIsRefused(t *testing.T) {
	t.Parallel()
	k := testKeys(t, testSecret)
	for _, action := range []string{Approve, Reject} {
		s := seal(t, k, testTicket(action))
		refused := func(what, changed string) {
			t.Helper()
			if changed == s {
				return
			}
			if got, err := k.Open(changed, testNow); err == nil {
				t.Fatalf("%s ticket, %s: opened as %+v", action, what, got)
			}
		}
		for i := range len(s) {
			for _, c := range b64Alphabet + ".=" {
				refused("character changed", s[:i]+string(c)+s[i+1:])
			}
			refused("character removed", s[:i]+s[i+1:])
			refused("character added", s[:i]+"A"+s[i:])
		}
		box, err := b64.DecodeString(strings.TrimPrefix(s, sealedPrefix))
		if err != nil {
			t.Fatal(err)
		}
		for i := range box {
			for bit := range 8 {
				b := append([]byte(nil), box...)
				b[i] ^= 1 << bit
				refused("bit flipped", sealedPrefix+b64.EncodeToString(b))
			}
		}
	}
}

// The reject link cannot be made into an approval: not by changing it (see
// TestEveryChangeIsRefused), not by splicing it with the approve link, and
// not by the rewrite that would work on a cipher without authentication.
func TestRejectLinkCannotApprove(t *testing.T) {
	t.Parallel()
	k := testKeys(t, testSecret)
	rt := testTicket(Reject)
	rt.Execution = "run-123" // as long as "approve", for the rewrite below
	at := rt
	at.Action = Approve
	approve, reject := seal(t, k, at), seal(t, k, rt)
	a, _ := b64.DecodeString(strings.TrimPrefix(approve, sealedPrefix))
	r, _ := b64.DecodeString(strings.TrimPrefix(reject, sealedPrefix))
	const nonce, tag = 12, 16
	cat := func(x, y []byte) []byte { return append(append([]byte(nil), x...), y...) }
	splices := map[string][]byte{
		"reject's nonce, approve's ciphertext and tag": cat(r[:nonce], a[nonce:]),
		"approve's nonce, reject's ciphertext and tag": cat(a[:nonce], r[nonce:]),
		"reject's ciphertext, approve's tag":           cat(r[:len(r)-tag], a[len(a)-tag:]),
	}
	// GCM encrypts in counter mode: without its tag, xor-ing the ciphertext
	// with (known plaintext ⊕ wanted plaintext) would decrypt to the wanted
	// one. Wanted: the reject ticket with "x":"run-123" made "a":"approve",
	// which JSON reads as an approval (the last "a" wins).
	plain, err := json.Marshal(rt)
	if err != nil {
		t.Fatal(err)
	}
	wanted := []byte(strings.Replace(string(plain), `"x":"run-123"`, `"a":"approve"`, 1))
	var forged Ticket
	if err := json.Unmarshal(wanted, &forged); err != nil || forged.Action != Approve || len(wanted) != len(plain) || len(r) != nonce+len(plain)+tag {
		t.Fatalf("the rewrite would not approve (%+v, %v): the test proves nothing", forged, err)
	}
	rewritten := append([]byte(nil), r...)
	for i := range plain {
		rewritten[nonce+i] ^= plain[i] ^ wanted[i]
	}
	splices["reject's ciphertext rewritten to approve"] = rewritten
	for name, b := range splices {
		if got, err := k.Open(sealedPrefix+b64.EncodeToString(b), testNow); !errors.Is(err, ErrUnauthentic) {
			t.Errorf("%s: %+v, %v; want ErrUnauthentic", name, got, err)
		}
	}
	for i := 1; i < min(len(reject), len(approve)); i++ {
		for _, s := range []string{reject[:i] + approve[i:], approve[:i] + reject[i:]} {
			if s == approve || s == reject {
				continue
			}
			if got, err := k.Open(s, testNow); err == nil {
				t.Fatalf("a splice of the two links at %d opens as %+v", i, got)
			}
		}
	}
}

func readLegacy(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/legacy-tickets.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if action, ticket, ok := strings.Cut(sc.Text(), " "); ok && !strings.HasPrefix(action, "#") {
			out[action] = ticket
		}
	}
	if len(out) != 2 {
		t.Fatalf("testdata/legacy-tickets.txt has %d tickets, want approve and reject", len(out))
	}
	return out
}

// Links sent before the upgrade (made by the earlier approval.Sign) open
// until they expire, marked Legacy; changed, or under another key, they
// are refused.
func TestOpenLegacy(t *testing.T) {
	t.Parallel()
	k := testKeys(t, "legacy-approval-key-0123456789abcdef0123456789")
	expires := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	legacy := readLegacy(t)
	for action, s := range legacy {
		got, err := k.Open(s, expires.Add(-time.Minute))
		if err != nil || !got.Legacy || got.Action != action || got.TaskToken != "legacyTaskToken-AQCEAAAAKgAAAAMAAAAAAAAAAc1d" ||
			got.Destination != "222222222222/eu-west-1" || !got.Expires.Equal(expires) {
			t.Errorf("%s: %+v, %v", action, got, err)
		}
		if _, err := k.Open(s, expires); !errors.Is(err, ErrExpired) {
			t.Errorf("%s at its expiry: %v, want ErrExpired", action, err)
		}
		if _, err := testKeys(t, testSecret).Open(s, expires.Add(-time.Minute)); !errors.Is(err, ErrUnauthentic) {
			t.Errorf("%s under another key: %v, want ErrUnauthentic", action, err)
		}
	}
	p, _, _ := strings.Cut(legacy[Approve], ".")
	_, rs, _ := strings.Cut(legacy[Reject], ".")
	if _, err := k.Open(p+"."+rs, expires.Add(-time.Minute)); !errors.Is(err, ErrUnauthentic) {
		t.Errorf("approve payload with reject's signature: %v, want ErrUnauthentic", err)
	}
	if _, err := k.Open("A"+legacy[Approve][1:], expires.Add(-time.Minute)); err == nil {
		t.Error("a changed legacy ticket opened")
	}
	// A sealed ticket carries no Legacy mark.
	if got, err := k.Open(seal(t, k, testTicket(Approve)), testNow); err != nil || got.Legacy {
		t.Errorf("sealed ticket: %+v, %v", got, err)
	}
}

func TestLink(t *testing.T) {
	t.Parallel()
	l, err := Link("https://abc.lambda-url.eu-west-1.on.aws/?x=1", "v2.p_s-")
	if err != nil || l != "https://abc.lambda-url.eu-west-1.on.aws/?ticket=v2.p_s-&x=1" {
		t.Fatalf("Link = %q, %v", l, err)
	}
}
