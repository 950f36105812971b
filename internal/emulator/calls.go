package emulator

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Services named in Call.Service.
const (
	ServiceECR      = "ecr"
	ServiceSTS      = "sts"
	ServiceRegistry = "registry" // the OCI data plane
)

// Call is one request the emulator served, as recorded for tests and for the
// demo to print. It never holds credentials, tokens or request bodies.
type Call struct {
	Time       time.Time
	Service    string // ServiceECR, ServiceSTS or ServiceRegistry
	Operation  string // ECR/STS operation name, or a data-plane Target class
	Method     string `json:",omitempty"` // data plane: the HTTP method (HEAD and GET are both pulls)
	Account    string // the registry's account; for STS, the role's account when known
	Region     string // empty for STS
	Repository string `json:",omitempty"`
	Reference  string `json:",omitempty"` // data plane: the tag, digest or upload session in the path
	Status     int    // HTTP status returned
	ErrorCode  string `json:",omitempty"` // empty on success
	Injected   bool   `json:",omitempty"` // the error was an injected Fault
	// Bytes is the size of the response body the data plane wrote (a blob
	// or manifest pulled, an error document); 0 for HEAD and for ECR and
	// STS calls.
	Bytes int64 `json:",omitempty"`
}

type callLog struct {
	mu     sync.Mutex
	calls  []Call
	logger *slog.Logger
}

func (l *callLog) record(c Call) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	level := slog.LevelDebug
	l.logger.LogAttrs(context.Background(), level, "emulator call",
		slog.String("service", c.Service),
		slog.String("operation", c.Operation),
		slog.String("account", c.Account),
		slog.String("region", c.Region),
		slog.String("repository", c.Repository),
		slog.Int("status", c.Status),
		slog.String("error_code", c.ErrorCode),
	)
}

func (l *callLog) snapshot() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}
