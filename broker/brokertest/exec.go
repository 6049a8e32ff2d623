package brokertest

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proc is an external program (mosquitto_sub, a Python client) run for one test. It is killed
// when its timeout passes or the test ends, whichever comes first.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error
}

// RequireBinary returns the path of the program name, skipping the test when it is not
// installed.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (scripts/setup.sh installs it): %v", name, err)
	}
	return p
}

// RunCmd starts name with args. The process is killed after timeout, and at the latest when
// the test ends (t.Cleanup waits for it to exit).
func RunCmd(t testing.TB, timeout time.Duration, name string, args ...string) *Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &Proc{t: t, name: name, cancel: cancel, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// Wait waits for the process to exit (or be killed at its timeout) and returns its standard
// output and exit error.
func (p *Proc) Wait() (string, error) {
	<-p.done
	return p.stdout.String(), p.err
}

// MustSucceed waits for the process and fails the test unless it exited with status 0; it
// returns the standard output.
func (p *Proc) MustSucceed() string {
	p.t.Helper()
	out, err := p.Wait()
	if err != nil {
		p.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.name, err, out, p.stderr.String())
	}
	return out
}

// Stdout is the standard output so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is the standard error so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitOutput waits until the standard output (or, with stderr set, the standard error)
// contains s, failing the test after timeout or when the process exits first.
func (p *Proc) WaitOutput(s string, stderr bool, timeout time.Duration) {
	p.t.Helper()
	buf := &p.stdout
	if stderr {
		buf = &p.stderr
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(buf.String(), s) {
		select {
		case <-p.done:
			if strings.Contains(buf.String(), s) {
				return
			}
			p.t.Fatalf("%s exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.name, p.err, s, p.stdout.String(), p.stderr.String())
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %v\nstdout:\n%s\nstderr:\n%s", p.name, s, timeout, p.stdout.String(), p.stderr.String())
		case <-tick.C:
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
