// Package statemachine holds Ferry's state machine definition,
// replicate.asl.json (Amazon States Language, JSONPath), with the ${...}
// placeholders CDK's definitionSubstitutions fill: the seven function ARNs,
// ${MaxConcurrency} and ${ApprovalTimeoutSeconds}. The local runner reads
// the same bytes.
package statemachine

import _ "embed"

// Replicate is replicate.asl.json.
//
//go:embed replicate.asl.json
var Replicate []byte
