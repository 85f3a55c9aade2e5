package knplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
)

// Script builds and runs Knative's data plane, relative to the knlocal
// module's folder.
const Script = "scripts/knative-dataplane.sh"

// Name is the value of --data-plane that selects this data plane.
const Name = "knative"

// Options configure a DataPlane.
type Options struct {
	// Root is the knlocal module's folder, holding Script.
	Root string
	// Dir is the config folder (default <plane state>/knative): properties,
	// env, contracts and the two JVMs' logs.
	Dir string
	// IngressPort fixes the receiver's port (0: any free port).
	IngressPort int
	// Properties override entries of the shipped properties files (see
	// Config.Properties).
	Properties map[string]map[string]string
	// Progress receives the build's and the start's short lines.
	Progress io.Writer
}

// DataPlane is Knative's receiver and dispatcher as a plane.DataPlane.
type DataPlane struct {
	opts   Options
	dir    string
	source string // the built data-plane/ folder

	mu                   sync.Mutex
	receiver, dispatcher *process
}

var _ plane.DataPlane = (*DataPlane)(nil)

// New returns a DataPlane that builds (once, cached) and starts Knative's
// receiver and dispatcher when the plane asks it to.
func New(opts Options) *DataPlane {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	return &DataPlane{opts: opts}
}

// Name implements plane.DataPlane.
func (d *DataPlane) Name() string { return Name }

// Build runs the script's build (a no-op once cached) and returns the
// built data-plane/ folder.
func Build(ctx context.Context, root string, progress io.Writer) (string, error) {
	script := filepath.Join(root, Script)
	var out bytes.Buffer
	built := exec.CommandContext(ctx, script, "built")
	built.Stdout = &out
	if err := built.Run(); err != nil {
		fmt.Fprintf(progress, "  building Knative's data plane with Maven (once; ~2 min the first time)...\n")
		build := exec.CommandContext(ctx, script, "build")
		build.Stdout, build.Stderr = progress, progress
		if err := build.Run(); err != nil {
			return "", fmt.Errorf("%s build: %w", Script, err)
		}
		out.Reset()
		built = exec.CommandContext(ctx, script, "built")
		built.Stdout = &out
		if err := built.Run(); err != nil {
			return "", fmt.Errorf("%s built: %w after a build", Script, err)
		}
	}
	return filepath.Join(strings.TrimSpace(out.String()), "data-plane"), nil
}

// StartIngress implements plane.DataPlane: it writes the config folder
// and the receiver's contract (every KafkaSink), starts the receiver and
// waits until every sink's path is served.
func (d *DataPlane) StartIngress(ctx context.Context, p *plane.Plane) (string, error) {
	var err error
	if d.source, err = Build(ctx, d.opts.Root, d.opts.Progress); err != nil {
		return "", err
	}
	d.dir = d.opts.Dir
	if d.dir == "" {
		d.dir = filepath.Join(p.StateDir(), "knative")
	}
	_ = os.RemoveAll(d.dir)
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return "", err
	}
	port, tlsPort := d.opts.IngressPort, 0
	for _, pp := range []*int{&port, &tlsPort} {
		if *pp == 0 {
			if *pp, err = freePort(); err != nil {
				return "", err
			}
		}
	}
	ns := namespaceOf(p.Set)
	if err := WriteConfig(d.dir, Config{Source: d.source, Namespace: ns, IngressPort: port, IngressTLSPort: tlsPort, Properties: d.opts.Properties}); err != nil {
		return "", err
	}
	sinks, err := SinkContract(p.Set, p.Brokers, 1)
	if err != nil {
		return "", err
	}
	if err := WriteContract(d.dir, ReceiverContract, sinks); err != nil {
		return "", err
	}
	// An empty contract until the sources start: the dispatcher is
	// started only then, once the functions it delivers to are up.
	if err := WriteContract(d.dir, DispatcherContract, Contract{Generation: 1, Resources: []Resource{}}); err != nil {
		return "", err
	}
	proc, err := d.start("receiver")
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.receiver = proc
	d.mu.Unlock()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var paths []string
	for _, r := range sinks.Resources {
		paths = append(paths, r.Ingress.Path)
	}
	if err := waitIngress(ctx, proc, base, paths, startLimit); err != nil {
		return "", err
	}
	return base, nil
}

