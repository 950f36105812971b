package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// notFound is what a credential helper prints, failing, when it holds
// nothing for the server URL.
const notFound = "credentials not found in native keychain"

// runHelper asks the credential helper docker-credential-<helper> for the
// credential of serverURL, as docker/cli does
// (https://github.com/docker/docker-credential-helpers): the URL on stdin,
// a JSON {"ServerURL", "Username", "Secret"} on stdout. A Username of
// "<token>" means that Secret is an identity token. A helper that has
// nothing for the URL gives the zero Credential.
//
// The helper's stderr is the user's, as with docker. Its errors name the
// helper and the URL; they quote what the helper printed only when it
// fails with a plain-text message, never anything that could be its answer.
func runHelper(ctx context.Context, helper, serverURL string) (Credential, error) {
	name := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, name, "get")
	cmd.Stdin = strings.NewReader(serverURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return Credential{}, &HelperMissingError{Helper: helper, ServerURL: serverURL, Err: err}
	}
	if err != nil {
		msg := strings.TrimSpace(string(out))
		switch {
		case msg == notFound:
			return Credential{}, nil
		case ctx.Err() != nil:
			err = ctx.Err()
		case msg != "" && !json.Valid(out):
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return Credential{}, fmt.Errorf("%s get %s: %w", name, serverURL, err)
	}

	var resp struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&resp); err != nil {
		// Not even the JSON error: it may quote part of the secret.
		return Credential{}, fmt.Errorf("%s get %s: malformed answer", name, serverURL)
	}
	if resp.Username == "<token>" {
		return Credential{IdentityToken: resp.Secret}, nil
	}
	return Credential{Username: resp.Username, Password: resp.Secret}, nil
}

// HelperMissingError means the Docker config names a credential helper
// that is not installed (docker-credential-<Helper> is not on $PATH).
type HelperMissingError struct {
	Helper    string // "ecr-login", "desktop", ...
	ServerURL string // the key it was asked for
	Config    string // the config file that names it
	Field     string // where: credsStore, or credHelpers["<key>"]
	Err       error  // exec's
}

func (e *HelperMissingError) Error() string {
	where := ""
	if e.Config != "" {
		where = fmt.Sprintf(" (named by %s in %s)", e.Field, e.Config)
	}
	// Callers name the registry ("credentials for REGISTRY: ..."): the
	// message does not repeat it.
	return fmt.Sprintf("the credential helper docker-credential-%s is not installed%s: %s", e.Helper, where, e.Install())
}

func (e *HelperMissingError) Unwrap() error { return e.Err }

// Install says what to install to get the helper, or how to do without it.
func (e *HelperMissingError) Install() string {
	name := "docker-credential-" + e.Helper
	switch e.Helper {
	case "ecr-login":
		return "install it (Debian/Ubuntu: apt install amazon-ecr-credential-helper; or go install " +
			"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/cli/docker-credential-ecr-login@latest) and put it on $PATH"
	case "gcloud":
		return "install the Google Cloud CLI (it provides " + name + "), or remove the entry"
	case "desktop", "osxkeychain", "wincred":
		return name + " comes with Docker Desktop: install it, or remove the entry and log in with docker login or podman login"
	case "pass", "secretservice":
		return "install " + name + " from github.com/docker/docker-credential-helpers/releases and put it on $PATH, or remove the entry"
	}
	return "install " + name + " and put it on $PATH, or remove the entry"
}
