// Package peakrss measures the peak resident memory of a command: the
// kernel's own high-water mark for the command's memory (VmHWM), read when
// the command exits.
//
// The usual way, ru_maxrss from wait4, is wrong for a child of a large
// process: Go starts children with vfork, and Linux carries the parent's
// high-water mark into the child's ru_maxrss at exec. A test or benchmark
// harness holding a gigabyte would "measure" a gigabyte for every tool it
// runs. Here the child is traced (ptrace) only to stop it at its exit, while
// its memory still exists, and read /proc/PID/status.
package peakrss

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Run starts cmd, waits for it like cmd.Run, and returns its peak resident
// memory in bytes. The error is cmd's (an *exec.ExitError when it failed).
func Run(cmd *exec.Cmd) (peak int64, err error) {
	// Every ptrace request must come from the thread that started the child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	peak, traceErr := traceToExit(pid)
	waitErr := cmd.Wait()
	if traceErr != nil {
		return 0, errors.Join(fmt.Errorf("measure memory of %s: %w", cmd.Path, traceErr), waitErr)
	}
	return peak, waitErr
}

// traceToExit follows pid from its exec stop to its exit stop, passes on
// every signal it receives, reads its VmHWM at exit and lets it go.
func traceToExit(pid int) (int64, error) {
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		return 0, fmt.Errorf("wait for exec: %w", err)
	}
	if !ws.Stopped() {
		return 0, fmt.Errorf("child did not stop at exec (status %v)", ws)
	}
	if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACEEXIT); err != nil {
		return 0, fmt.Errorf("ptrace options: %w", err)
	}
	if err := syscall.PtraceCont(pid, 0); err != nil {
		return 0, fmt.Errorf("ptrace continue: %w", err)
	}
	for {
		if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
			return 0, fmt.Errorf("wait: %w", err)
		}
		if !ws.Stopped() {
			return 0, fmt.Errorf("child ended without an exit stop (status %v)", ws)
		}
		if ws.StopSignal() == syscall.SIGTRAP && ws.TrapCause() == syscall.PTRACE_EVENT_EXIT {
			peak, err := vmHWM(pid)
			if derr := syscall.PtraceDetach(pid); derr != nil && err == nil {
				err = fmt.Errorf("ptrace detach: %w", derr)
			}
			return peak, err
		}
		// A signal on its way to the child: deliver it.
		if err := syscall.PtraceCont(pid, int(ws.StopSignal())); err != nil {
			return 0, fmt.Errorf("ptrace continue: %w", err)
		}
	}
}

func vmHWM(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
