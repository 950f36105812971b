package workflow

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
)

// NewHandler builds the named function's handler from env, as its Lambda's
// main does, for the local runner to invoke in process.
func NewHandler(name string, logger *slog.Logger, env *Env) (lambda.Handler, error) {
	logger = logger.With(slog.String("function", name))
	switch name {
	case FnValidate:
		return lambda.NewHandler(NewValidate(logger, env, nil).Handle), nil
	case FnCheckGates:
		return lambda.NewHandler(NewCheckGates(logger, env, nil, nil).Handle), nil
	case FnAssumeRole:
		return lambda.NewHandler(NewAssumeRole(logger, env, nil).Handle), nil
	case FnEnsureRepository:
		return lambda.NewHandler(NewEnsureRepository(logger, env, nil).Handle), nil
	case FnCopyImage:
		return lambda.NewHandler(NewCopyImage(logger, env, nil).Handle), nil
	case FnVerify:
		return lambda.NewHandler(NewVerify(logger, env, nil).Handle), nil
	case FnSummarize:
		return lambda.NewHandler(NewSummarize(logger).Invoke), nil
	case FnApprovalRequest:
		h, err := NewApprovalRequest(logger, env, nil, nil)
		if err != nil {
			return nil, err
		}
		return lambda.NewHandler(h.Handle), nil
	case FnDiscover:
		return lambda.NewHandler(NewDiscover(logger, env, nil, nil).Handle), nil
	case FnReconcileSummarize:
		return lambda.NewHandler(NewReconcileSummarize(logger, env, nil).Handle), nil
	case FnApprovalCallback:
		return lambda.NewHandler(NewApprovalCallback(logger, env, nil, nil).Handle), nil
	}
	return nil, fmt.Errorf("no function %q", name)
}
