package config

import (
	"fmt"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/internal/match"
)

// Two rules overlap at a destination when some image (a repository and a
// tag) is taken by both and sent to the same destination repository. The
// planner (internal/plan, which the workflow's Validate and the reconcile
// use) then plans one job, for the rule that comes first in the file, and
// the later rule's destination settings are not used for that image.
//
// That is a warning, not an error: "the first rule wins" is defined and
// sometimes wanted (a narrow rule with its own settings, above a broad
// one), and an error would refuse configurations that deploy today. It is
// reported only where the two destinations differ in a setting, since
// otherwise nothing is lost, and only with a concrete image both rules take,
// so that every warning can be checked with ferry plan. The image is found
// exactly for globs and regular expressions (a search over the product of
// their automata, excludes and ECR's name syntax); for a semver range,
// Ferry tries the versions the range names and their neighbours, so an
// overlap a semver range hides that way goes unreported.

// overlaps records a warning for each destination of a later rule that an
// earlier rule takes images from. nodes are the rules' YAML nodes, in order.
func (d *decoder) overlaps(rules []Rule, nodes []*yaml.Node, source Source) {
	bud := &budget{states: overlapStates}
	dests := make([][]*yaml.Node, len(nodes))
	for i, n := range nodes {
		dests[i] = d.destinationNodes(n)
		if len(dests[i]) != len(rules[i].Destinations) {
			return // unreachable without errors; positions would be wrong
		}
	}
	for j := range rules {
		for k, db := range rules[j].Destinations {
			for i := range j {
				at := slices.IndexFunc(rules[i].Destinations, func(da Destination) bool { return da.ID() == db.ID() })
				if at < 0 {
					continue
				}
				da := rules[i].Destinations[at]
				diffs := destinationDiffs(da, db, rules[i].Name)
				if len(diffs) == 0 {
					continue
				}
				repo, tag, ok := overlap(rules[i], rules[j], da, db, source, rules[:i], bud)
				if !ok {
					continue
				}
				d.warnings = append(d.warnings, &Error{
					File: d.file, Line: dests[j][k].Line, Column: dests[j][k].Column,
					Field: join(index("rules", j), index("destinations", k)),
					Msg:   overlapMessage(d.file, rules[i], rules[j], nodes[i], nodes[j], db, repo, tag, diffs),
					Err:   ErrWarning,
				})
				break // one warning per destination: the first rule is the one that wins
			}
		}
	}
}

func overlapMessage(file string, a, b Rule, an, bn *yaml.Node, db Destination, repo, tag string, diffs []string) string {
	as := ""
	if name := db.RepositoryName(repo); name != repo {
		as = " (as " + name + ")"
	}
	return fmt.Sprintf("rule %q (%s:%d) and rule %q (%s:%d) both send images to %s, e.g. %s:%s%s; "+
		"the first rule in the file wins, so for those images these settings of this destination are not used: %s. "+
		"If rule %q should win for them, move it above rule %q; otherwise exclude them from one rule (exclude.repositories or exclude.tags)",
		b.Name, file, bn.Line, a.Name, file, an.Line, db.ID(), repo, tag, as,
		strings.Join(diffs, ", "), b.Name, a.Name)
}

// destinationNodes returns the YAML nodes of a rule's destinations.
func (d *decoder) destinationNodes(rule *yaml.Node) []*yaml.Node {
	rule = d.resolve(rule)
	if rule == nil || rule.Kind != yaml.MappingNode {
		return nil
	}
	for _, f := range d.pairs(rule, "") {
		if f.key.Value != "destinations" {
			continue
		}
		items, _ := d.list(f.value, "", "destinations")
		return items
	}
	return nil
}

