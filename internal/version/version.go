// Package version says which Ferry this is: the module version and VCS
// revision the Go toolchain recorded in the binary, or what `make build`
// set with -ldflags "-X github.com/ferry-dev/ferry/internal/version.version=...".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// version is set by `make build` (git describe); empty otherwise.
var version string

// Info is what the binary knows about its own build.
type Info struct {
	Version  string // v1.2.3, v0.0.0-2026...-abcdef (go install), "dev" (go build in a checkout)
	Revision string // VCS commit, with "-dirty" when built from a modified tree; may be empty
	Time     string // VCS commit time (RFC 3339); may be empty
	Go       string // runtime.Version()
}

var get = sync.OnceValue(func() Info {
	info := Info{Version: version, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && info.Revision != "" {
			info.Revision += "-dirty"
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
})

// Get returns this binary's build information.
func Get() Info { return get() }

// String is the one-line form `ferry version` prints:
// "ferry v1.2.3 (revision 0123abcd, go1.26.0)".
func (i Info) String() string {
	var extra []string
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 && !strings.HasSuffix(rev, "-dirty") {
			rev = rev[:12]
		}
		extra = append(extra, "revision "+rev)
	}
	extra = append(extra, i.Go)
	return fmt.Sprintf("ferry %s (%s)", i.Version, strings.Join(extra, ", "))
}

// UserAgent is the User-Agent Ferry sends to registries and AWS:
// "ferry/v1.2.3 (go1.26.0; linux/arm64)".
func UserAgent() string {
	i := Get()
	return fmt.Sprintf("ferry/%s (%s; %s/%s)", i.Version, i.Go, runtime.GOOS, runtime.GOARCH)
}
