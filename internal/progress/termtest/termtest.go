// Package termtest is, for tests, the screen a terminal would show after a
// program's output: it applies what progress.Display writes (\r, \n, and
// ESC [K, [nA, [J), and fails on any other escape, so that a test sees
// what a person would, not the bytes.
package termtest

import (
	"fmt"
	"strings"
)

// Screen returns the lines a terminal shows after out, without trailing
// blank lines. Lines are not wrapped: a test checks their width itself.
func Screen(out string) ([]string, error) {
	var lines [][]rune
	row, col := 0, 0
	r := []rune(out)
	for i := 0; i < len(r); i++ {
		for row >= len(lines) {
			lines = append(lines, nil)
		}
		switch c := r[i]; c {
		case '\r':
			col = 0
		case '\n':
			row, col = row+1, 0
		case '\033':
			j, n := i+2, 0
			if i+1 >= len(r) || r[i+1] != '[' {
				return nil, fmt.Errorf("an escape that is not a CSI at byte %d: %q", i, string(r[i:min(i+8, len(r))]))
			}
			for ; j < len(r) && r[j] >= '0' && r[j] <= '9'; j++ {
				n = n*10 + int(r[j]-'0')
			}
			if j >= len(r) {
				return nil, fmt.Errorf("an escape cut short at the end: %q", string(r[i:]))
			}
			switch r[j] {
			case 'K':
				lines[row] = lines[row][:min(col, len(lines[row]))]
			case 'A':
				row = max(row-max(n, 1), 0)
			case 'J':
				lines[row] = lines[row][:min(col, len(lines[row]))]
				lines = lines[:row+1]
			default:
				return nil, fmt.Errorf("an escape the display does not send: %q", string(r[i:j+1]))
			}
			i = j
		default:
			for len(lines[row]) <= col {
				lines[row] = append(lines[row], ' ')
			}
			lines[row][col] = c
			col++
		}
	}
	var s []string
	for _, l := range lines {
		s = append(s, string(l))
	}
	for len(s) > 0 && strings.TrimSpace(s[len(s)-1]) == "" {
		s = s[:len(s)-1]
	}
	return s, nil
}
