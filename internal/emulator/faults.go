package emulator

import (
	"net/http"
	"sync"
	"time"
)

// Fault is an error to return instead of serving a request, for tests of
// retry and failure handling. The same Fault renders in the protocol of the
// endpoint it is injected into: ECR JSON ("__type"), STS XML (<Code>) or the
// registry's {"errors":[{"code":...}]} body.
type Fault struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // sent as Retry-After (whole seconds) when > 0
}

// FaultThrottling is ECR's throttling error: 400 ThrottlingException, which
// the SDKs retry. (STS's query protocol calls it "Throttling": inject
// Fault{Status: 400, Code: "Throttling"} there.)
func FaultThrottling() Fault {
	return Fault{Status: http.StatusBadRequest, Code: CodeThrottling, Message: "Rate exceeded"}
}

// FaultServerError is ECR's 500 ServerException, which SDKs retry. For the
// data plane, FaultUnavailable or Fault{Status: 500, Code: "UNKNOWN"} read
// more like a registry.
func FaultServerError() Fault {
	return Fault{Status: http.StatusInternalServerError, Code: CodeServer, Message: "Internal failure (injected)"}
}

// FaultTooManyRequests is the data plane's 429 with a Retry-After header.
func FaultTooManyRequests(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, Code: CodeTooManyRequests,
		Message: "Rate exceeded", RetryAfter: retryAfter}
}

// FaultUnavailable is a 503 from the data plane's front end.
func FaultUnavailable() Fault {
	return Fault{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "Service unavailable (injected)"}
}

func (f Fault) apiError() *APIError {
	e := &APIError{Status: f.Status, Code: f.Code, Message: f.Message}
	if f.RetryAfter > 0 {
		e.RetryAfterSeconds = int((f.RetryAfter + time.Second - 1) / time.Second)
	}
	return e
}

// Data-plane request classes, for InjectFault. ECR and STS operations are
// targeted by their operation name ("DescribeImages", "AssumeRole").
const (
	TargetPing         = "ping"          // GET /v2/
	TargetManifestPull = "manifest pull" // GET/HEAD /v2/<repo>/manifests/<ref>
	TargetManifestPush = "manifest push" // PUT /v2/<repo>/manifests/<ref>
	TargetBlobPull     = "blob pull"     // GET/HEAD /v2/<repo>/blobs/<digest>
	TargetBlobUpload   = "blob upload"   // POST/PATCH/PUT /v2/<repo>/blobs/uploads/...
	TargetTagsList     = "tags list"     // GET /v2/<repo>/tags/list
	TargetReferrers    = "referrers"     // GET /v2/<repo>/referrers/<digest>
	TargetCatalog      = "catalog"       // GET /v2/_catalog
)

type pendingFault struct {
	remaining int
	fault     Fault
}

// faults holds the injected faults of one endpoint group, by target.
type faults struct {
	mu sync.Mutex
	m  map[string][]*pendingFault
}

func (f *faults) add(target string, n int, fault Fault) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]*pendingFault{}
	}
	f.m[target] = append(f.m[target], &pendingFault{remaining: n, fault: fault})
}

// take consumes one occurrence of a fault for target, if any is pending.
func (f *faults) take(target string) (*APIError, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.m[target]
	if len(q) == 0 {
		return nil, false
	}
	p := q[0]
	p.remaining--
	if p.remaining == 0 {
		f.m[target] = q[1:]
	}
	return p.fault.apiError(), true
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = nil
}
