// Package statemachine holds Ferry's state machine definitions (Amazon
// States Language, JSONPath), with the ${...} placeholders CDK's
// definitionSubstitutions fill. The local runner reads the same bytes.
//
//   - replicate.asl.json, the push path: the function ARNs of Validate,
//     CheckGates, AssumeRole, EnsureRepository, CopyImage, Verify,
//     Summarize and ApprovalRequest, ${MaxConcurrency} and
//     ${ApprovalTimeoutSeconds}.
//   - reconcile.asl.json, the scheduled convergence: Discover and
//     ReconcileSummary, the same per-destination steps and ApprovalRequest,
//     ${ReconcileConcurrency} (the Distributed Map's child executions at
//     once) and ${ApprovalTimeoutSeconds}.
package statemachine

import _ "embed"

// Replicate is replicate.asl.json.
//
//go:embed replicate.asl.json
var Replicate []byte

// Reconcile is reconcile.asl.json.
//
//go:embed reconcile.asl.json
var Reconcile []byte