// destinationDiffs names the settings in which b, the later rule's
// destination, differs from a, the one used: `approval: required (the
// first rule has none)`. Account and region are equal, and the rename gives
// the same repository, so they are left out. Fields are found by
// reflection, under their JSON names, so that settings added to
// Destination later are compared too.
func destinationDiffs(a, b Destination, first string) []string {
	var out []string
	var walk func(path string, va, vb reflect.Value)
	walk = func(path string, va, vb reflect.Value) {
		if va.Kind() == reflect.Struct {
			t := va.Type()
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					name = f.Name
				}
				if path == "" && (name == "account" || name == "region" || name == "repository") {
					continue
				}
				walk(join(path, name), va.Field(i), vb.Field(i))
			}
			return
		}
		if reflect.DeepEqual(va.Interface(), vb.Interface()) {
			return
		}
		if sa, sb := shortValue(va), shortValue(vb); sa != "" && sb != "" {
			out = append(out, fmt.Sprintf("%s: %s (rule %q has %s)", path, sb, first, sa))
		} else {
			out = append(out, path)
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

// shortValue is a value worth printing in a message (a bool, a number or a
// short string, quoted when empty), or "".
func shortValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.String:
		s := v.String()
		switch {
		case s == "":
			return `""`
		case len(s) > 40 || strings.ContainsAny(s, "\n\""):
			return ""
		}
		return s
	}
	return ""
}

// overlap finds an image that rules a and b both take and send, through
// their destinations da and db (same account and region), to the same
// destination repository, and that no rule before a (prior) sends there:
// for that image, a is the rule that wins. It returns false when it finds
// none.
func overlap(a, b Rule, da, db Destination, source Source, prior []Rule, bud *budget) (repo, tag string, ok bool) {
	// The rules before a that send to this destination: an image one of
	// them takes is theirs, not a's.
	var before []Rule
	for _, k := range prior {
		if slices.ContainsFunc(k.Destinations, func(dk Destination) bool { return dk.ID() == da.ID() }) {
			before = append(before, k)
		}
	}
	taken := func(repo, tag string) bool {
		name := da.RepositoryName(repo)
		for _, k := range before {
			if ok, _ := k.MatchRepository(repo); !ok {
				continue
			}
			if ok, _ := k.MatchTag(tag); !ok {
				continue
			}
			if slices.ContainsFunc(k.Destinations, func(dk Destination) bool { return dk.ID() == da.ID() && dk.RepositoryName(repo) == name }) {
				return true
			}
		}
		return false
	}
	// Not taken before: a repository none of those rules takes, with any
	// tag; else a tag none of them takes, with any repository.
	var priorRepos, priorTags []string
	for _, k := range before {
		priorRepos = append(priorRepos, k.Repositories...)
		priorTags = append(priorTags, k.Tags...)
	}
	notBefore := func(m func(Rule, string) (bool, string)) func(string) bool {
		return func(s string) bool {
			return !slices.ContainsFunc(before, func(k Rule) bool { ok, _ := m(k, s); return ok })
		}
	}
	anyName := func(string) bool { return true }
	for _, attempt := range []struct {
		repoOK, tagOK   func(string) bool
		notRepo, notTag []string
	}{
		{notBefore(Rule.MatchRepository), anyName, priorRepos, nil},
		{anyName, notBefore(Rule.MatchTag), nil, priorTags},
	} {
		tags := commonNames(bud, "tag", both(a.MatchTag, b.MatchTag, attempt.tagOK),
			sets{a.Tags, a.Exclude.Tags}, sets{b.Tags, b.Exclude.Tags}, attempt.notTag, 1)
		if len(tags) == 0 {
			if len(before) == 0 {
				return "", "", false
			}
			continue
		}
		if r, ok := commonRepository(bud, a, b, da, db, source, both(a.MatchRepository, b.MatchRepository, attempt.repoOK), attempt.notRepo); ok && !taken(r, tags[0]) {
			return r, tags[0], true
		}
		if len(before) == 0 {
			break
		}
	}
	return "", "", false
}

// both is a matcher that takes what ma and mb and ok all take.
func both(ma, mb func(string) (bool, string), ok func(string) bool) func(string) bool {
	return func(s string) bool {
		if y, _ := ma(s); !y {
			return false
		}
		if y, _ := mb(s); !y {
			return false
		}
		return ok(s)
	}
}

