package workflow

import (
	"net/http"
	"strings"
	"testing"
)

type countingTransport struct{ n int }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// go-containerregistry falls back to plain HTTP for private addresses;
// --verify-key's reads must not, or the registry password goes in the clear.
func TestVerifySignatureSpeaksPlainHTTPOnlyToThisMachine(t *testing.T) {
	t.Parallel()
	for url, allowed := range map[string]bool{
		"http://10.1.2.3:5000/v2/":        false,
		"http://192.168.1.10/v2/":         false,
		"http://registry.example.com/v2/": false,
		"http://127.0.0.1:5000/v2/":       true,
		"http://localhost:5000/v2/":       true,
		"http://[::1]:5000/v2/":           true,
		"https://10.1.2.3:5000/v2/":       true,
	} {
		next := &countingTransport{}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpsOnly{next}.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		switch {
		case allowed && (err != nil || next.n != 1):
			t.Errorf("%s: %v, %d requests sent; want it sent", url, err, next.n)
		case !allowed && (err == nil || next.n != 0 || !strings.Contains(err.Error(), "plain HTTP only on this machine")):
			t.Errorf("%s: %v, %d requests sent; want it refused, unsent", url, err, next.n)
		}
	}
}
