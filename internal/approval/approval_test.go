package approval

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignCheck(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("k", 32))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tk := Ticket{Action: Approve, TaskToken: "tok", Destination: "222222222222/eu-west-1", Expires: now.Add(time.Hour)}
	good, err := Sign(key, tk)
	if err != nil {
		t.Fatal(err)
	}
	reject, _ := Sign(key, Ticket{Action: Reject, TaskToken: "tok", Expires: now.Add(time.Hour)})
	p, s, _ := strings.Cut(good, ".")
	_, rs, _ := strings.Cut(reject, ".")
	tests := []struct {
		name    string
		key     []byte
		signed  string
		now     time.Time
		wantErr error
	}{
		{"valid", key, good, now, nil},
		{"other key", []byte(strings.Repeat("x", 32)), good, now, ErrSignature},
		{"reject signature on approve payload", key, p + "." + rs, now, ErrSignature},
		{"tampered payload", key, "A" + p[1:] + "." + s, now, ErrSignature},
		{"expired", key, good, now.Add(time.Hour), ErrExpired},
		{"no signature", key, p, now, ErrMalformed},
		{"garbage", key, "!!.!!", now, ErrMalformed},
		{"short key", []byte("short"), good, now, ErrShortKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(tt.key, tt.signed, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Check: %v, want %v", err, tt.wantErr)
			}
			if err == nil && (got.Action != Approve || got.TaskToken != "tok") {
				t.Fatalf("ticket %+v", got)
			}
		})
	}
}

func TestLink(t *testing.T) {
	t.Parallel()
	l, err := Link("https://abc.lambda-url.eu-west-1.on.aws/?x=1", "p.s")
	if err != nil || l != "https://abc.lambda-url.eu-west-1.on.aws/?ticket=p.s&x=1" {
		t.Fatalf("Link = %q, %v", l, err)
	}
}