// commonRepository finds a repository that m takes and that da and db
// rename alike, to a valid name, not the source repository itself when
// the destination is the source registry (the planner skips that copy for
// both rules).
func commonRepository(bud *budget, a, b Rule, da, db Destination, source Source, m func(string) bool, not []string) (string, bool) {
	// Different renames may agree only on some names: those that start
	// with one of the stripped prefixes, or with neither.
	limit, starts := 1, []string{""}
	if da.Repository != db.Repository {
		limit = 8
		for _, p := range []string{da.Repository.StripPrefix, db.Repository.StripPrefix} {
			if p != "" && !slices.Contains(starts, p) {
				starts = append(starts, p)
			}
		}
	}
	for _, start := range starts {
		var extra []string
		if start != "" {
			extra = []string{`^` + regexp.QuoteMeta(start) + `(?s:.*)$`}
		}
		for _, r := range commonNames(bud, "repository", m, sets{a.Repositories, a.Exclude.Repositories}, sets{b.Repositories, b.Exclude.Repositories}, not, limit, extra...) {
			name := da.RepositoryName(r)
			if name != db.RepositoryName(r) || match.ValidRepository(name) != nil {
				continue
			}
			if da.ID() == source.ID() && name == r {
				continue
			}
			return r, true
		}
	}
	return "", false
}

// sets are one rule's include and exclude patterns of one noun.
type sets struct{ include, exclude []string }

// commonNames returns up to limit names (repositories or tags, by noun)
// that m takes (both rules' matchers, and more), each a valid ECR name,
// shortest first. Candidates come from a search of the automata of a's and
// b's patterns, with the extra regular expressions (each matching the whole
// name) and without what the patterns in not match, and, for semver ranges,
// from the versions they name; m checks every one.
func commonNames(bud *budget, noun string, m func(string) bool, a, b sets, not []string, limit int, extra ...string) []string {
	valid := match.ValidTag
	if noun == "repository" {
		valid = match.ValidRepository
	}
	var out []string
	seen := map[string]bool{}
	try := func(s string) bool {
		if seen[s] {
			return false
		}
		seen[s] = true
		if valid(s) != nil || !m(s) {
			return false
		}
		out = append(out, s)
		return len(out) >= limit
	}
	shape := `^(?:` + match.RepositoryPattern + `)$`
	if noun == "tag" {
		shape = `^(?:` + match.TagPattern + `)$`
	}
	ia, sa := union(a.include)
	ib, sb := union(b.include)
	xa, _ := union(a.exclude)
	xb, _ := union(b.exclude)
	xn, _ := union(not)
	if ia != "" && ib != "" {
		for _, s := range search(bud, append([]string{ia, ib, shape}, extra...), []string{xa, xb, xn}, limit*4) {
			if try(s) {
				return out
			}
		}
	}
	semvers := append(sa, sb...)
	for _, c := range semvers {
		for _, s := range versionsNear(c) {
			if try(s) {
				return out
			}
		}
	}
	if len(semvers) > 0 {
		// A glob or regexp side against a semver side: versions the glob
		// or regexp takes.
		for _, inc := range []string{ia, ib} {
			if inc == "" {
				continue
			}
			for _, s := range search(bud, append([]string{inc, semverShape, shape}, extra...), []string{xa, xb, xn}, 16) {
				if try(s) {
					return out
				}
			}
		}
	}
	return out
}

// semverShape is what a semver pattern can match (see match's package doc).
const semverShape = `^v?(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?$`

// union turns glob and regexp patterns into one regular expression that
// matches what any of them does, and returns the semver patterns apart.
func union(patterns []string) (re string, semvers []string) {
	var alts []string
	for _, p := range patterns {
		pat, err := match.Compile(p)
		if err != nil {
			continue // Parse reported it
		}
		switch pat.Kind() {
		case match.Glob:
			alts = append(alts, globRegexp(p))
		case match.Regexp:
			// Unanchored, as match runs it.
			alts = append(alts, `(?s:.*)(?:`+p[1:len(p)-1]+`)(?s:.*)`)
		case match.Semver:
			semvers = append(semvers, p)
		}
	}
	if len(alts) == 0 {
		return "", semvers
	}
	return `(?:` + strings.Join(alts, `)|(?:`) + `)`, semvers
}

