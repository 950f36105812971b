// Command ferry-workflow is a stand-in for the real one in cmd/ferry's
// tests: it prints its arguments and exits with the status named by the
// argument after --exit.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	fmt.Printf("ferry-workflow got %q\n", os.Args[1:])
	fmt.Fprintln(os.Stderr, "ferry-workflow: on stderr")
	for i, a := range os.Args {
		if a == "--exit" && i+1 < len(os.Args) {
			n, _ := strconv.Atoi(os.Args[i+1])
			os.Exit(n)
		}
	}
}
