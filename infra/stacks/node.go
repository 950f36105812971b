package stacks

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// UseProjectNode makes jsii run on the Node that `make
// node_modules/.installed` installs (npm's node@22 package) rather than an
// end-of-life system Node, unless JSII_NODE is already set. It reports
// whether that Node is in use.
//
// jsii reads JSII_NODE while the CDK packages register their types, during
// package initialization, before main or TestMain run. So, when it has to
// set the variable, UseProjectNode replaces the running program with a
// fresh copy of itself (same arguments) that starts with it set. Call it
// first thing, before any CDK call.
func UseProjectNode(root string) bool {
	if os.Getenv("JSII_NODE") != "" {
		return true
	}
	node := filepath.Join(root, "node_modules", ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		return false
	}
	os.Setenv("JSII_NODE", node)
	if runtime.GOOS == "windows" {
		return false
	}
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	err = syscall.Exec(exe, os.Args, os.Environ()) // returns only on failure
	return err == nil
}
