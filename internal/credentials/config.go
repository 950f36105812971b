package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// configFile is the part of a Docker config file (or Podman auth.json) that
// holds credentials, plus what the environment adds to it.
type configFile struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`

	// The other fields of docker/cli's configfile.ConfigFile, decoded only
	// so that a file docker/cli rejects for a wrongly typed field is
	// rejected here too.
	HTTPHeaders          map[string]string            `json:"HttpHeaders"`
	PsFormat             string                       `json:"psFormat"`
	ImagesFormat         string                       `json:"imagesFormat"`
	NetworksFormat       string                       `json:"networksFormat"`
	PluginsFormat        string                       `json:"pluginsFormat"`
	VolumesFormat        string                       `json:"volumesFormat"`
	StatsFormat          string                       `json:"statsFormat"`
	DetachKeys           string                       `json:"detachKeys"`
	ServiceInspectFormat string                       `json:"serviceInspectFormat"`
	ServicesFormat       string                       `json:"servicesFormat"`
	TasksFormat          string                       `json:"tasksFormat"`
	SecretFormat         string                       `json:"secretFormat"`
	ConfigFormat         string                       `json:"configFormat"`
	NodesFormat          string                       `json:"nodesFormat"`
	PruneFilters         []string                     `json:"pruneFilters"`
	Proxies              map[string]map[string]string `json:"proxies"`
	CurrentContext       string                       `json:"currentContext"`
	CLIPluginsExtraDirs  []string                     `json:"cliPluginsExtraDirs"`
	Plugins              map[string]map[string]string `json:"plugins"`
	Aliases              map[string]string            `json:"aliases"`
	Features             map[string]string            `json:"features"`

	// env holds the credentials from DOCKER_AUTH_CONFIG, by exact key.
	env map[string]Credential
	// path is the file's, for messages.
	path string
}

// authEntry is one entry of "auths".
type authEntry struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"` // base64("username:password")
	ServerAddress string `json:"serveraddress"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// loadConfig finds and reads the file Docker documents, in
// authn.DefaultKeychain's order. It returns nil and no error when there is
// none: anonymous.
func loadConfig() (*configFile, error) {
	home, _ := os.UserHomeDir() // "" without $HOME
	dockerConfig := os.Getenv("DOCKER_CONFIG")

	found := home != "" && isFile(filepath.Join(home, ".docker", "config.json"))
	if !found && dockerConfig != "" {
		found = isFile(filepath.Join(dockerConfig, "config.json"))
	}
	if found {
		// authn.DefaultKeychain then calls docker/cli's config.Load with
		// $DOCKER_CONFIG, so that directory wins whenever the variable is
		// set, even if it was $HOME's file that was found; and a missing
		// file there is an empty configuration, not an error.
		dir := dockerConfig
		if dir == "" {
			dir = filepath.Join(home, ".docker")
		}
		return readConfig(filepath.Join(dir, "config.json"), true)
	}

	if path := filepath.Clean(os.Getenv("REGISTRY_AUTH_FILE")); isFile(path) {
		return readConfig(path, false)
	}

	configHome := os.Getenv("XDG_CONFIG_HOME")
	if configHome == "" && home != "" {
		configHome = filepath.Join(home, ".config")
	}
	var podman string
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" && isFile(filepath.Join(dir, "containers", "auth.json")) {
		podman = filepath.Join(dir, "containers", "auth.json")
	} else if configHome != "" {
		podman = filepath.Join(configHome, "containers", "auth.json")
	}
	if podman != "" && isFile(podman) {
		return readConfig(podman, false)
	}
	return nil, nil
}

// isFile reports whether path exists and is not a directory.
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// readConfig reads and parses the file at path, and adds DOCKER_AUTH_CONFIG
// to it. If missingOK, a file that does not exist is an empty configuration.
func readConfig(path string, missingOK bool) (*configFile, error) {
	cf := &configFile{path: path}
	f, err := os.Open(path)
	switch {
	case missingOK && errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	default:
		defer f.Close()
		if err := cf.parse(f); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	cf.env = envAuths(os.Getenv("DOCKER_AUTH_CONFIG"))
	return cf, nil
}

// parse reads the file's JSON into cf, as docker/cli's
// ConfigFile.LoadFromReader does: only the first JSON value counts, an empty
// file is an empty configuration, and every "auth" field must decode. Its
// errors never quote the file, which holds secrets.
func (cf *configFile) parse(r io.Reader) error {
	if err := json.NewDecoder(r).Decode(cf); err != nil && !errors.Is(err, io.EOF) {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			// Its message quotes the offending character.
			return fmt.Errorf("malformed JSON at byte %d", se.Offset)
		}
		return err
	}
	for key, e := range cf.Auths {
		if e.Auth != "" {
			var err error
			if e.Username, e.Password, err = decodeAuth(e.Auth); err != nil {
				return fmt.Errorf("auths[%q].auth: %w", key, err)
			}
			cf.Auths[key] = e
		}
	}
	return nil
}

// decodeAuth splits base64("username:password"), as docker/cli does: the
// username must not be empty, and NUL bytes around the password are dropped.
func decodeAuth(auth string) (username, password string, err error) {
	b, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		// Its message only gives the offset.
		return "", "", err
	}
	username, password, ok := strings.Cut(string(b), ":")
	if !ok || username == "" {
		return "", "", errors.New("not base64 of username:password")
	}
	return username, strings.Trim(password, "\x00"), nil
}

// fileEntry returns the "auths" entry for key, as docker/cli's file store
// does: the entry of that exact key if there is one (even if it is empty),
// else the first, in key order, whose key reduces to key by
// convertToHostname.
func (cf *configFile) fileEntry(key string) Credential {
	e, ok := cf.Auths[key]
	if !ok {
		// docker/cli takes the first match in map order, which is random;
		// sorting makes the choice between two such entries repeatable.
		for _, k := range slices.Sorted(maps.Keys(cf.Auths)) {
			if convertToHostname(k) == key {
				e = cf.Auths[k]
				break
			}
		}
	}
	return Credential{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}
}

// convertToHostname reduces a key of "auths" that may carry a scheme and a
// path, such as "https://host:5000/v1/", to the host[:port] it names. It is
// docker/cli's credentials.ConvertToHostname.
func convertToHostname(maybeURL string) string {
	if strings.Contains(maybeURL, "://") {
		u, err := url.Parse(maybeURL)
		if err == nil && u.Hostname() != "" {
			if u.Port() == "" {
				return u.Hostname()
			}
			return joinHostPort(u.Hostname(), u.Port())
		}
		if host := hostFromURLFallback(maybeURL); host != "" {
			return host
		}
	}
	host, _, _ := strings.Cut(maybeURL, "/")
	return host
}

// hostFromURLFallback extracts the host of a URL net/url rejects, such as
// one with an IPv6 address without brackets. It is docker/cli's.
func hostFromURLFallback(maybeURL string) string {
	_, rest, ok := strings.Cut(maybeURL, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" {
		return ""
	}
	if strings.Count(host, ":") > 1 && !strings.HasPrefix(host, "[") {
		i := strings.LastIndex(host, ":")
		addr, port := host[:i], host[i+1:]
		if addr != "" && isPort(port) {
			return joinHostPort(addr, port)
		}
	}
	return host
}

// joinHostPort is net.JoinHostPort, which would link package net (and its
// init) for four lines.
func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// isPort reports whether port is a non-empty string of decimal digits.
func isPort(port string) bool {
	if port == "" {
		return false
	}
	for _, r := range port {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// envAuths parses DOCKER_AUTH_CONFIG, {"auths": {"key": {"auth": "..."}}},
// as docker/cli does: strictly (no other fields, one JSON value, an "auth"
// that decodes in every entry). docker/cli prints a warning and ignores the
// variable when it is invalid; so does this, without the warning.
func envAuths(v string) map[string]Credential {
	if v == "" {
		return nil
	}
	var env struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	d := json.NewDecoder(strings.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	if d.More() {
		return nil
	}
	m := make(map[string]Credential, len(env.Auths))
	for key, e := range env.Auths {
		if e.Auth == "" {
			return nil
		}
		u, p, err := decodeAuth(e.Auth)
		if err != nil {
			return nil
		}
		m[key] = Credential{Username: u, Password: p}
	}
	return m
}
