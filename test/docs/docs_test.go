// Package docs checks README.md and docs/ against the code they describe:
// every flag that `ferry COMMAND --help` prints is in the CLI reference,
// every `ferry` command written in a shell block parses (a known command,
// known flags, values the flag parser takes), every `make` target is
// documented and every `make` command names a target, every CDK context
// value infra/main.go reads is in the deploying page, and every link
// between the pages resolves, file and #anchor.
//
// The commands and flags come from the ferry binary itself (built once for
// the test), never from a list kept here, so a flag added to a command
// fails this test until the docs have it, with a message that names the
// page and section to add it to.
package docs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// root is the module root; ferry the binary built from ./cmd/ferry.
var root, ferry string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		var err error
		if root, err = moduleRoot(); err != nil {
			fmt.Fprintln(os.Stderr, "test/docs:", err)
			return 1
		}
		dir, err := os.MkdirTemp("", "ferry-docs-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "test/docs:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		ferry = filepath.Join(dir, "ferry")
		build := exec.Command("go", "build", "-o", ferry, "./cmd/ferry")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "test/docs: go build ./cmd/ferry in %s: %v\n%s", root, err, out)
			return 1
		}
		return m.Run()
	}())
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/ferry-dev/ferry\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of github.com/ferry-dev/ferry in %s or above", dir)
		}
	}
}

// pages are the Markdown files a user reads, relative to the root.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md under %s (%v)", root, err)
	}
	out := []string{"README.md"}
	for _, d := range docs {
		out = append(out, filepath.Join("docs", filepath.Base(d)))
	}
	return out
}

