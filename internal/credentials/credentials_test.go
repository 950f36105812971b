package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dockercreds "github.com/docker/cli/cli/config/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// root holds the fake credential helpers (root/bin) and each case's files
// (root/case, emptied between cases). It is one directory for the whole
// test binary because docker/cli's config.Dir, which authn.DefaultKeychain
// uses, remembers the first $HOME it sees: every case must use the same.
var root, origPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "credentials-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, origPath = dir, os.Getenv("PATH")
	code := 1
	if err := writeHelpers(filepath.Join(root, "bin")); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeHelpers writes the fake credential helpers into dir:
// docker-credential-fake answers by server URL, docker-credential-other
// has the same credential for every URL. Every secret holds "SECRET".
func writeHelpers(dir string) error {
	helpers := map[string]string{
		"docker-credential-fake": `#!/bin/sh
[ "$1" = get ] || { echo "unexpected action $1"; exit 1; }
url=$(cat)
case "$url" in
found.example|found.example:5000)
	printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-SECRET"}\n' "$url" ;;
token.example)
	printf '{"ServerURL":"%s","Username":"<token>","Secret":"identity-SECRET"}\n' "$url" ;;
echo.example*|https://index.docker.io/v1/)
	printf '{"ServerURL":"%s","Username":"%s","Secret":"echo-SECRET"}\n' "$url" "$url" ;;
fail.example*)
	echo "keychain is locked"; exit 1 ;;
leak.example)
	printf '{"ServerURL":"%s","Username":"u","Secret":"leak-SECRET"}\n' "$url"; exit 1 ;;
garbage.example)
	printf '{"Username":"u","Secret":"garbage-SECRET"' ;;
*)
	echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
		"docker-credential-other": `#!/bin/sh
cat >/dev/null
echo '{"Username":"other-user","Secret":"other-SECRET"}'
`,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, script := range helpers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Logins used by the cases, and the credentials they give.
var (
	alice = b64("alice:alice-SECRET")
	bob   = b64("bob:bob-SECRET")
	carol = b64("carol:carol-SECRET")
	dave  = b64("dave:dave-SECRET")
	erin  = b64("erin:erin-SECRET")
	frank = b64("frank:frank-SECRET")

	aliceC  = Credential{Username: "alice", Password: "alice-SECRET"}
	bobC    = Credential{Username: "bob", Password: "bob-SECRET"}
	carolC  = Credential{Username: "carol", Password: "carol-SECRET"}
	daveC   = Credential{Username: "dave", Password: "dave-SECRET"}
	erinC   = Credential{Username: "erin", Password: "erin-SECRET"}
	frankC  = Credential{Username: "frank", Password: "frank-SECRET"}
	helperC = Credential{Username: "helper-user", Password: "helper-SECRET"}
	otherC  = Credential{Username: "other-user", Password: "other-SECRET"}
)

// auths is a config file holding one "auths" entry for key with auth.
func auths(key, auth string) string {
	return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, key, auth)
}

// Paths of the files cases write, relative to the case directory.
const (
	homeConfig   = "home/.docker/config.json"
	dockerConfig = "dc/config.json"
	authFile     = "raf.json"
	runtimeAuth  = "run/containers/auth.json"
	xdgAuth      = "xdg/containers/auth.json"
	homeXDGAuth  = "home/.config/containers/auth.json"
	isDir        = "<dir>" // a files value: make a directory, not a file
)

type resolveCase struct {
	name                 string
	files                map[string]string // path relative to the case directory: contents
	env                  map[string]string // "@" in a value is the case directory
	registry, repository string
	want                 Credential
	wantErr              string // Resolve fails with an error holding this
}

var cases = []resolveCase{
	// Which file.
	{name: "no file", registry: "reg.example", repository: "app"},
	{
		name:     "home config",
		files:    map[string]string{homeConfig: auths("reg.example", alice)},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "home config is a directory",
		files:    map[string]string{homeConfig: isDir, authFile: auths("reg.example", carol)},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/" + authFile},
		registry: "reg.example", repository: "app", want: carolC,
	},
	{
		name:     "DOCKER_CONFIG without home config",
		files:    map[string]string{dockerConfig: auths("reg.example", bob)},
		env:      map[string]string{"DOCKER_CONFIG": "@/dc"},
		registry: "reg.example", repository: "app", want: bobC,
	},
	{
		name:     "DOCKER_CONFIG without HOME",
		files:    map[string]string{dockerConfig: auths("reg.example", bob)},
		env:      map[string]string{"DOCKER_CONFIG": "@/dc", "HOME": ""},
		registry: "reg.example", repository: "app", want: bobC,
	},
	{
		name:     "DOCKER_CONFIG wins over home config",
		files:    map[string]string{homeConfig: auths("reg.example", alice), dockerConfig: auths("reg.example", bob)},
		env:      map[string]string{"DOCKER_CONFIG": "@/dc"},
		registry: "reg.example", repository: "app", want: bobC,
	},
	{
		name: "home config found but DOCKER_CONFIG has none: nothing",
		files: map[string]string{
			homeConfig: auths("reg.example", alice),
			authFile:   auths("reg.example", carol),
		},
		env:      map[string]string{"DOCKER_CONFIG": "@/dc", "REGISTRY_AUTH_FILE": "@/" + authFile},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "home config found but DOCKER_CONFIG's is a directory",
		files:    map[string]string{homeConfig: auths("reg.example", alice), dockerConfig: isDir},
		env:      map[string]string{"DOCKER_CONFIG": "@/dc"},
		registry: "reg.example", repository: "app", wantErr: "dc/config.json",
	},
	{
		name:     "REGISTRY_AUTH_FILE",
		files:    map[string]string{authFile: auths("reg.example", carol)},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/" + authFile},
		registry: "reg.example", repository: "app", want: carolC,
	},
	{
		name:     "REGISTRY_AUTH_FILE ignored when a docker config exists",
		files:    map[string]string{homeConfig: `{}`, authFile: auths("reg.example", carol)},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/" + authFile},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "REGISTRY_AUTH_FILE before podman's",
		files:    map[string]string{authFile: auths("reg.example", carol), runtimeAuth: auths("reg.example", dave)},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/" + authFile, "XDG_RUNTIME_DIR": "@/run"},
		registry: "reg.example", repository: "app", want: carolC,
	},
	{
		name:     "missing REGISTRY_AUTH_FILE: podman's",
		files:    map[string]string{runtimeAuth: auths("reg.example", dave)},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/missing.json", "XDG_RUNTIME_DIR": "@/run"},
		registry: "reg.example", repository: "app", want: daveC,
	},
	{
		name:     "podman XDG_RUNTIME_DIR before XDG_CONFIG_HOME",
		files:    map[string]string{runtimeAuth: auths("reg.example", dave), xdgAuth: auths("reg.example", erin)},
		env:      map[string]string{"XDG_RUNTIME_DIR": "@/run", "XDG_CONFIG_HOME": "@/xdg"},
		registry: "reg.example", repository: "app", want: daveC,
	},
	{
		name:     "podman XDG_CONFIG_HOME when XDG_RUNTIME_DIR has none",
		files:    map[string]string{xdgAuth: auths("reg.example", erin)},
		env:      map[string]string{"XDG_RUNTIME_DIR": "@/run", "XDG_CONFIG_HOME": "@/xdg"},
		registry: "reg.example", repository: "app", want: erinC,
	},
	{
		name:     "podman ~/.config by default",
		files:    map[string]string{homeXDGAuth: auths("reg.example", erin)},
		registry: "reg.example", repository: "app", want: erinC,
	},
	{
		name:     "XDG_CONFIG_HOME hides ~/.config",
		files:    map[string]string{homeXDGAuth: auths("reg.example", erin)},
		env:      map[string]string{"XDG_CONFIG_HOME": "@/xdg"},
		registry: "reg.example", repository: "app",
	},

	// Parsing.
	{
		name:     "malformed home config",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"password": "pw-SECRET"x}}}`},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "malformed REGISTRY_AUTH_FILE",
		files:    map[string]string{authFile: `{"auths": {"reg.example": {"password": "pw-SECRET"`},
		env:      map[string]string{"REGISTRY_AUTH_FILE": "@/" + authFile},
		registry: "reg.example", repository: "app", wantErr: authFile,
	},
	{
		name:     "malformed podman auth.json",
		files:    map[string]string{runtimeAuth: `[`},
		env:      map[string]string{"XDG_RUNTIME_DIR": "@/run"},
		registry: "reg.example", repository: "app", wantErr: runtimeAuth,
	},
	{
		name:     "wrongly typed field elsewhere in the file",
		files:    map[string]string{homeConfig: `{"psFormat": 1, "auths": {"reg.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "auth not base64",
		files:    map[string]string{homeConfig: auths("reg.example", "alice:alice-SECRET")},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "auth without a colon",
		files:    map[string]string{homeConfig: auths("reg.example", b64("alice-SECRET"))},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "auth without a username",
		files:    map[string]string{homeConfig: auths("reg.example", b64(":alice-SECRET"))},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "bad auth of another registry",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"auth": "` + alice + `"}, "other.example": {"auth": "%%%"}}}`},
		registry: "reg.example", repository: "app", wantErr: homeConfig,
	},
	{
		name:     "empty file",
		files:    map[string]string{homeConfig: ""},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "only the first JSON value counts",
		files:    map[string]string{homeConfig: auths("reg.example", alice) + ` trailing {`},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "field names are case-insensitive",
		files:    map[string]string{homeConfig: `{"AUTHS": {"reg.example": {"Auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "username and password fields",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"username": "ursula", "password": "ursula-SECRET"}}}`},
		registry: "reg.example", repository: "app", want: Credential{Username: "ursula", Password: "ursula-SECRET"},
	},
	{
		name:     "auth beats username and password fields",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"auth": "` + alice + `", "username": "ursula", "password": "ursula-SECRET"}}}`},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "NULs around the password are dropped",
		files:    map[string]string{homeConfig: auths("reg.example", b64("alice:\x00alice-SECRET\x00\x00"))},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "password with colons",
		files:    map[string]string{homeConfig: auths("reg.example", b64("alice:a:b-SECRET"))},
		registry: "reg.example", repository: "app", want: Credential{Username: "alice", Password: "a:b-SECRET"},
	},
	{
		name:     "identity and registry tokens",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"auth": "` + alice + `", "identitytoken": "id-SECRET", "registrytoken": "reg-SECRET"}}}`},
		registry: "reg.example", repository: "app",
		want: Credential{Username: "alice", Password: "alice-SECRET", IdentityToken: "id-SECRET", RegistryToken: "reg-SECRET"},
	},
	{
		name:     "registry token alone",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {"registrytoken": "reg-SECRET"}}}`},
		registry: "reg.example", repository: "app", want: Credential{RegistryToken: "reg-SECRET"},
	},

	// Which key.
	{
		name:     "repository key first",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example/team/app": {"auth": "` + alice + `"}, "reg.example": {"auth": "` + bob + `"}}}`},
		registry: "reg.example", repository: "team/app", want: aliceC,
	},
	{
		name:     "registry key for another repository",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example/team/app": {"auth": "` + alice + `"}, "reg.example": {"auth": "` + bob + `"}}}`},
		registry: "reg.example", repository: "team/other", want: bobC,
	},
	{
		name:     "a key with a path stands for its host, for any repository",
		files:    map[string]string{homeConfig: auths("reg.example/team", alice)},
		registry: "reg.example", repository: "other/app", want: aliceC,
	},
	{
		name:     "a key with a path for another host",
		files:    map[string]string{homeConfig: auths("reg.example.org/reg.example", alice)},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "empty repository entry: registry key",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example/app": {}, "reg.example": {"auth": "` + bob + `"}}}`},
		registry: "reg.example", repository: "app", want: bobC,
	},
	{
		name:     "no repository",
		files:    map[string]string{homeConfig: auths("reg.example", alice)},
		registry: "reg.example", want: aliceC,
	},
	{
		name:     "Docker Hub",
		files:    map[string]string{homeConfig: auths("https://index.docker.io/v1/", alice)},
		registry: "index.docker.io", repository: "library/alpine", want: aliceC,
	},
	{
		name:     "Docker Hub as docker.io, implicit library/",
		files:    map[string]string{homeConfig: auths("https://index.docker.io/v1/", alice)},
		registry: "docker.io", repository: "alpine", want: aliceC,
	},
	{
		name:     "Docker Hub as no registry",
		files:    map[string]string{homeConfig: auths("https://index.docker.io/v1/", alice)},
		registry: "", repository: "library/alpine", want: aliceC,
	},
	{
		name:     "Docker Hub repository key",
		files:    map[string]string{homeConfig: `{"auths": {"index.docker.io/library/alpine": {"auth": "` + bob + `"}, "https://index.docker.io/v1/": {"auth": "` + alice + `"}}}`},
		registry: "docker.io", repository: "alpine", want: bobC,
	},
	{
		name:     "Docker Hub: host name keys are not its key",
		files:    map[string]string{homeConfig: `{"auths": {"index.docker.io": {"auth": "` + alice + `"}, "docker.io": {"auth": "` + bob + `"}}}`},
		registry: "index.docker.io", repository: "library/alpine",
	},
	{
		name:     "key with scheme and path",
		files:    map[string]string{homeConfig: auths("https://reg.example/v1/", alice)},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "key with scheme and port",
		files:    map[string]string{homeConfig: auths("http://reg.example:5000", alice)},
		registry: "reg.example:5000", repository: "app", want: aliceC,
	},
	{
		name:     "key with scheme and IPv6 address",
		files:    map[string]string{homeConfig: auths("https://[::1]:5000/v2/", alice)},
		registry: "[::1]:5000", repository: "app", want: aliceC,
	},
	{
		name:     "key with scheme of another port",
		files:    map[string]string{homeConfig: auths("https://reg.example:5000/", alice)},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "key with scheme of another host",
		files:    map[string]string{homeConfig: auths("https://reg.example.org/", alice)},
		registry: "reg.example", repository: "app",
	},
	{
		name:     "exact empty entry hides one with a scheme",
		files:    map[string]string{homeConfig: `{"auths": {"reg.example": {}, "https://reg.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app",
	},

	// Credential helpers.
	{
		name:     "credsStore",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "found.example", repository: "app", want: helperC,
	},
	{
		name:     "credsStore identity token",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"token.example": {"auth": "` + alice + `"}}}`},
		registry: "token.example", repository: "app", want: Credential{IdentityToken: "identity-SECRET"},
	},
	{
		name:     "helper asked for the repository key first",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "echo.example", repository: "team/app",
		want: Credential{Username: "echo.example/team/app", Password: "echo-SECRET"},
	},
	{
		name:     "helper asked for Docker Hub's key",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "docker.io", repository: "alpine",
		want: Credential{Username: "https://index.docker.io/v1/", Password: "echo-SECRET"},
	},
	{
		name:     "helper without the credential: the file's is not used",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"nothing.example": {"auth": "` + alice + `", "identitytoken": "id-SECRET"}}}`},
		registry: "nothing.example", repository: "app",
	},
	{
		name:     "helper without the credential: the file's registry token is",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"https://nothing.example/v1/": {"auth": "` + alice + `", "registrytoken": "reg-SECRET"}}}`},
		registry: "nothing.example", repository: "app", want: Credential{RegistryToken: "reg-SECRET"},
	},
	{
		name:     "helper credential with the file's registry token",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"found.example": {"auth": "` + alice + `", "identitytoken": "id-SECRET", "registrytoken": "reg-SECRET"}}}`},
		registry: "found.example", repository: "app",
		want: Credential{Username: "helper-user", Password: "helper-SECRET", RegistryToken: "reg-SECRET"},
	},
	{
		name:     "failing helper",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"fail.example": {"auth": "` + alice + `"}}}`},
		registry: "fail.example", wantErr: "docker-credential-fake get fail.example: exit status 1: keychain is locked",
	},
	{
		name:     "failing helper on the repository key",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "fail.example", repository: "app", wantErr: "docker-credential-fake get fail.example/app",
	},
	{
		name:     "failing helper printing what looks like a credential",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "leak.example", wantErr: "docker-credential-fake get leak.example: exit status 1",
	},
	{
		name:     "malformed helper answer",
		files:    map[string]string{homeConfig: `{"credsStore": "fake"}`},
		registry: "garbage.example", wantErr: "docker-credential-fake get garbage.example: malformed",
	},
	{
		name:     "helper not installed",
		files:    map[string]string{homeConfig: `{"credsStore": "absent", "auths": {"reg.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app", wantErr: "the credential helper docker-credential-absent is not installed (named by credsStore in ",
	},
	{
		name:     "ECR's helper not installed: say what to install",
		files:    map[string]string{homeConfig: `{"credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}}`},
		registry: "123.dkr.ecr.eu-west-1.amazonaws.com", repository: "app",
		wantErr: homeConfig + `): install it (Debian/Ubuntu: apt install amazon-ecr-credential-helper`,
	},
	{
		name:     "credHelpers before credsStore",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "credHelpers": {"found.example": "other"}}`},
		registry: "found.example", repository: "app", want: otherC,
	},
	{
		name:     "credHelpers of another registry",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "credHelpers": {"elsewhere.example": "other"}}`},
		registry: "found.example", repository: "app", want: helperC,
	},
	{
		name:     "credHelpers without credsStore",
		files:    map[string]string{homeConfig: `{"credHelpers": {"reg.example": "other"}, "auths": {"other.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app", want: otherC,
	},
	{
		name:     "credHelpers for a repository key",
		files:    map[string]string{homeConfig: `{"credHelpers": {"reg.example/team/app": "other"}, "auths": {"reg.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "team/app", want: otherC,
	},
	{
		name:     "credHelpers key is exact",
		files:    map[string]string{homeConfig: `{"credHelpers": {"https://reg.example": "other"}, "auths": {"reg.example": {"auth": "` + alice + `"}}}`},
		registry: "reg.example", repository: "app", want: aliceC,
	},
	{
		name:     "credHelpers for Docker Hub",
		files:    map[string]string{homeConfig: `{"credHelpers": {"https://index.docker.io/v1/": "other"}}`},
		registry: "docker.io", repository: "alpine", want: otherC,
	},
	{
		name:     "empty credHelpers entry: the file, not credsStore",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "credHelpers": {"found.example": ""}, "auths": {"found.example": {"auth": "` + alice + `"}}}`},
		registry: "found.example", repository: "app", want: aliceC,
	},
	{
		name:     "helper in podman's auth.json",
		files:    map[string]string{runtimeAuth: `{"credHelpers": {"reg.example": "other"}}`},
		env:      map[string]string{"XDG_RUNTIME_DIR": "@/run"},
		registry: "reg.example", repository: "app", want: otherC,
	},

	// DOCKER_AUTH_CONFIG.
	{
		name:     "DOCKER_AUTH_CONFIG",
		files:    map[string]string{homeConfig: `{}`},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("env.example", frank)},
		registry: "env.example", repository: "app", want: frankC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG with podman's auth.json",
		files:    map[string]string{runtimeAuth: `{}`},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("env.example", frank), "XDG_RUNTIME_DIR": "@/run"},
		registry: "env.example", repository: "app", want: frankC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG before helpers and auths",
		files:    map[string]string{homeConfig: `{"credsStore": "fake", "auths": {"found.example": {"auth": "` + alice + `"}}}`},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("found.example", frank)},
		registry: "found.example", repository: "app", want: frankC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG repository key",
		files:    map[string]string{homeConfig: auths("env.example/app", alice)},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("env.example", frank)},
		registry: "env.example", repository: "app", want: aliceC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG for Docker Hub",
		files:    map[string]string{homeConfig: `{}`},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("https://index.docker.io/v1/", frank)},
		registry: "docker.io", repository: "alpine", want: frankC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG without a config file",
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("env.example", frank)},
		registry: "env.example", repository: "app",
	},
	{
		name:     "DOCKER_AUTH_CONFIG keys are exact",
		files:    map[string]string{homeConfig: `{}`},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("https://env.example/v1/", frank)},
		registry: "env.example", repository: "app",
	},
	{
		name:     "DOCKER_AUTH_CONFIG with another field is ignored",
		files:    map[string]string{homeConfig: auths("env.example", alice)},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": `{"auths": {"env.example": {"auth": "` + frank + `", "identitytoken": "x"}}}`},
		registry: "env.example", repository: "app", want: aliceC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG with an entry without auth is ignored",
		files:    map[string]string{homeConfig: auths("env.example", alice)},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": `{"auths": {"env.example": {"auth": "` + frank + `"}, "x.example": {}}}`},
		registry: "env.example", repository: "app", want: aliceC,
	},
	{
		name:     "DOCKER_AUTH_CONFIG with two values is ignored",
		files:    map[string]string{homeConfig: auths("env.example", alice)},
		env:      map[string]string{"DOCKER_AUTH_CONFIG": auths("env.example", frank) + ` {}`},
		registry: "env.example", repository: "app", want: aliceC,
	},
}

// setup makes the files and environment of c in the case directory, which
// it empties first.
func setup(t *testing.T, c resolveCase) {
	t.Helper()
	dir := filepath.Join(root, "case")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HOME":               "@/home",
		"DOCKER_CONFIG":      "",
		"REGISTRY_AUTH_FILE": "",
		"XDG_RUNTIME_DIR":    "",
		"XDG_CONFIG_HOME":    "",
		"DOCKER_AUTH_CONFIG": "",
		"PATH":               filepath.Join(root, "bin") + string(os.PathListSeparator) + origPath,
	}
	for k, v := range c.env {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, strings.ReplaceAll(v, "@", dir))
	}
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, content := range c.files {
		p = filepath.Join(dir, p)
		if content == isDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkNoSecret fails t if err quotes a secret of the cases: they all
// hold "SECRET", in clear or in base64.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{"SECRET", alice, bob, carol, dave, erin, frank} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds a secret", err)
		}
	}
}

func TestDocker(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c)
			got, err := Docker.Resolve(t.Context(), c.registry, c.repository)
			checkNoSecret(t, err)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Resolve() = %+v, %v; want an error holding %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve() = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// TestDockerMatchesGGCR checks that Docker resolves what
// authn.DefaultKeychain does, for every case.
func TestDockerMatchesGGCR(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setup(t, c)
			ref := c.registry + "/" + c.repository
			if c.registry == "" {
				ref = c.repository
			}
			var target authn.Resource
			var err error
			if c.repository == "" {
				target, err = name.NewRegistry(c.registry)
			} else {
				target, err = name.NewRepository(ref)
			}
			if err != nil {
				t.Fatal(err)
			}
			var want Credential
			auth, wantErr := authn.DefaultKeychain.Resolve(target)
			if wantErr == nil {
				var ac *authn.AuthConfig
				if ac, wantErr = authn.Authorization(t.Context(), auth); wantErr == nil {
					want = Credential{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
				}
			}

			got, err := Docker.Resolve(t.Context(), c.registry, c.repository)
			if (err != nil) != (wantErr != nil) || got != want {
				t.Fatalf("Resolve(%q, %q) = %+v, %v; authn.DefaultKeychain: %+v, %v", c.registry, c.repository, got, err, want, wantErr)
			}
			// Keep the table honest: ggcr agrees with what it expects.
			if (c.wantErr != "") != (wantErr != nil) || want != c.want {
				t.Errorf("authn.DefaultKeychain: %+v, %v; the case expects %+v, %q", want, wantErr, c.want, c.wantErr)
			}
		})
	}
}

func TestDockerCanceled(t *testing.T) {
	setup(t, resolveCase{files: map[string]string{homeConfig: `{"credsStore": "fake"}`}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := Docker.Resolve(ctx, "found.example", "app")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve(canceled) = %+v, %v; want context.Canceled", got, err)
	}
}

func TestStatic(t *testing.T) {
	c := Credential{Username: "u", Password: "p", IdentityToken: "i", RegistryToken: "r"}
	for _, reg := range []string{"index.docker.io", "reg.example:5000", ""} {
		got, err := Static(c).Resolve(t.Context(), reg, "app")
		if err != nil || got != c {
			t.Errorf("Static(%+v).Resolve(%q) = %+v, %v", c, reg, got, err)
		}
	}
	if got, err := Static(Credential{}).Resolve(t.Context(), "reg.example", "app"); err != nil || !got.IsZero() {
		t.Errorf("Static(zero).Resolve = %+v, %v", got, err)
	}
}

func TestIsZero(t *testing.T) {
	if !(Credential{}).IsZero() {
		t.Error("zero Credential: IsZero() = false")
	}
	for _, c := range []Credential{{Username: "u"}, {Password: "p"}, {IdentityToken: "i"}, {RegistryToken: "r"}} {
		if c.IsZero() {
			t.Errorf("%+v: IsZero() = true", c)
		}
	}
}

// TestConvertToHostname compares convertToHostname with docker/cli's.
func TestConvertToHostname(t *testing.T) {
	for _, in := range []string{
		"reg.example", "reg.example/v1/", "reg.example:5000", "https://reg.example", "http://reg.example:5000/v2/",
		"https://index.docker.io/v1/", "https://[::1]:5000/v2/", "https://[::1]/", "https://::1:5000/v2/",
		"https://::1/", "https://fe80::1%eth0:5000/", "ftp://reg.example/", "https://", "://reg.example/x",
		"https://user:pw@reg.example/", "https://reg.example:abc/", "", "/path",
	} {
		if got, want := convertToHostname(in), dockercreds.ConvertToHostname(in); got != want {
			t.Errorf("convertToHostname(%q) = %q; docker/cli: %q", in, got, want)
		}
	}
}

// TestStandardLibraryOnly checks that the package links nothing but the
// standard library: that is what it is for.
func TestStandardLibraryOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test needs the go tool on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "github.com/ferry-dev/ferry/internal/credentials" {
		t.Errorf("non-standard dependencies: %q", got)
	}
	out, err = exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, ".") && p != "github.com/ferry-dev/ferry/internal/credentials" {
			t.Errorf("dependency %s (only the standard library, and none of its vendored packages, should be linked)", p)
		}
	}
}

// TestParseErrorQuotesNothing checks that a JSON syntax error does not
// quote the file, whose character at fault may be part of a secret.
func TestParseErrorQuotesNothing(t *testing.T) {
	for _, in := range []string{
		`{"auths": {"reg.example": {"password": Zebra}}}`,
		"{\"auths\": {\"reg.example\": {\"password\": \"Zebra\x01\"}}}",
		`{"auths": {"reg.example": {"password": "Zebra"Z}}}`,
	} {
		var cf configFile
		err := cf.parse(strings.NewReader(in))
		if err == nil || strings.Contains(err.Error(), "Z") || strings.Contains(err.Error(), "\x01") {
			t.Errorf("parse(%q) = %v; want an error quoting nothing of it", in, err)
		}
	}
}

// TestNoRelativePodmanFile checks a deliberate difference from
// authn.DefaultKeychain: without $HOME, $XDG_CONFIG_HOME and
// $XDG_RUNTIME_DIR, it reads containers/auth.json relative to the working
// directory; Docker does not read credentials from wherever it runs.
func TestNoRelativePodmanFile(t *testing.T) {
	setup(t, resolveCase{
		files: map[string]string{"containers/auth.json": auths("reg.example", alice)},
		env:   map[string]string{"HOME": ""},
	})
	t.Chdir(filepath.Join(root, "case"))
	if got, err := Docker.Resolve(t.Context(), "reg.example", "app"); err != nil || !got.IsZero() {
		t.Errorf("Resolve() = %+v, %v; want anonymous", got, err)
	}
	repo, err := name.NewRepository("reg.example/app")
	if err != nil {
		t.Fatal(err)
	}
	// The difference is real: ggcr finds it.
	auth, err := authn.DefaultKeychain.Resolve(repo)
	if err != nil {
		t.Fatal(err)
	}
	if ac, err := authn.Authorization(t.Context(), auth); err != nil || ac.Username != "alice" {
		t.Errorf("authn.DefaultKeychain: %+v, %v; want alice", ac, err)
	}
}

// TestHostnameMatchOrder checks a deliberate difference from docker/cli:
// when several keys of "auths" reduce to the host, docker/cli takes any of
// them (map order); Docker takes the first in sorted order.
func TestHostnameMatchOrder(t *testing.T) {
	setup(t, resolveCase{files: map[string]string{homeConfig: `{"auths": {
		"https://reg.example/v1/": {"auth": "` + alice + `"},
		"http://reg.example": {"auth": "` + bob + `"},
		"reg.example/v2/": {"auth": "` + carol + `"}}}`}})
	for range 20 {
		if got, err := Docker.Resolve(t.Context(), "reg.example", "app"); err != nil || got != bobC {
			t.Fatalf("Resolve() = %+v, %v; want %+v", got, err, bobC)
		}
	}
}
