package match

import (
	"fmt"
	"regexp"
	"sync"
	"unicode/utf8"
)

// ECR's syntax for names, from the Amazon ECR API Reference:
//
//   - repositoryName (CreateRepository, PutImage, ...): length 2 to 256,
//     pattern (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*
//     https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
//   - imageTag (PutImage, ImageIdentifier): "Length Constraints: Minimum
//     length of 1. Maximum length of 300." The API reference gives no
//     character pattern, so the characters are those of the OCI distribution
//     spec's tag grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]*, with ECR's length
//     limit of 300 in place of OCI's 128.
//     https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageIdentifier.html
//     https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html
//   - imageDigest: sha256 of the manifest, "sha256:" and 64 lowercase hex.
const (
	RepositoryPattern = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`
	TagPattern        = `[a-zA-Z0-9_][a-zA-Z0-9._-]*`

	MinRepositoryLength = 2
	MaxRepositoryLength = 256
	MaxTagLength        = 300
)

// Compiled on first use: ferry copy never checks names, and compiling these
// at start-up cost 0.14 ms of every run.
var (
	repositoryRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + RepositoryPattern + `$`) })
	tagRE        = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + TagPattern + `$`) })
	digestRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`) })
)

// ValidRepository checks name against ECR's repository-name syntax. Errors
// are a *NameError and wrap ErrInvalidName.
func ValidRepository(name string) error {
	const kind = "repository name"
	if n := utf8.RuneCountInString(name); n < MinRepositoryLength || n > MaxRepositoryLength {
		return &NameError{Kind: kind, Value: name, Rule: fmt.Sprintf("length %d, want %d to %d characters", n, MinRepositoryLength, MaxRepositoryLength)}
	}
	if !repositoryRE().MatchString(name) {
		return &NameError{Kind: kind, Value: name, Rule: "want lowercase letters and digits, with single '.', '_' or '-' between them and '/' between path components (ECR pattern " + RepositoryPattern + ")"}
	}
	return nil
}

// ValidTag checks tag against ECR's image-tag syntax. Errors are a
// *NameError and wrap ErrInvalidName.
func ValidTag(tag string) error {
	const kind = "tag"
	if n := utf8.RuneCountInString(tag); n < 1 || n > MaxTagLength {
		return &NameError{Kind: kind, Value: tag, Rule: fmt.Sprintf("length %d, want 1 to %d characters", n, MaxTagLength)}
	}
	if !tagRE().MatchString(tag) {
		return &NameError{Kind: kind, Value: tag, Rule: "want letters, digits, '_', '.' and '-', not starting with '.' or '-' (pattern " + TagPattern + ")"}
	}
	return nil
}

// ValidDigest checks that d is a sha256 digest as ECR writes it. Errors are
// a *NameError and wrap ErrInvalidName.
func ValidDigest(d string) error {
	if !digestRE().MatchString(d) {
		return &NameError{Kind: "digest", Value: d, Rule: `want "sha256:" followed by 64 lowercase hex digits`}
	}
	return nil
}
