package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestStringNamesVersionRevisionAndGo(t *testing.T) {
	i := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Go: "go1.26.0"}
	if got, want := i.String(), "ferry v1.2.3 (revision 0123456789ab, go1.26.0)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	i.Revision = "0123456789abcdef0123-dirty"
	if got := i.String(); !strings.Contains(got, "revision 0123456789abcdef0123-dirty") {
		t.Errorf("String() = %q, want the whole dirty revision", got)
	}
	i.Revision = ""
	if got, want := i.String(), "ferry v1.2.3 (go1.26.0)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestGetFallsBackToDev(t *testing.T) {
	// A test binary has no module version and no -X: "dev".
	i := Get()
	if i.Version == "" {
		t.Fatal("Version is empty, want a version or dev")
	}
	if i.Go != runtime.Version() {
		t.Errorf("Go = %q, want %q", i.Go, runtime.Version())
	}
	if ua := UserAgent(); !strings.HasPrefix(ua, "ferry/"+i.Version+" (") {
		t.Errorf("UserAgent() = %q, want ferry/%s (...)", ua, i.Version)
	}
}
