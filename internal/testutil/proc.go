package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every child process of a test (rumd, Prometheus, Xvfb, WebKitWebDriver, chromium, node)
// runs under a supervisor: the test binary itself, started again in the mode init selects
// below. A killed test binary runs no cleanup, and what it started would outlive it: the
// browsers' own children (MiniBrowser under WebKitWebDriver, Firefox under node, which
// puppeteer starts in a session of its own) are out of reach of both the parent-death
// signal, which the kernel sends only to a direct child, and a kill of the child's process
// group. The supervisor closes that gap:
//
//   - It is a child subreaper (PR_SET_CHILD_SUBREAPER), so whatever its child starts is
//     reparented to it rather than to init when an intermediate process dies, even after a
//     setsid: it can always find the whole tree under it in /proc.
//   - It learns that the test binary died from the end of a lifeline pipe whose only write
//     end the test binary holds: the kernel closes it when the test binary exits, however it
//     exits. A parent-death signal would not do here: Linux sends it when the thread that
//     forked exits (go.dev/issue/27505), not the process, and SIGKILL would give the
//     supervisor no time to kill the tree.
//   - It starts its child with Pdeathsig SIGKILL from its main thread, which it locks and
//     which lives as long as it does, so a supervisor killed on its own takes its child along.
//   - It forwards SIGTERM, SIGINT, SIGHUP and SIGQUIT to its child (a graceful stop reaches
//     rumd). When the child exits, or is SIGKILLed because the lifeline ended, it kills what
//     the child left behind and exits the way the child did.
//
// The supervisor runs in its own process group (Setpgid), a last resort for the test to
// kill it all at once.

// superviseEnv names the lifeline's file descriptor in the environment of a supervisor.
const superviseEnv = "RUMD_TESTUTIL_SUPERVISE_FD"

func init() {
	if fd, ok := os.LookupEnv(superviseEnv); ok {
		os.Exit(supervise(fd))
	}
}

// supervise runs the command of os.Args[1:] (path, then argv) and returns the exit code to
// end with; see above.
func supervise(fdStr string) int {
	// The child's Pdeathsig is bound to this thread: keep it the process's main thread.
	runtime.LockOSThread()
	lifeFD, err := strconv.Atoi(fdStr)
	if err != nil || len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "testutil supervisor: bad lifeline %q or command %q\n", fdStr, os.Args)
		return 127
	}
	os.Unsetenv(superviseEnv)
	if err := setSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil supervisor: %v\n", err)
		return 127
	}
	syscall.CloseOnExec(lifeFD)
	lifeline := os.NewFile(uintptr(lifeFD), "lifeline")
	// The files the test gave its command are at 3..lifeFD-1; a closed one stays closed.
	var extra []*os.File
	for fd := 3; fd < lifeFD; fd++ {
		if _, err := fcntl(fd, syscall.F_GETFD); err != nil {
			extra = append(extra, nil)
			continue
		}
		extra = append(extra, os.NewFile(uintptr(fd), "extra-"+strconv.Itoa(fd)))
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	child := &exec.Cmd{
		Path: os.Args[1], Args: os.Args[2:],
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := child.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil supervisor: %v\n", err)
		return 127
	}
	for _, f := range extra {
		if f != nil {
			f.Close() // the child has its own copies; a pipe must see its end when the child ends
		}
	}
	exited := make(chan syscall.WaitStatus, 1)
	go func() {
		if st, err := child.Process.Wait(); err == nil {
			exited <- st.Sys().(syscall.WaitStatus)
		}
	}()
	parentGone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, lifeline)
		close(parentGone)
	}()
	var ws syscall.WaitStatus
wait:
	for {
		select {
		case s := <-sigs:
			child.Process.Signal(s)
		case <-parentGone:
			child.Process.Kill()
			select {
			case ws = <-exited:
			case <-time.After(5 * time.Second):
				ws = syscall.WaitStatus(syscall.SIGKILL) // as good as dead: a SIGKILLed zombie
			}
			break wait
		case ws = <-exited:
			break wait
		}
	}
	// The child is reaped: what is left under this process is what it left behind.
	killDescendants()
	if ws.Signaled() {
		signal.Reset(ws.Signal())
		syscall.Kill(os.Getpid(), ws.Signal())
		time.Sleep(time.Second) // the signal ends the process
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of <linux/prctl.h> (not in package syscall).
const prSetChildSubreaper = 36

func setSubreaper() error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", e)
	}
	return nil
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// killDescendants SIGKILLs every live process under this one and reaps them, until none is
// left or 5 s have passed (a process that forks as it is killed is found on the next pass).
func killDescendants() {
	self := os.Getpid()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids := Descendants(self)
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
		if len(pids) == 0 {
			return
		}
	}
}

