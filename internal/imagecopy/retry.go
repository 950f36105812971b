package imagecopy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Backoff is the retry policy for registry requests: exponential with full
// jitter, capped, honouring Retry-After.
type Backoff struct {
	Attempts int           // total tries, including the first
	Initial  time.Duration // wait before the second try (before jitter)
	Max      time.Duration // cap on one wait, Retry-After included
}

// DefaultBackoff retries for a little over a minute in the worst case.
var DefaultBackoff = Backoff{Attempts: 6, Initial: 500 * time.Millisecond, Max: 20 * time.Second}

// delay is the wait before try n+1 (n counts from 1).
func (b Backoff) delay(n int, hint time.Duration) time.Duration {
	d := b.Initial << (n - 1)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	// Full jitter, but never less than half the step, so that a burst of
	// 429s spreads out without collapsing to zero.
	d = d/2 + rand.N(d/2+1)
	if hint > d {
		d = hint
	}
	if d > b.Max {
		d = b.Max
	}
	return d
}

// retry runs op until it succeeds, fails permanently, or runs out of tries.
func (b Backoff) retry(ctx context.Context, op func() error) error {
	attempts := max(b.Attempts, 1)
	start := time.Now()
	for n := 1; ; n++ {
		err := op()
		if err == nil || !retryable(err) {
			return err
		}
		if n >= attempts {
			if n > 1 {
				err = &RetriedError{Err: err, Tries: n, Over: time.Since(start)}
			}
			return err
		}
		t := time.NewTimer(b.delay(n, retryAfterOf(err)))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// errRefusedAfterAnswers marks a connection refused by a host that has
// answered this Copier before.
var errRefusedAfterAnswers = errors.New("refused by a host that has answered before, so retried")

// answered is the set of hosts that have answered a Copier's requests, so
// that a connection one of them refuses later (a registry restarting, a
// load balancer replacing its nodes) is retried, while one refused by a
// host that never answered (most likely a wrong address) fails at once.
type answered struct {
	mu sync.Mutex
	m  map[string]bool
}

func (a *answered) add(host string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]bool{}
	}
	a.m[host] = true
}

func (a *answered) has(host string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[host]
}

// errNoAnswer marks a request the transport gave up on because the
// registry did not answer in time (not because the caller's context ended).
var errNoAnswer = errors.New("the registry did not answer in time")

// Retryable reports whether a copy that failed with err may succeed if
// tried again later: the engine's own test for a single request, for
// callers that retry whole copies (the workflow's Step Functions Retry).
func Retryable(err error) bool { return retryable(err) }

// retryable reports whether a fresh try may succeed: throttling, server
// errors, broken or timed-out connections, stalls, and a stream refused for
// a token since renewed. Anything else (4xx, digest mismatches,
// cancellation) fails fast.
func retryable(err error) bool {
	if errors.Is(err, errNoAnswer) {
		return true
	}
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrDigestMismatch) {
		return false
	}
	if errors.Is(err, errTokenRenewed) || errors.Is(err, ErrStalled) || errors.Is(err, errRefusedAfterAnswers) || errors.Is(err, errMonolithicRefused) {
		return true
	}
	var re *RegistryError
	if errors.As(err, &re) {
		return re.Temporary()
	}
	// A name that does not resolve, or nothing listening (at a host that
	// never answered: see answered), is a wrong address far more often
	// than a passing fault: say so at once.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errShortBody) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// A connection broken while reading or writing (a body of known
	// length is written with ReadFrom: "readfrom").
	var oe *net.OpError
	return errors.As(err, &oe) && (oe.Op == "read" || oe.Op == "write" || oe.Op == "readfrom")
}

func retryAfterOf(err error) time.Duration {
	var re *RegistryError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return 0
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