// globRegexp is the anchored regular expression of a glob (see match's
// package doc for the glob syntax).
func globRegexp(g string) string {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(g); {
		switch g[i] {
		case '*':
			j := i
			for j < len(g) && g[j] == '*' {
				j++
			}
			if j-i == 1 {
				b.WriteString(`[^/]*`)
			} else {
				b.WriteString(`(?s:.*)`)
			}
			i = j
			continue
		case '?':
			b.WriteString(`[^/]`)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(g[i:])
		b.WriteString(regexp.QuoteMeta(string(r)))
		i += size
	}
	b.WriteString(`$`)
	return b.String()
}

// versionRE finds the versions a semver range names.
var versionRE = lazyRegexp(`(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?`)

// versionsNear returns full versions at and around those a semver range
// names, with and without a "v": candidates that may fall inside it.
func versionsNear(pattern string) []string {
	var out []string
	add := func(x, y, z int, pre string) {
		if x < 0 || y < 0 || z < 0 {
			return
		}
		v := fmt.Sprintf("%d.%d.%d%s", x, y, z, pre)
		out = append(out, v, "v"+v)
	}
	add(0, 0, 0, "")
	add(1, 0, 0, "")
	for _, m := range versionRE.get().FindAllStringSubmatch(strings.TrimPrefix(pattern, "semver:"), -1) {
		n := [3]int{}
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+1]) // "" is 0
		}
		x, y, z := n[0], n[1], n[2]
		add(x, y, z, m[4])
		add(x, y, z, "")
		add(x, y, z+1, "")
		add(x, y+1, 0, "")
		add(x+1, 0, 0, "")
		add(x, y, z-1, "")
		add(x, y-1, 0, "")
		add(x-1, 0, 0, "")
		add(x, y-1, 99, "")
		add(x-1, 99, 99, "")
	}
	return out
}

// Product-automaton search. Each regular expression is compiled to
// regexp/syntax's program (a Thompson NFA) and run as a set of threads, as
// the regexp package's own NFA does; the search is breadth first over the
// product of the positive programs (all must match) and the negative ones
// (none may), so the first names found are the shortest. An alphabet of
// one character per class that the programs tell apart keeps it small.

// budget is what is left of the states all the searches of one Parse may
// visit: the Lambdas parse the configuration at every cold start, so a
// file of many rules with regular expressions that blow up must not cost
// more than a few hundred milliseconds (14 to 60 µs a state on a 2-core
// machine, by how many threads the programs run).
type budget struct{ states int }

// overlapStates is the budget of one Parse; once spent, the overlaps not
// yet found go unreported.
const overlapStates = 10000

// searchStates bounds one search; a search that reaches it gives up (an
// overlap it has not found goes unreported).
const searchStates = 2000

// searchAlphabet is every character of a repository name or a tag, in the
// order representatives are picked (so examples read "a", "0", "-").
const searchAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789-._/ABCDEFGHIJKLMNOPQRSTUVWXYZ"

type program struct {
	prog *syntax.Prog
	neg  bool
}

