// Package runner starts each function as its own process, the way
// `func run --builder=host` does: the func-go runtime serving the
// function's New(), listening on LISTEN_ADDRESS, with the envs of its
// func.yaml plus what the eventing layer injects (K_SINK).
package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// Spec describes one function process.
type Spec struct {
	Name string
	// Dir holds the function's func.yaml.
	Dir string
	// Local supplies values for the func.yaml envs only a cluster can fill
	// ({{ secret:... }}, {{ configMap:... }}) and adds or overrides any
	// other variable (K_SINK, a local database URL).
	Local map[string]string
	// Command is the program and arguments that serve the function.
	Command []string
	// LogDir receives <name>.log with the process's output.
	LogDir string
	// Inherit are descriptors the process keeps open for its life (the
	// state directory's lock), as fd 3 onwards.
	Inherit []*os.File
	// LogName names the log file, <LogName>.log in LogDir (default Name):
	// the replicas of one function log apart.
	LogName string
}

// Process is one running function.
type Process struct {
	Name    string
	URL     string // http://127.0.0.1:port
	LogPath string

	spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	mu   sync.Mutex
}

// Env computes the environment of the function from its func.yaml and the
// local values, failing with the file and variable when a cluster-only
// value has no local substitute.
func Env(spec Spec, lookup func(string) (string, bool)) ([]string, error) {
	fy, err := manifests.LoadFunc(spec.Dir)
	if err != nil {
		return nil, err
	}
	if fy.Name != spec.Name {
		return nil, fmt.Errorf("%s: name is %q, expected %q", fy.File, fy.Name, spec.Name)
	}
	both := func(k string) (string, bool) {
		if v, ok := spec.Local[k]; ok {
			return v, true
		}
		return lookup(k)
	}
	resolved, err := fy.ResolveEnvs(both)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, r := range resolved {
		switch {
		case r.Name == "":
			// A whole Secret or ConfigMap import: nothing to bring locally.
		case r.Source == manifests.EnvClusterOnly:
			if _, ok := spec.Local[r.Name]; !ok {
				return nil, fmt.Errorf("%s: %s comes from %s %s on a cluster and has no local value; give it one in the plane",
					fy.File, r.Name, r.RefKind, r.Ref)
			}
		default:
			env[r.Name] = r.Value
		}
	}
	for k, v := range spec.Local {
		env[k] = v
	}
	out := os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// Start launches the function on a free loopback port. It returns at once;
// call WaitReady.
func Start(spec Spec) (*Process, error) {
	// The process's own copy: the port picked below is its address (kept
	// by Restart), not the caller's, whose next Start (a retry after the
	// port was taken, another replica) must pick afresh. It did not: the
	// plane's retry asked for the same taken port again, and a nemesis run
	// beside a CI run failed to start.
	spec.Local = maps.Clone(spec.Local)
	if spec.Local == nil {
		spec.Local = map[string]string{}
	}
	// A restarted function keeps its address, so the sources delivering to
	// it need not learn a new one (as a Knative Service keeps its URL).
	addr := spec.Local["LISTEN_ADDRESS"]
	if addr == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr = fmt.Sprintf("127.0.0.1:%d", port)
		spec.Local["LISTEN_ADDRESS"] = addr
	}
	env, err := Env(spec, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.LogDir, 0o755); err != nil {
		return nil, err
	}
	logName := spec.LogName
	if logName == "" {
		logName = spec.Name
	}
	p := &Process{Name: spec.Name, URL: "http://" + addr, LogPath: filepath.Join(spec.LogDir, logName+".log"), spec: spec}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Env = env
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = spec.Inherit
	// Its own process group, so a Ctrl-C in the terminal reaches the plane
	// only, and the plane stops the functions in order.
	// Pdeathsig: if the plane itself dies, its functions go too (SIGTERM, so
	// they still run Stop) instead of lingering on their ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Command is the program and arguments the process runs.
func (p *Process) Command() []string { return p.spec.Command }

// WaitReady polls the readiness endpoint until it answers 200, the process
// exits or the timeout passes; failures quote the end of the log.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	for {
		resp, err := client.Get(p.URL + "/health/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			if reason := p.exitReason(); reason != "" {
				return &StartError{Function: p.Name, Reason: reason, Exit: p.exitErr(), LogPath: p.LogPath}
			}
			return fmt.Errorf("function %s exited during start (%v):\n%s", p.Name, p.exitErr(), p.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("function %s not ready after %s:\n%s", p.Name, timeout, p.LogTail(20))
		case <-time.After(readinessPoll(time.Since(start))):
		}
	}
}

// StartError is a function that exited during its start, saying why.
type StartError struct {
	Function string
	Reason   string // the last line it printed, as it said it
	Exit     error
	LogPath  string
}

func (e *StartError) Error() string {
	return fmt.Sprintf("function %s failed to start: %s (%v; log %s)", e.Function, e.Reason, e.Exit, e.LogPath)
}

// readinessPoll is how long to wait before asking again: often while a
// function is expected to come up (tens of milliseconds), so its
// start-to-ready time is measured, not rounded up to the poll; then
// gently, for one that takes its time.
func readinessPoll(waited time.Duration) time.Duration {
	if waited < time.Second {
		return 2 * time.Millisecond
	}
	return 50 * time.Millisecond
}

// exitReason is the error a process printed last before it exited: its
// last line unless that is a structured (JSON) log line, without the
// "program: " prefix a CLI puts in front. Empty when there is none.
func (p *Process) exitReason() string {
	lines := strings.Split(strings.TrimSpace(p.LogTail(1)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" || strings.HasPrefix(last, "{") || strings.HasPrefix(last, "(") {
		return ""
	}
	// The program's name, and the family it belongs to (orderflow-fn
	// writes as orderflow).
	prog := filepath.Base(p.spec.Command[0])
	family, _, _ := strings.Cut(prog, "-")
	for _, prog := range []string{prog, family} {
		if rest, ok := strings.CutPrefix(last, prog+": "); ok {
			return rest
		}
	}
	return last
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// RSS returns the process's resident memory in bytes, from /proc.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", p.PID())
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended, once Done is closed.
func (p *Process) Err() error { return p.exitErr() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the function to stop (SIGTERM: func-go runs Stop and drains
// the HTTP server) and kills it after grace.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("function %s did not stop within %s; killed", p.Name, grace)
	}
}

// Signal sends sig to the process (SIGSTOP hangs it, SIGCONT lets it go
// on); an ended process is not signalled.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("function %s has ended", p.Name)
	}
	return p.cmd.Process.Signal(sig)
}

// Kill ends the process at once, without its Stop hook: a crash.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart kills the process and starts a new one with the same spec and
// address.
func (p *Process) Restart() (*Process, error) {
	p.Kill()
	return Start(p.spec)
}

// LogTail returns the last n lines of the function's output.
func (p *Process) LogTail(n int) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		lines = append(lines, "(log read error: "+err.Error()+")")
	}
	return "  " + strings.Join(lines, "\n  ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
