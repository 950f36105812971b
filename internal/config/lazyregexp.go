package config

import (
	"regexp"
	"sync"
)

// lazyRE is a regular expression compiled on first use, so that
// commands that never read a configuration (ferry copy) do not pay for
// compiling these at start-up (about 1.5 ms, mostly the Unicode classes).
type lazyRE struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func lazyRegexp(expr string) *lazyRE { return &lazyRE{expr: expr} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

func (l *lazyRE) MatchString(s string) bool { return l.get().MatchString(s) }

func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
