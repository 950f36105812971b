package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/ecrpolicy"
)

// ECR checks a lifecycle policy and a repository policy when they are put,
// and refuses one that breaks its documented rules with
// InvalidParameterException (ECR API Reference, PutLifecyclePolicy and
// SetRepositoryPolicy). The emulator refuses the same documents, with the
// checks `ferry config validate` runs (internal/ecrpolicy); warnings are
// not refusals.
//
// Messages: for a repository policy ECR says only "Invalid repository
// policy provided", and so does the emulator. For a lifecycle policy ECR
// names the problem after "Lifecycle policy validation failure: "; where
// moto copies ECR's wording (a required or unknown key, a text that is not
// JSON) the emulator uses it, and otherwise says what internal/ecrpolicy
// says.

// lifecyclePolicyRefusal returns the error ECR answers for a lifecycle
// policy it refuses, or nil.
func lifecyclePolicyRefusal(text string) *APIError {
	problems := ecrpolicy.Lifecycle(text)
	p, refused := ecrpolicy.Refusal(problems)
	if !refused {
		return nil
	}
	var detail string
	switch p.Kind {
	case ecrpolicy.Length:
		return invalidParameter("lifecyclePolicyText", fmt.Sprintf("Member must have length between %d and %d",
			ecrpolicy.MinLifecyclePolicyLength, ecrpolicy.MaxLifecyclePolicyLength))
	case ecrpolicy.Syntax:
		detail = "Could not map policyString into LifecyclePolicy."
	case ecrpolicy.Missing:
		detail = "object has missing required properties (" + siblings(problems, p) + ")"
	case ecrpolicy.Unknown:
		detail = "object instance has properties which are not allowed by the schema: (" + siblings(problems, p) + ")"
	default:
		detail = p.String()
	}
	return invalidParameter("LifecyclePolicyText", "Lifecycle policy validation failure: "+detail)
}

// siblings lists, as JSON, the keys of the refused problems of p's kind in
// the object p is in: ECR names every missing (or unknown) key of an object
// at once.
func siblings(problems []ecrpolicy.Problem, p ecrpolicy.Problem) string {
	parent := func(q ecrpolicy.Problem) string { return strings.TrimSuffix(q.Path, q.Key) }
	var keys []string
	for _, q := range problems {
		if q.Severity == ecrpolicy.Refused && q.Kind == p.Kind && parent(q) == parent(p) {
			keys = append(keys, q.Key)
		}
	}
	slices.Sort(keys)
	b, _ := json.Marshal(slices.Compact(keys))
	return string(b)
}

// repositoryPolicyRefusal returns the error ECR answers for a repository
// policy it refuses, or nil.
func repositoryPolicyRefusal(text string) *APIError {
	p, refused := ecrpolicy.Refusal(ecrpolicy.Repository(text))
	switch {
	case !refused:
		return nil
	case p.Kind == ecrpolicy.Length:
		return invalidParameter("policyText", fmt.Sprintf("Member must have length less than or equal to %d", ecrpolicy.MaxRepositoryPolicyLength))
	}
	return invalidParameter("PolicyText", "Invalid repository policy provided")
}