// search returns up to limit names that every positive expression matches
// and no negative one does (empty expressions are left out), shortest
// first.
func search(bud *budget, positive, negative []string, limit int) []string {
	var progs []program
	for _, set := range []struct {
		exprs []string
		neg   bool
	}{{positive, false}, {negative, true}} {
		for _, e := range set.exprs {
			if e == "" {
				continue
			}
			re, err := syntax.Parse(e, syntax.Perl)
			if err != nil {
				return nil // unreachable: match compiled the patterns
			}
			p, err := syntax.Compile(re.Simplify())
			if err != nil {
				return nil
			}
			progs = append(progs, program{p, set.neg})
		}
	}
	alphabet := distinct(progs)
	type node struct {
		threads [][]uint32 // per program, the pcs waiting for a rune
		prev    rune       // the last rune, -1 at the start
		name    string
	}
	start := node{threads: make([][]uint32, len(progs)), prev: -1}
	for i, p := range progs {
		start.threads[i] = []uint32{uint32(p.prog.Start)}
	}
	seen := map[string]bool{}
	queue := []node{start}
	var out []string
	maxLen := match.MaxRepositoryLength
	for len(queue) > 0 && len(seen) < searchStates && bud.states > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.name != "" && accepts(progs, n.threads, n.prev) {
			out = append(out, n.name)
			if len(out) >= limit {
				return out
			}
		}
		if utf8.RuneCountInString(n.name) >= maxLen {
			continue
		}
	next:
		for _, r := range alphabet {
			t := make([][]uint32, len(progs))
			for i, p := range progs {
				t[i] = step(p.prog, n.threads[i], n.prev, r)
				if len(t[i]) == 0 && !p.neg {
					continue next // this program can no longer match
				}
			}
			if bud.states <= 0 {
				break
			}
			k := key(t, r)
			if seen[k] {
				continue
			}
			seen[k] = true
			bud.states--
			queue = append(queue, node{threads: t, prev: r, name: n.name + string(r)})
		}
	}
	return out
}

// key identifies a product state: the threads of each program and what of
// the last rune matters to the next assertion (a word character or not).
func key(threads [][]uint32, prev rune) string {
	var b strings.Builder
	if syntax.IsWordChar(prev) {
		b.WriteByte('w')
	} else {
		b.WriteByte('n')
	}
	for _, t := range threads {
		b.WriteByte('|')
		for _, pc := range t {
			b.WriteString(strconv.FormatUint(uint64(pc), 36))
			b.WriteByte(',')
		}
	}
	return b.String()
}

// distinct returns one character of searchAlphabet for each class of
// characters that every rune instruction of the programs, and \b, treat
// alike.
func distinct(progs []program) []rune {
	var insts []*syntax.Inst
	for _, p := range progs {
		for i := range p.prog.Inst {
			switch p.prog.Inst[i].Op {
			case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				insts = append(insts, &p.prog.Inst[i])
			}
		}
	}
	var out []rune
	classes := map[string]bool{}
	for _, r := range searchAlphabet {
		sig := make([]byte, 0, len(insts)+1)
		for _, in := range insts {
			sig = append(sig, boolByte(in.MatchRune(r)))
		}
		sig = append(sig, boolByte(syntax.IsWordChar(r)))
		if !classes[string(sig)] {
			classes[string(sig)] = true
			out = append(out, r)
		}
	}
	return out
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// closure follows the threads through empty-width instructions at the
// position between prev and next (-1 for the ends), and returns the
// instructions that read a rune or match.
func closure(p *syntax.Prog, threads []uint32, prev, next rune) []uint32 {
	ctx := syntax.EmptyOpContext(prev, next)
	var out []uint32
	visited := make(map[uint32]bool)
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if visited[pc] {
			return
		}
		visited[pc] = true
		in := &p.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(in.Out)
			visit(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(in.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^ctx == 0 {
				visit(in.Out)
			}
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL, syntax.InstMatch:
			out = append(out, pc)
		}
	}
	for _, pc := range threads {
		visit(pc)
	}
	slices.Sort(out)
	return out
}

// step reads r: the threads that wait for the next rune after it.
func step(p *syntax.Prog, threads []uint32, prev, r rune) []uint32 {
	var out []uint32
	for _, pc := range closure(p, threads, prev, r) {
		in := &p.Inst[pc]
		if in.Op != syntax.InstMatch && in.MatchRune(r) {
			out = append(out, in.Out)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// accepts reports whether the name read so far matches every positive
// program and no negative one.
func accepts(progs []program, threads [][]uint32, prev rune) bool {
	for i, p := range progs {
		matched := slices.ContainsFunc(closure(p.prog, threads[i], prev, -1), func(pc uint32) bool {
			return p.prog.Inst[pc].Op == syntax.InstMatch
		})
		if matched == p.neg {
			return false
		}
	}
	return true
}
