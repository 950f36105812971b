// Package credentials finds the credentials for a container registry where
// `docker login` and `podman login` leave them: in the Docker config file, a
// credential helper it names, or Podman's auth.json.
//
// It is a standard-library-only replacement for go-containerregistry's
// authn.DefaultKeychain, which links docker/cli (and with it logrus and
// go-digest) only to read one JSON file. It resolves the same credential
// for the same files and environment; the tests compare the two.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Credential is what a registry login holds. The zero value means anonymous.
type Credential struct {
	Username      string
	Password      string
	IdentityToken string // OAuth2 refresh token, exchanged for an access token at the registry's token endpoint
	RegistryToken string // bearer token sent to the registry as is
}

// IsZero reports whether c holds nothing (anonymous).
func (c Credential) IsZero() bool { return c == Credential{} }

// Keychain finds the credential for a repository on a registry.
type Keychain interface {
	// Resolve returns the credential for repository (e.g. "library/alpine")
	// on registry (host[:port]; Docker Hub is "index.docker.io"). The zero
	// Credential and a nil error mean: go anonymous.
	Resolve(ctx context.Context, registry, repository string) (Credential, error)
}

// Docker is the keychain `docker login` and `podman login` fill: it reads
// the file and runs the helpers they do, on every call, exactly as
// go-containerregistry's authn.DefaultKeychain does.
//
// The file is the first of these that exists:
//
//  1. $HOME/.docker/config.json, or $DOCKER_CONFIG/config.json when
//     DOCKER_CONFIG is set. If either exists, $DOCKER_CONFIG/config.json
//     is the one read whenever DOCKER_CONFIG is set, and if it is missing
//     there is no credential (the other locations are not tried);
//  2. $REGISTRY_AUTH_FILE;
//  3. $XDG_RUNTIME_DIR/containers/auth.json;
//  4. $XDG_CONFIG_HOME/containers/auth.json ($XDG_CONFIG_HOME defaults to
//     $HOME/.config).
//
// With none of them, Resolve goes anonymous. A file that exists but cannot
// be read or parsed is an error naming the file.
//
// In that file, two keys are tried in turn, "registry/repository" and then
// "registry" (Docker Hub's is "https://index.docker.io/v1/"), and the first
// that yields anything wins. For each key:
//
//  1. the DOCKER_AUTH_CONFIG environment variable, if it holds valid JSON of
//     the form {"auths": {"key": {"auth": "base64(user:password)"}}} with an
//     entry for exactly that key;
//  2. else the credential helper named by credHelpers[key] (an empty name
//     there means: no helper) or, without such an entry, by credsStore: it
//     runs `docker-credential-<name> get` with the key on stdin. A helper
//     that answers "credentials not found in native keychain" means nothing
//     for this key; any other failure is an error. Only the "registrytoken"
//     of the file's own entry for the key is kept alongside a helper's
//     answer; its username, password and identity token are ignored;
//  3. else the file's "auths" entry for the key, or failing an exact match,
//     the entry whose key reduces to that host name once its scheme and path
//     are dropped ("https://host/v1/" or "host/team" for "host"; never for
//     Docker Hub or a repository key). Its "auth" field, base64
//     of "username:password", takes precedence over "username" and
//     "password"; "identitytoken" and "registrytoken" are used as they are.
//
// "docker.io" and "" are taken to mean "index.docker.io", and a Docker Hub
// repository without a slash is taken to mean "library/<repository>", as
// go-containerregistry's name package does.
var Docker Keychain = dockerKeychain{}

// Static returns a Keychain that returns c for every registry.
func Static(c Credential) Keychain { return static(c) }

// static is the Keychain Static returns.
type static Credential

// Resolve implements Keychain.
func (s static) Resolve(context.Context, string, string) (Credential, error) {
	return Credential(s), nil
}

// dockerKeychain is the Keychain behind Docker.
type dockerKeychain struct{}

// dockerHub is the registry name of Docker Hub, and dockerHubKey its key in
// config files and credential helpers, fixed long ago.
const (
	dockerHub    = "index.docker.io"
	dockerHubKey = "https://index.docker.io/v1/"
)

// Resolve implements Keychain.
func (dockerKeychain) Resolve(ctx context.Context, registry, repository string) (Credential, error) {
	cf, err := loadConfig()
	if err != nil || cf == nil {
		return Credential{}, err
	}
	if registry == "" || registry == "docker.io" {
		registry = dockerHub
	}
	if registry == dockerHub && repository != "" && !strings.Contains(repository, "/") {
		repository = "library/" + repository
	}
	keys := []string{registry}
	if repository != "" {
		keys = []string{registry + "/" + repository, registry}
	}
	for _, key := range keys {
		c, err := cf.lookup(ctx, key)
		if err != nil || !c.IsZero() {
			return c, err
		}
	}
	return Credential{}, nil
}

// lookup returns the credential cf holds for key, a registry or a
// registry/repository, following docker/cli's ConfigFile.GetAuthConfig.
func (cf *configFile) lookup(ctx context.Context, key string) (Credential, error) {
	if key == dockerHub || key == "docker.io" {
		key = dockerHubKey
	}
	if c, ok := cf.env[key]; ok {
		return c, nil
	}
	file := cf.fileEntry(key)
	helper, ok := cf.CredHelpers[key]
	if !ok {
		helper = cf.CredsStore
	}
	if helper == "" {
		return file, nil
	}
	c, err := runHelper(ctx, helper, key)
	if me, ok := errors.AsType[*HelperMissingError](err); ok {
		me.Config, me.Field = cf.path, "credsStore"
		if _, ok := cf.CredHelpers[key]; ok {
			me.Field = fmt.Sprintf("credHelpers[%q]", key)
		}
	}
	if err != nil {
		return Credential{}, err
	}
	// docker/cli's native store starts from the file's entry and overwrites
	// everything but the registry token with the helper's answer (an empty
	// one when the helper has nothing).
	c.RegistryToken = file.RegistryToken
	return c, nil
}
