package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// ECR's list operations page with maxResults (1 to 1000, default 100) and an
// opaque nextToken (ECR API Reference, DescribeRepositories, DescribeImages,
// ListImages). The emulator's token names the last item of the page it ended
// (a sort key, not an offset), so items added while a caller pages are not
// listed twice and items listed before are not skipped. A token is bound to
// the operation, repository and filter it was issued for and signed with a
// key of the registry; any other token is InvalidParameterException.

const (
	defaultPageSize = 100
	maxPageSize     = 1000
	// tokenLifetime is how long a nextToken stays valid. ECR does not
	// document one; the emulator's tokens go stale after a day, by its clock.
	tokenLifetime = 24 * time.Hour
)

// pageToken is what a nextToken carries.
type pageToken struct {
	Op    string `json:"o"`
	Scope string `json:"s"`
	After string `json:"a"`
	At    int64  `json:"t"` // issued, Unix seconds
}

// paging is one list request's page size and position, checked.
type paging struct {
	r     *Registry
	op    string
	scope string
	size  int
	after string // list items with a key after this one; "" from the start
}

// parsePaging checks maxResults and nextToken for operation op over scope
// (the repository and filters the listing depends on).
func (r *Registry) parsePaging(op, scope string, maxResults *int, nextToken *string) (*paging, *APIError) {
	p := &paging{r: r, op: op, scope: scope, size: defaultPageSize}
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > maxPageSize {
			return nil, invalidParameter("maxResults", "Member must have value between 1 and 1000")
		}
		p.size = *maxResults
	}
	if nextToken == nil {
		return p, nil
	}
	tok, ok := r.openToken(*nextToken)
	if !ok || tok.Op != op || tok.Scope != scope || tok.After == "" {
		return nil, invalidParameter("nextToken", "Invalid token")
	}
	if r.em.now().Sub(time.Unix(tok.At, 0)) > tokenLifetime {
		return nil, invalidParameter("nextToken", "The token has expired")
	}
	p.after = tok.After
	return p, nil
}

// page returns the bounds of the page within keys (sorted ascending, no
// duplicates), and the nextToken for the rest, nil on the last page.
func (p *paging) page(keys []string) (lo, hi int, next *string) {
	lo = 0
	if p.after != "" {
		lo = sort.SearchStrings(keys, p.after)
		if lo < len(keys) && keys[lo] == p.after {
			lo++
		}
	}
	hi = min(lo+p.size, len(keys))
	if hi < len(keys) {
		next = p.token(keys[hi-1])
	}
	return lo, hi, next
}

// token is the nextToken of a page that ended at the item with key last.
func (p *paging) token(last string) *string {
	t := p.r.sealToken(pageToken{Op: p.op, Scope: p.scope, After: last, At: p.r.em.now().Unix()})
	return &t
}

// sealToken encodes and signs a token.
func (r *Registry) sealToken(t pageToken) string {
	b, _ := json.Marshal(t) // a struct of strings and an int always encodes
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + r.tokenMAC(payload)
}

// openToken checks a token's signature and decodes it.
func (r *Registry) openToken(s string) (pageToken, bool) {
	payload, mac, ok := strings.Cut(s, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(r.tokenMAC(payload))) {
		return pageToken{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return pageToken{}, false
	}
	var t pageToken
	if json.Unmarshal(b, &t) != nil {
		return pageToken{}, false
	}
	return t, true
}

func (r *Registry) tokenMAC(payload string) string {
	h := hmac.New(sha256.New, r.tokenKey[:])
	h.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}
