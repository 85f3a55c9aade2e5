package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/profile"
	"orderflow.dev/local/soak"
)

// childPlane is an `orderflow up` the soak started as a process of its
// own, so that what the soak measures as the plane's memory is the plane's
// alone: the load generator's record of every order (kept for the
// invariant check at the end, and growing with the orders by design)
// stays in the soak's process, measured apart as the harness.
type childPlane struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	ep      plane.Endpoints
	kc      sarama.Client
	log     string
}

// upArgs turns the up flags given to soak into the arguments of `up`:
// each flag registered by upFlags that was set on the command line, as
// given, and the extra function environment.
func upArgs(cmd *cobra.Command, env map[string]string) []string {
	upNames := pflag.NewFlagSet("up", pflag.ContinueOnError)
	var probe upFlags
	probeCmd := &cobra.Command{}
	probe.register(probeCmd)
	probeCmd.Flags().VisitAll(func(f *pflag.Flag) { upNames.AddFlag(f) })
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if upNames.Lookup(f.Name) == nil {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, "--env="+k+"="+env[k])
	}
	return args
}

// startChildPlane runs `orderflow --state-dir stateDir up args...`, its
// output in stateDir/up.log, and waits until its endpoints.json names it.
func startChildPlane(ctx context.Context, g *globals, stateDir string, args []string) (*childPlane, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start the plane: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(stateDir, "up.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	full := []string{"--state-dir", stateDir}
	if g.root != "" {
		full = append(full, "--root", g.root)
	}
	full = append(append(full, "up"), args...)
	c := &childPlane{cmd: exec.Command(self, full...), exited: make(chan struct{}), log: logPath}
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C at the terminal reaches the soak,
	// which stops the plane in order (SIGINT, then waits). Pdeathsig: a
	// soak that dies without stopping it (SIGKILL, or SIGPIPE when its
	// output was piped to a pager that quit) still stops it, as the plane
	// stops its functions.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the plane (%s up): %w", self, err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()

	deadline := time.After(4 * time.Minute)
	for {
		if ep, err := plane.ReadEndpoints(stateDir); err == nil && ep.PID == c.cmd.Process.Pid {
			c.ep = ep
			break
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("the plane (orderflow up) exited before it was ready: %v; its output:\n%s", c.waitErr, tail(logPath, 20))
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("the plane (orderflow up) was not ready within 4 minutes; its output:\n%s", tail(logPath, 20))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if c.kc, err = broker.NewClient(c.ep.Brokers, "orderflow-soak"); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// processes lists the functions the plane started (its children), by
// name, with their URLs.
func (c *childPlane) processes() map[string]soak.Process {
	procs := map[string]soak.Process{}
	children, _ := profile.Children(c.cmd.Process.Pid)
	for _, ch := range children {
		if name, ok := functionOf(ch.PID); ok {
			procs[name] = soak.Process{PID: ch.PID, URL: c.ep.Functions[name]}
		}
	}
	return procs
}

// stop asks the plane to shut down as Ctrl-C would (it stops its
// functions, which let go of their databases) and waits for it, killing
// it after a minute.
func (c *childPlane) stop() error {
	if c.kc != nil {
		c.kc.Close()
		c.kc = nil
	}
	select {
	case <-c.exited:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		return errors.New("the plane did not stop within a minute of SIGINT: killed")
	}
	var exit *exec.ExitError
	if c.waitErr != nil && !errors.As(c.waitErr, &exit) {
		return c.waitErr
	}
	return nil
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
