// Command ferry-workflow is a stand-in for the real one in cmd/ferry's
// tests: it prints its arguments and exits with the status named by the
// argument after --exit. With --wait-signal it prints "ready", waits for
// SIGINT or SIGTERM, prints which one came and exits with status 3.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
)

func main() {
	fmt.Printf("ferry-workflow got %q\n", os.Args[1:])
	fmt.Fprintln(os.Stderr, "ferry-workflow: on stderr")
	if slices.Contains(os.Args, "--wait-signal") {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		fmt.Println("ready")
		fmt.Printf("ferry-workflow got signal %v\n", <-ch)
		os.Exit(3)
	}
	for i, a := range os.Args {
		if a == "--exit" && i+1 < len(os.Args) {
			n, _ := strconv.Atoi(os.Args[i+1])
			os.Exit(n)
		}
	}
}
