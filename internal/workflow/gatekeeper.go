package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/ecr"
	"github.com/ferry-dev/ferry/internal/gate"
)

// hasGates reports whether a destination has any gate.
func hasGates(d config.Destination) bool { return d.Gates.Any() }

// gatekeeper is the Gatekeeper of internal/gate over the source registry,
// with the function's own role: ECR's scan findings of the source image's
// platform images, the registry's manifests and blobs for its signatures,
// and KMS for the public keys of KMS keys.
type gatekeeper struct {
	src   config.Source
	roles Roles
	kms   gate.KMSAPI // nil: no KMS key can be used

	mu      sync.Mutex
	scans   *gate.Scanner
	sigs    *gate.Signatures
	loginAt time.Time // when sigs' registry credentials were issued
}

// loginFor is how long a source registry login is used (ECR's tokens last
// 12 hours; a warm Lambda logs in again well before).
const loginFor = time.Hour

// newGateKeeper returns the gates of internal/gate for s's configuration;
// env's KMS client, if env has clients.
func newGateKeeper(s step, env *Env) Gatekeeper {
	g := &gatekeeper{src: s.cfg.Source, roles: s.roles}
	if env != nil && env.Clients != nil {
		g.kms = env.Clients.KMS() // not a nil *kms.Client in a non-nil interface
	}
	return g
}

// errNoScanAPI means the source client cannot read scans: only a test's
// fake ECR client lacks the methods.
var errNoScanAPI = errors.New("the source ECR client has no DescribeImageScanFindings or GetRegistryScanningConfiguration")

// Check implements Gatekeeper.
func (g *gatekeeper) Check(ctx context.Context, d config.Destination, repository, digest string, waited time.Duration) (GateVerdict, error) {
	c, err := g.checker(ctx, d.Gates)
	if err != nil {
		return GateVerdict{}, err
	}
	res, err := c.Check(ctx, d.Gates, repository, digest, waited)
	if err != nil {
		return GateVerdict{}, err
	}
	return GateVerdict{Passed: res.Decision == gate.Pass, Pending: res.Decision == gate.Wait, Gate: res.Gate, Reason: res.Reason, Wait: res.Wait}, nil
}

// checker builds what gates need, once (the registry login again after
// loginFor).
func (g *gatekeeper) checker(ctx context.Context, gates config.Gates) (*gate.Checker, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	api := g.roles.ECR(g.src.Account, g.src.Region)
	if gates.Scan != nil && g.scans == nil {
		scanAPI, ok := api.(gate.ScanAPI)
		if !ok {
			return nil, &ConfigurationError{Msg: fmt.Sprintf("scan gate: %v (%T)", errNoScanAPI, api)}
		}
		g.scans = gate.NewScanner(scanAPI, g.src.Account)
	}
	if gates.Signature != nil && (g.sigs == nil || time.Since(g.loginAt) > loginFor) {
		login, err := ecr.Login(ctx, api, g.src.Account)
		if err != nil {
			return nil, classifyAWS(fmt.Sprintf("signature gate: log in to the source registry %s", g.src.ID()), err)
		}
		reg, err := gate.NewRemoteRegistry(login.Host, remote.WithAuth(login.Authenticator()))
		if err != nil {
			return nil, &ConfigurationError{Msg: err.Error()}
		}
		g.sigs, g.loginAt = gate.NewSignatures(reg, g.kms), time.Now()
	}
	return gate.NewChecker(g.scans, g.sigs), nil
}