// StartSources implements plane.DataPlane: it writes the dispatcher's
// contract (every KafkaSource, its subscriber and dead-letter sink
// resolved in the running plane), starts the dispatcher and waits until
// each source's consumer group has a member.
func (d *DataPlane) StartSources(ctx context.Context, p *plane.Plane) error {
	resolve := func(dest manifests.Destination) (string, error) { return p.Resolve(ctx, dest) }
	sources, err := SourceContract(p.Set, p.Brokers, resolve, 2)
	if err != nil {
		return err
	}
	if err := WriteContract(d.dir, DispatcherContract, sources); err != nil {
		return err
	}
	proc, err := d.start("dispatcher")
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.dispatcher = proc
	d.mu.Unlock()
	var groups []string
	for _, s := range p.Set.Sources {
		groups = append(groups, s.ConsumerGroup)
	}
	return waitGroups(ctx, proc, p.Kafka(), groups, startLimit)
}

// startLimit is how long a JVM may take to serve or to join: on a busy
// 2-core machine a start has taken more than 90 s.
const startLimit = 3 * time.Minute

// StopSources implements plane.DataPlane.
func (d *DataPlane) StopSources() error {
	d.mu.Lock()
	proc := d.dispatcher
	d.mu.Unlock()
	return proc.stop(15 * time.Second)
}

// Close implements plane.DataPlane.
func (d *DataPlane) Close() error {
	d.mu.Lock()
	recv, disp := d.receiver, d.dispatcher
	d.mu.Unlock()
	return errors.Join(disp.stop(15*time.Second), recv.stop(15*time.Second))
}

// PIDs are the two JVMs' process ids, by role, for CPU accounting.
func (d *DataPlane) PIDs() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for role, p := range map[string]*process{"knative-receiver": d.receiver, "knative-dispatcher": d.dispatcher} {
		if p != nil {
			out[role] = p.cmd.Process.Pid
		}
	}
	return out
}

// Dir is the config folder (logs included).
func (d *DataPlane) Dir() string { return d.dir }

// process is one JVM, started through the script's exec (which replaces
// the shell, so the pid is the JVM's).
type process struct {
	role string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (d *DataPlane) start(role string) (*process, error) {
	logPath := filepath.Join(d.dir, role+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(d.opts.Root, Script), "exec", role, d.dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The JVM goes when the plane's process does, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("knative %s: %w", role, err)
	}
	p := &process{role: role, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited describes an ended JVM with the end of its log.
func (p *process) exited() error {
	return fmt.Errorf("knative %s exited (%v); end of %s:\n%s", p.role, p.err, p.log, p.tail())
}

// tail is the end of the JVM's log.
func (p *process) tail() []byte {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return b
}

func (p *process) stop(grace time.Duration) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("knative %s did not stop within %s; killed", p.role, grace)
	}
	return nil
}

// waitIngress waits until the receiver is ready and serves every path: an
// empty POST is refused as a bad CloudEvent (400) once the path's
// resource is loaded, 404 before.
func waitIngress(ctx context.Context, p *process, base string, paths []string, limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	pending := append([]string(nil), paths...)
	for {
		var still []string
		if resp, err := client.Get(base + ReadinessPath); err != nil || resp.StatusCode != http.StatusOK {
			if err == nil {
				resp.Body.Close()
			}
			still = pending
		} else {
			resp.Body.Close()
			for _, path := range pending {
				resp, err := client.Post(base+path, "application/json", strings.NewReader(""))
				if err != nil || resp.StatusCode == http.StatusNotFound {
					still = append(still, path)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("knative receiver at %s not serving %s after %s; end of %s:\n%s", base, strings.Join(pending, ", "), limit, p.log, p.tail())
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitGroups waits until every consumer group is stable with a member:
// the dispatcher has joined for each KafkaSource.
func waitGroups(ctx context.Context, p *process, client sarama.Client, groups []string, limit time.Duration) error {
	// Not closed: closing an admin made from a client closes the client,
	// which is the plane's.
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		descs, err := admin.DescribeConsumerGroups(groups)
		waiting := map[string]string{}
		if err != nil {
			waiting["*"] = err.Error()
		} else {
			for _, g := range descs {
				if g.State != "Stable" || len(g.Members) == 0 {
					waiting[g.GroupId] = fmt.Sprintf("%s, %d members", g.State, len(g.Members))
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("knative dispatcher: consumer groups not joined after %s: %v; end of %s:\n%s", limit, waiting, p.log, p.tail())
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func namespaceOf(set *manifests.Set) string {
	if set.Namespace != "" {
		return set.Namespace
	}
	return manifests.DefaultNamespace
}
