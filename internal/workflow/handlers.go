package workflow

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
)

// NewHandler builds the named function's handler from env, as its Lambda's
// main does, for the local runner to invoke in process. The handler may be
// invoked from many goroutines at once (see perCall).
func NewHandler(name string, logger *slog.Logger, env *Env) (lambda.Handler, error) {
	logger = logger.With(slog.String("function", name))
	switch name {
	case FnValidate:
		return perCall{NewValidate(logger, env, nil).Handle}, nil
	case FnCheckGates:
		return perCall{NewCheckGates(logger, env, nil, nil).Handle}, nil
	case FnAssumeRole:
		return perCall{NewAssumeRole(logger, env, nil).Handle}, nil
	case FnEnsureRepository:
		return perCall{NewEnsureRepository(logger, env, nil).Handle}, nil
	case FnCopyImage:
		return perCall{NewCopyImage(logger, env, nil).Handle}, nil
	case FnVerify:
		return perCall{NewVerify(logger, env, nil).Handle}, nil
	case FnSummarize:
		return perCall{NewSummarize(logger).Invoke}, nil
	case FnApprovalRequest:
		h, err := NewApprovalRequest(logger, env, nil, nil)
		if err != nil {
			return nil, err
		}
		return perCall{h.Handle}, nil
	case FnDiscover:
		return perCall{NewDiscover(logger, env, nil, nil).Handle}, nil
	case FnReconcileSummarize:
		return perCall{NewReconcileSummarize(logger, env, nil).Handle}, nil
	case FnApprovalCallback:
		return perCall{NewApprovalCallback(logger, env, nil, nil).Handle}, nil
	}
	return nil, fmt.Errorf("no function %q", name)
}

// perCall is a lambda.Handler for a handler function that is safe to
// invoke from many goroutines at once. The one lambda.NewHandler returns is
// not: its Invoke puts its pooled output buffer back in the pool before it
// returns the buffer's bytes, so a concurrent invocation can overwrite
// them before the caller has read them. Lambda never notices, since an
// execution environment runs one invocation at a time; the local runner
// invokes a function from every Map iteration at once, and one iteration
// then got another's output (TestFiveHundredDestinations, about one run in
// ten: "result 293 is for 500000000297/us-west-2"). perCall wraps f afresh
// for each invocation, with a pool no other invocation draws from, so the
// JSON is exactly what the Lambda runtime would send.
type perCall struct{ f any }

func (p perCall) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return lambda.NewHandler(p.f).Invoke(ctx, payload)
}