// Descendants lists the live processes under pid (children, their children, ...), from
// /proc; zombies, which are already dead, are left out.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(p)
		if ok && state != 'Z' && state != 'X' {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// Alive reports whether pid is a process that has not exited (a zombie has).
func Alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// procStat reads a process's parent and state from /proc/pid/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// Supervise rewrites cmd, before it starts, to run under a supervisor (see above) in a
// process group of its own. It returns the write end of the lifeline: the caller holds it
// for as long as the process may run, and closing it kills the process and everything it
// started. For a command that something else starts (chromedp's browser); MustStart and
// MustRun use it for theirs.
func Supervise(cmd *exec.Cmd) (lifeline *os.File, err error) {
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if cmd.Process != nil {
		return nil, errors.New("testutil: Supervise of a started command")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("testutil: find the test binary to supervise %s: %w", cmd.Path, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.Env = append(env[:len(env):len(env)], superviseEnv+"="+strconv.Itoa(fd))
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Args = append([]string{self, cmd.Path}, cmd.Args...)
	cmd.Path = self
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = 0 // the lifeline does it; see above
	if cmd.WaitDelay == 0 {
		// Whatever holds the output pipes once the process is gone, Wait returns.
		cmd.WaitDelay = 5 * time.Second
	}
	return w, nil
}

// Proc is a child process of a test, started by MustStart under a supervisor.
type Proc struct {
	Cmd      *exec.Cmd
	lifeline *os.File
	closed   sync.Once
	done     chan struct{}
	err      error
}

// MustStart starts cmd under a supervisor (see Supervise) and fails the test if it cannot.
// When the test ends the process and everything it started are killed, if still running,
// and reaped; the test fails if that takes over 15 s. Use cmd's Stdout and Stderr as
// writers rather than StdoutPipe: Proc waits for the process as soon as it starts.
func MustStart(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	name := cmd.Path
	lifeline, err := Supervise(cmd)
	if err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Cmd: cmd, lifeline: lifeline, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		lifeline.Close()
		cmd.ExtraFiles[len(cmd.ExtraFiles)-1].Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	cmd.ExtraFiles[len(cmd.ExtraFiles)-1].Close() // the supervisor has the read end
	go func() {
		p.err = cmd.Wait()
		p.Kill()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Kill()
		if !p.WaitFor(15 * time.Second) {
			tb.Errorf("%s: still running 15 s after it was killed", name)
		}
	})
	return p
}

// Kill closes the lifeline: the supervisor SIGKILLs the process and everything under it.
func (p *Proc) Kill() { p.closed.Do(func() { p.lifeline.Close() }) }

// Done is closed once the process exited and was reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (as exec.Cmd.Wait's), valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Pid is the supervisor's process id, which is also the process group's.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// ChildPid is the process id of the command itself, the supervisor's child (to read its
// /proc/PID/status), or 0 once it has exited. The supervisor starts it at once; ChildPid
// waits up to 5 s for it to appear.
func (p *Proc) ChildPid() int {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if kids := Descendants(p.Pid()); len(kids) > 0 {
			return kids[0] // breadth first: a direct child comes first
		}
		if time.Now().After(deadline) {
			return 0
		}
	}
}

// WaitFor waits for the process to exit for at most d, and reports whether it did.
func (p *Proc) WaitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Stop sends sig to the process and waits up to grace for it to exit; then it kills the
// process and what it started, and, should even that not end it within 10 s, the process
// group. It returns the exit error, and an error saying so if the process needed killing.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if sig == syscall.SIGKILL {
		// The supervisor cannot forward a SIGKILL; the lifeline makes it kill the process
		// and reap it, so that nothing of it runs once Stop returns (a Badger lock, a port).
		p.Kill()
	} else {
		p.Cmd.Process.Signal(sig) // the supervisor forwards it
	}
	if p.WaitFor(grace) {
		return p.err
	}
	p.Kill()
	if !p.WaitFor(10 * time.Second) {
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
		if !p.WaitFor(5 * time.Second) {
			return fmt.Errorf("%s: not reaped 15 s after it was killed", p.Cmd.Args[1])
		}
	}
	return fmt.Errorf("%s did not stop within %v of %v and was killed (%v)", p.Cmd.Args[1], grace, sig, p.err)
}

// MustRun runs cmd under a supervisor for at most timeout and returns its combined output;
// it fails the test if the command cannot start, runs out of time or fails.
func MustRun(tb testing.TB, timeout time.Duration, cmd *exec.Cmd) []byte {
	tb.Helper()
	out, err := Run(timeout, cmd)
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return out
}

// ErrDeadline is the error of a Run whose command was killed at its deadline.
var ErrDeadline = errors.New("killed at its deadline of")

// Run runs cmd under a supervisor for at most timeout, killing it and what it started when
// the time is up (the error is then ErrDeadline), and returns its combined output (unless
// cmd has its own Stdout and Stderr) and its exit error.
func Run(timeout time.Duration, cmd *exec.Cmd) ([]byte, error) {
	var out SyncBuffer
	if cmd.Stdout == nil && cmd.Stderr == nil {
		cmd.Stdout, cmd.Stderr = &out, &out
	}
	lifeline, err := Supervise(cmd)
	if err != nil {
		return nil, err
	}
	defer lifeline.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		<-ctx.Done()
		lifeline.Close() // a no-op once the command ended: it only kills what is left
	}()
	err = cmd.Start()
	cmd.ExtraFiles[len(cmd.ExtraFiles)-1].Close()
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%w %v: %w", ErrDeadline, timeout, err)
	}
	return []byte(out.String()), err
}

// LineWriter calls fn with each line written to it, without its newline (fn must copy the
// line to keep it); it lets a test watch a process's output as it comes, through a writer
// (see MustStart).
type LineWriter struct {
	fn  func(line []byte)
	mu  sync.Mutex
	buf []byte
}

// NewLineWriter returns a LineWriter calling fn.
func NewLineWriter(fn func(line []byte)) *LineWriter { return &LineWriter{fn: fn} }

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 16<<20 { // a line that long is not one a test waits for
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

var _ io.Writer = (*LineWriter)(nil)

// StatusBytes reads a size field of /proc/PID/status, such as VmRSS (resident memory now)
// or VmHWM (its peak), in bytes; it fails the test when the process or the field is gone.
func StatusBytes(tb testing.TB, pid int, field string) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("/proc/%d/status %s: %v", pid, field, err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
