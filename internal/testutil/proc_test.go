package testutil_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rumd/internal/testutil"
)

// helperEnv makes the test binary, started again by a test below, run one helper test.
const helperEnv = "RUMD_TESTUTIL_PROC_HELPER"

// TestHelperProcessTree is not a test: run by TestTreeDiesWithTestBinary in a test binary of
// its own, it starts a shell under MustStart that starts two sleeps, one of them in a session
// of its own, prints their pids, the shell's and the supervisor's, and waits to be killed.
func TestHelperProcessTree(t *testing.T) {
	if os.Getenv(helperEnv) != "tree" {
		t.Skip("helper of TestTreeDiesWithTestBinary")
	}
	cmd := exec.Command("sh", "-c", `sleep 61 & echo $!; setsid sleep 62 & echo $!; echo $$; wait`)
	cmd.Stdout = os.Stdout
	p := testutil.MustStart(t, cmd)
	os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
	time.Sleep(60 * time.Second) // the test kills this process long before
}

// TestTreeDiesWithTestBinary SIGKILLs a test binary that started a process tree with
// MustStart (so no cleanup of it runs) and checks that the tree dies with it: its direct
// child, a grandchild, and a grandchild that left for a session of its own (as puppeteer's
// Firefox does).
func TestTreeDiesWithTestBinary(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperProcessTree$", "-test.timeout=90s")
	helper.Env = append(os.Environ(), helperEnv+"=tree")
	helper.Stdout, helper.Stderr = w, os.Stderr
	helper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() { helper.Wait(); close(exited) }()
	defer func() {
		helper.Process.Kill()
		<-exited // SIGKILLed: it exits at once
	}()

	pidc := make(chan int, 4)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pidc <- pid
			}
		}
	}()
	var pids []int // sleep 61, sleep 62, sh, supervisor
	timeout := time.After(30 * time.Second)
	for len(pids) < 4 {
		select {
		case pid := <-pidc:
			pids = append(pids, pid)
		case <-timeout:
			t.Fatalf("the helper printed %v within 30 s, want 4 pids", pids)
		}
	}
	t.Cleanup(func() { // should the test fail, leave nothing behind
		for _, pid := range pids {
			if testutil.Alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for _, pid := range pids {
		if !testutil.Alive(pid) {
			t.Fatalf("pid %d of %v not running before the helper was killed", pid, pids)
		}
	}

	helper.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the helper did not exit 10 s after SIGKILL")
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		var alive []int
		for _, pid := range pids {
			if testutil.Alive(pid) {
				alive = append(alive, pid)
			}
		}
		return len(alive) == 0, "still running after the test binary was killed: " + fmtInts(alive)
	})
}

func fmtInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

// TestChildOutlivesStartingThread starts a process from a goroutine locked to its OS thread
// that then exits, which ends the thread: a child started with a parent-death signal from
// that thread would be killed with it (go.dev/issue/27505). The process must live on.
func TestChildOutlivesStartingThread(t *testing.T) {
	type started struct {
		p   *testutil.Proc
		tid int
	}
	res := make(chan started, 1)
	var start func()
	start = func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if syscall.Gettid() == os.Getpid() {
			// The main thread is never ended (Go wedges it instead): try from another.
			go start()
			runtime.UnlockOSThread()
			return
		}
		res <- started{testutil.MustStart(t, exec.Command("sleep", "60")), syscall.Gettid()}
	}
	go start()
	var st started
	select {
	case st = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing started within 30 s")
	}
	p, tid := st.p, st.tid
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid))
		return errors.Is(err, os.ErrNotExist), "the starting thread " + strconv.Itoa(tid) + " still runs"
	})
	time.Sleep(200 * time.Millisecond) // a parent-death signal would have arrived by now
	kids := testutil.Descendants(p.Pid())
	if !testutil.Alive(p.Pid()) || len(kids) != 1 || !testutil.Alive(kids[0]) {
		t.Fatalf("supervisor alive %v, its children %v: the process died with the thread that started it", testutil.Alive(p.Pid()), kids)
	}
	select {
	case <-p.Done():
		t.Fatalf("exited: %v", p.Err())
	default:
	}
}

// TestStopForwardsSignalAndKillsLeftovers stops a shell that traps SIGTERM: the signal must
// reach it through the supervisor, its exit status come back, and the sleep it left behind
// be killed.
func TestStopForwardsSignalAndKillsLeftovers(t *testing.T) {
	pidc := make(chan int, 1)
	cmd := exec.Command("sh", "-c", `trap 'exit 3' TERM; sleep 60 & echo $!; wait`)
	cmd.Stdout = testutil.NewLineWriter(func(line []byte) {
		if pid, err := strconv.Atoi(string(line)); err == nil {
			pidc <- pid
		}
	})
	p := testutil.MustStart(t, cmd)
	var sleepPid int
	select {
	case sleepPid = <-pidc:
	case <-time.After(30 * time.Second):
		t.Fatal("the shell printed no pid within 30 s")
	}
	t.Cleanup(func() { syscall.Kill(sleepPid, syscall.SIGKILL) })
	err := p.Stop(syscall.SIGTERM, 20*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("Stop: %v, want exit status 3 from the shell's trap", err)
	}
	if testutil.Alive(sleepPid) {
		t.Errorf("the shell's sleep (pid %d) outlived it", sleepPid)
	}
}

// TestRunKillsAtDeadline runs a command that would run for a minute with a deadline of
// 300 ms: Run must return an error saying so, with the output so far, well before.
func TestRunKillsAtDeadline(t *testing.T) {
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := testutil.Run(300*time.Millisecond, exec.Command("sh", "-c", "echo started; sleep 60"))
		res <- result{out, err}
	}()
	select {
	case r := <-res:
		if !errors.Is(r.err, testutil.ErrDeadline) || !strings.Contains(string(r.out), "started") {
			t.Errorf("Run: %v, output %q: want ErrDeadline, output started", r.err, r.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of a 300 ms deadline")
	}
}

// TestStopKillReapsFirst stops a process with SIGKILL, which the supervisor cannot forward:
// the process must be dead once Stop returns (a restarted rumd needs its Badger lock), and
// Stop must say it was killed.
func TestStopKillReapsFirst(t *testing.T) {
	p := testutil.MustStart(t, exec.Command("sleep", "60"))
	var kids []int
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		kids = testutil.Descendants(p.Pid())
		return len(kids) == 1, "the supervisor's children: " + fmtInts(kids)
	})
	err := p.Stop(syscall.SIGKILL, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Stop: %v, want killed by SIGKILL", err)
	}
	if testutil.Alive(kids[0]) {
		t.Errorf("sleep (pid %d) still runs after Stop returned", kids[0])
	}
}
