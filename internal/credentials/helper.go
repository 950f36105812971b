package credentials

import (
	"bytes"
	"context"
	"encoding/json"
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