func read(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A command is one `ferry` subcommand as its --help describes it.
type command struct {
	path  string          // "copy", "config validate"
	flags map[string]flag // by name, without dashes
	help  string
}

type flag struct {
	name       string
	takesValue bool
}

// help runs ferry with args and --help, and returns what it printed.
func help(args ...string) (string, error) {
	cmd := exec.Command(ferry, append(args, "--help")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

var (
	// A line of the top-level usage: "  ferry copy [flags] SRC DST",
	// "  ferry config validate [FILE]". A second lowercase word right after
	// the first, with one space, is a subcommand; two spaces start the
	// description column.
	usageLine = regexp.MustCompile(`^\s+ferry ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?(?:\s|$)`)
	// A flag line of the Flags: section, as Go's flag package prints it
	// ("  -config FILE", "  -json") or pflag does ("  -h, --help",
	// "      --config FILE   the configuration").
	flagLine  = regexp.MustCompile(`^\s+(-{1,2}[a-zA-Z0-9][a-zA-Z0-9-]*(?:,\s*-{1,2}[a-zA-Z0-9][a-zA-Z0-9-]*)*)(?:[ =](\S+))?(?:\s{2,}|\t|$)`)
	flagNames = regexp.MustCompile(`-{1,2}([a-zA-Z0-9][a-zA-Z0-9-]*)`)
)

// commands lists ferry's commands from `ferry --help`, each with the flags
// its own --help prints. The top level's flags, if any, are under "".
func commands(t *testing.T) map[string]*command {
	t.Helper()
	top, err := help()
	if err != nil {
		t.Fatalf("ferry --help: %v\n%s", err, top)
	}
	out := map[string]*command{"": {path: "", help: top, flags: parseFlags(top)}}
	for _, line := range strings.Split(top, "\n") {
		m := usageLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		path := strings.TrimSpace(m[1] + " " + m[2])
		if _, ok := out[path]; ok {
			continue
		}
		h, err := help(strings.Fields(path)...)
		if err != nil || !strings.Contains(h, "Usage") {
			// "ferry version  print ..." read as a second word is not a
			// subcommand: fall back to the first word.
			if m[2] != "" {
				path = m[1]
				if _, ok := out[path]; ok {
					continue
				}
				h, err = help(path)
			}
			if err != nil {
				t.Fatalf("ferry %s --help (a command ferry --help lists): %v\n%s", path, err, h)
			}
		}
		out[path] = &command{path: path, help: h, flags: parseFlags(h)}
	}
	n := 0
	for _, c := range out {
		n += len(c.flags)
	}
	if len(out) < 3 || n == 0 {
		t.Fatalf("read %d commands and %d flags from ferry's --help: its format changed; update usageLine and flagLine in test/docs\n%s", len(out)-1, n, top)
	}
	return out
}

// parseFlags reads the flags of a --help text: the indented lines after
// "Flags:" that start with a dash.
func parseFlags(h string) map[string]flag {
	flags := map[string]flag{}
	in := false
	for _, line := range strings.Split(h, "\n") {
		if strings.HasSuffix(strings.ToLower(strings.TrimSpace(line)), "flags:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		m := flagLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range flagNames.FindAllStringSubmatch(m[1], -1) {
			flags[n[1]] = flag{name: n[1], takesValue: m[2] != ""}
		}
	}
	return flags
}

// section returns the text of page's section whose heading is heading,
// up to the next heading of the same or a higher level.
func section(text, heading string) (string, bool) {
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	var b strings.Builder
	in, inFence := false, false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence // a "# comment" in a code block is no heading
		}
		if h := strings.IndexFunc(line, func(r rune) bool { return r != '#' }); !inFence && h > 0 && strings.HasPrefix(line[h:], " ") {
			if in && h <= level {
				break
			}
			if strings.TrimSpace(line) == heading {
				in = true
			}
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String(), in
}

// TestEveryFlagIsDocumented checks that each flag of each command's --help
// is in the CLI reference, in that command's section.
func TestEveryFlagIsDocumented(t *testing.T) {
	const page = "docs/cli.md"
	text := read(t, page)
	cmds := commands(t)
	paths := make([]string, 0, len(cmds))
	for p := range cmds {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		c := cmds[p]
		heading, body := "## ferry "+p, ""
		if p == "" {
			// Flags of ferry itself (--version, say) go anywhere on the page.
			heading, body = "", text
		} else {
			var ok bool
			if body, ok = section(text, heading); !ok {
				t.Errorf("%s has no section %q for the command 'ferry %s' that 'ferry --help' lists: add one, with a table of its flags", page, heading, p)
				continue
			}
		}
		names := make([]string, 0, len(c.flags))
		for n := range c.flags {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if n == "h" || n == "help" {
				continue
			}
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(n) + `([^a-zA-Z0-9-]|$)`).MatchString(body) {
				where := fmt.Sprintf("section %q", heading)
				if heading == "" {
					where = "anywhere"
				}
				t.Errorf("%s does not mention --%s (%s), which 'ferry %s --help' prints: add a row for it to the flags table there",
					page, n, where, strings.TrimSpace(p))
			}
		}
	}
}

// A shellCommand is one simple command of a fenced shell block.
type shellCommand struct {
	page string
	line int
	args []string
}

func (c shellCommand) String() string {
	return fmt.Sprintf("%s:%d: %q", c.page, c.line, strings.Join(c.args, " "))
}

// shellCommands returns the simple commands in page's sh, bash, shell and
// console blocks (in console blocks, the lines after a "$ " prompt).
func shellCommands(page, text string) []shellCommand {
	var out []shellCommand
	var fence, lang string
	var pending strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if fence == "" {
			if strings.HasPrefix(line, "```") {
				fence, lang = "```", strings.TrimSpace(strings.TrimPrefix(line, "```"))
			}
			continue
		}
		if strings.HasPrefix(line, fence) {
			fence = ""
			continue
		}
		switch lang {
		case "sh", "bash", "shell", "console", "zsh":
		default:
			continue
		}
		if lang == "console" && pending.Len() == 0 {
			if !strings.HasPrefix(line, "$ ") {
				continue
			}
			line = strings.TrimPrefix(line, "$ ")
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		pending.WriteString(line)
		for _, args := range splitShell(pending.String()) {
			out = append(out, shellCommand{page: page, line: start, args: args})
		}
		pending.Reset()
	}
	return out
}

// splitShell splits a line of shell into simple commands (at |, ||, &&, ;
// and &), each as its words with quotes removed, up to a # comment.
func splitShell(s string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == '#' && !inWord:
			endCmd()
			return cmds
		case c == '|' || c == '&' || c == ';':
			endCmd()
		case c == ' ' || c == '\t':
			endWord()
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// TestDocumentedCommandsParse checks every `ferry ...` command in the shell
// blocks of the README and docs/: its command is one ferry has, each flag
// one that command's --help lists, and ferry's own flag parser takes the
// flags and their values (they are passed to `ferry COMMAND ... --help`).
func TestDocumentedCommandsParse(t *testing.T) {
	cmds := commands(t)
	subcommands := map[string][]string{} // "config" -> ["validate"]
	for p := range cmds {
		if first, sub, ok := strings.Cut(p, " "); ok {
			subcommands[first] = append(subcommands[first], sub)
		}
	}
	checked := 0
	for _, page := range pages(t) {
		for _, sc := range shellCommands(page, read(t, page)) {
			if filepath.Base(sc.args[0]) != "ferry" {
				continue
			}
			checked++
			if err := checkFerryCommand(sc.args[1:], cmds, subcommands); err != nil {
				t.Errorf("%s: %v", sc, err)
			}
		}
	}
	if checked < 10 {
		t.Errorf("found only %d ferry commands in the shell blocks of README.md and docs/: the block parser is broken", checked)
	}
}

func checkFerryCommand(args []string, cmds map[string]*command, subcommands map[string][]string) error {
	if len(args) == 0 {
		return errors.New("ferry without a command")
	}
	path, rest := args[0], args[1:]
	if strings.HasPrefix(path, "-") {
		path, rest = "", args
	}
	if subs, ok := subcommands[path]; ok {
		if len(rest) == 0 || !slices.Contains(subs, rest[0]) {
			return fmt.Errorf("'ferry %s' needs one of its subcommands %v", path, subs)
		}
		path, rest = path+" "+rest[0], rest[1:]
	}
	c, ok := cmds[path]
	if !ok {
		return fmt.Errorf("unknown command %q ('ferry --help' lists %s)", path, list(cmds))
	}
	var flagArgs []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue // a positional argument
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := c.flags[name]
		if !ok {
			known := make([]string, 0, len(c.flags))
			for n := range c.flags {
				known = append(known, "--"+n)
			}
			sort.Strings(known)
			return fmt.Errorf("'ferry %s' has no flag %s (its --help lists %s)", path, a, strings.Join(known, ", "))
		}
		flagArgs = append(flagArgs, a)
		if f.takesValue && !hasValue {
			if i+1 == len(rest) {
				return fmt.Errorf("flag %s of 'ferry %s' needs a value", a, path)
			}
			i++
			flagArgs = append(flagArgs, rest[i])
		}
	}
	// ferry's own parser: the flags and their values, then --help, which
	// ends the command before it does anything once the flags parse.
	out, err := help(append(strings.Fields(path), flagArgs...)...)
	if err != nil {
		return fmt.Errorf("ferry's flag parser refuses it (ferry %s %s --help: %v): %s", path, strings.Join(flagArgs, " "), err, firstLine(out))
	}
	return nil
}

func list(cmds map[string]*command) string {
	var ps []string
	for p := range cmds {
		if p != "" {
			ps = append(ps, "'"+p+"'")
		}
	}
	sort.Strings(ps)
	return strings.Join(ps, ", ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

var (
	makeTarget    = regexp.MustCompile(`^([a-zA-Z0-9_./-]+):`)
	makeHelpEntry = regexp.MustCompile(`^([a-zA-Z_-]+):.*## (.*)$`)
)

// TestMakeTargets checks that every target `make help` lists is in the
// Development page's table (and that page is linked from the README), and
// that every `make ...` in a shell block names a real target.
func TestMakeTargets(t *testing.T) {
	mk := read(t, "Makefile")
	targets := map[string]bool{}
	var listed [][2]string
	sc := bufio.NewScanner(strings.NewReader(mk))
	for sc.Scan() {
		if m := makeTarget.FindStringSubmatch(sc.Text()); m != nil && !strings.HasPrefix(m[1], ".") {
			targets[m[1]] = true
		}
		if m := makeHelpEntry.FindStringSubmatch(sc.Text()); m != nil {
			listed = append(listed, [2]string{m[1], m[2]})
		}
	}
	if len(listed) < 5 {
		t.Fatalf("read only %d targets with ## help from the Makefile: the pattern is out of date", len(listed))
	}
	const page = "docs/development.md"
	body, ok := section(read(t, page), "## Make targets")
	if !ok {
		t.Fatalf("%s has no section \"## Make targets\"", page)
	}
	for _, l := range listed {
		if !strings.Contains(body, "`make "+l[0]+"`") {
			t.Errorf("%s: the table in \"## Make targets\" has no row for `make %s` (make help: %q): add one", page, l[0], l[1])
		}
	}
	for _, page := range pages(t) {
		for _, c := range shellCommands(page, read(t, page)) {
			if c.args[0] != "make" {
				continue
			}
			for _, a := range c.args[1:] {
				if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
					continue
				}
				if !targets[a] {
					t.Errorf("%s: make has no target %q", c, a)
				}
			}
		}
	}
}

var (
	link    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
)

// anchors returns the #anchors GitHub gives the headings of a Markdown text.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		m := heading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		a := slug(m[2])
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// slug is GitHub's heading anchor: lower case, spaces to hyphens, and
// every character but letters, digits, hyphens and underscores dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// withoutCode blanks fenced blocks and inline code, where brackets are not
// links.
func withoutCode(text string) []string {
	lines := strings.Split(text, "\n")
	inFence := false
	code := regexp.MustCompile("`[^`]*`")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
			lines[i] = ""
			continue
		}
		if inFence {
			lines[i] = ""
			continue
		}
		lines[i] = code.ReplaceAllStringFunc(l, func(s string) string {
			// Keep a link whose text is code: [`ferry.yaml`](x).
			return strings.Repeat("x", len(s))
		})
	}
	return lines
}

// TestLinksResolve checks every relative link of the README and docs/:
// the file exists, and its #anchor is a heading there.
func TestLinksResolve(t *testing.T) {
	n := 0
	for _, page := range pages(t) {
		for i, line := range withoutCode(read(t, page)) {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				n++
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
				}
				st, err := os.Stat(filepath.Join(root, path))
				if err != nil {
					t.Errorf("%s:%d: link %q: no file %s", page, i+1, target, path)
					continue
				}
				if anchor == "" {
					continue
				}
				if st.IsDir() || !strings.HasSuffix(path, ".md") {
					t.Errorf("%s:%d: link %q: an #anchor into %s, which is not a Markdown page", page, i+1, target, path)
					continue
				}
				if !anchors(read(t, path))[anchor] {
					t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", page, i+1, target, path, anchor)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("found only %d relative links in README.md and docs/: the link pattern is broken", n)
	}
}

// TestReadmeIsAFrontPage keeps the README short: everything else has a page
// in docs/.
func TestReadmeIsAFrontPage(t *testing.T) {
	const max = 200
	if n := strings.Count(read(t, "README.md"), "\n"); n > max {
		t.Errorf("README.md has %d lines, more than the front page's %d: move the detail to a page in docs/ and link it", n, max)
	}
}

// contextKey is a line of infra/main.go's list of CDK context values:
// "//	maxConcurrency          destinations copied at once ...".
var contextKey = regexp.MustCompile(`^//\t([a-zA-Z]+)\s{2,}`)

// TestContextValuesDocumented checks that every CDK context value the app
// reads, as infra/main.go's doc comment lists them, is in the Settings of
// the deploying page.
func TestContextValuesDocumented(t *testing.T) {
	const page = "docs/deploying.md"
	body, ok := section(read(t, page), "## Settings")
	if !ok {
		t.Fatalf("%s has no section \"## Settings\"", page)
	}
	var keys []string
	in := false
	for _, line := range strings.Split(read(t, "infra/main.go"), "\n") {
		if strings.HasPrefix(line, "// Context values") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "//") {
			break
		}
		if m := contextKey.FindStringSubmatch(line); in && m != nil {
			keys = append(keys, m[1])
		}
	}
	if len(keys) < 5 {
		t.Fatalf("read only %d context values from infra/main.go's \"Context values\" comment: its format changed; update contextKey in test/docs", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(body, "`"+k+"`") {
			t.Errorf("%s: \"## Settings\" does not mention the CDK context value `%s` that infra/main.go reads: add it, with its default and range", page, k)
		}
	}
}
