// Package fnserve is the scaffolding `func run --builder=host` generates for
// a Go function, for every function of functions/ in one binary: main()
// hands the function's New() to the func-go http runtime, which serves it
// on LISTEN_ADDRESS with /health/readiness and /health/liveness. The local
// plane starts one process per function with `orderflow function <name>`.
//
// The functions are registered in registry.go, generated from functions/*
// (go generate, or `orderflow new function`); a test fails when it is out
// of date.
package fnserve

//go:generate go run ./gen

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when ORDERFLOW_DEBUG_ADDR is set
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	fn "knative.dev/func-go/http"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/local/profile"
	"orderflow.dev/shared/handler"
)

// Names lists the functions this binary holds, sorted.
func Names() []string { return slices.Sorted(maps.Keys(constructors)) }

// New builds the named function as its func build would (its New()), not
// started; ok is false for a name this binary does not hold.
func New(name string) (fn.Handler, bool) {
	ctor, ok := constructors[name]
	if !ok {
		return nil, false
	}
	return ctor(), true
}

// unknown is the error for a function this binary does not hold: most
// likely one added to functions/ since the binary was built.
func unknown(name string) error {
	return fmt.Errorf("unknown function %q: this binary holds %s (a function added since it was built? rebuild it: make build)", name, strings.Join(Names(), ", "))
}

// DebugAddrEnv names the loopback address on which a function serves
// net/http/pprof; unset, it serves none.
const DebugAddrEnv = "ORDERFLOW_DEBUG_ADDR"

// DebugTokenFileEnv names a token file (see package door): with it
// DebugAddrEnv may be any address, and every request there must carry
// that token as a bearer token.
const DebugTokenFileEnv = "ORDERFLOW_DEBUG_TOKEN_FILE"

// Serve runs the named function until SIGINT/SIGTERM. With
// ORDERFLOW_PROFILE_DIR set it profiles itself for its whole life and
// writes the profiles there as it stops (see profile.Session).
func Serve(name string) error {
	ctor, ok := constructors[name]
	if !ok {
		return unknown(name)
	}
	// func-go takes every signal for itself (no SIGQUIT stack dump), so a
	// stuck function is inspected through pprof instead.
	if addr := os.Getenv(DebugAddrEnv); addr != "" {
		ln, h, err := debugServer(addr, os.Getenv(DebugTokenFileEnv))
		if err != nil {
			return err
		}
		// A client that opens a connection and sends nothing is cut off,
		// as on the function's own port.
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
	}
	// func-go logs every failed readiness probe at its default, debug: a
	// function that is not ready for a while (its disk full) would fill
	// its log with the reason it already gave once, at every probe of
	// the plane's.
	fn.SetLogLevel(fn.LogInfo)
	dir := os.Getenv(profile.EnvDir)
	if dir == "" {
		return fn.Start(ctor())
	}
	session, err := profile.Start(dir, name)
	if err != nil {
		return fmt.Errorf("%s=%s: %w", profile.EnvDir, dir, err)
	}
	// The goroutine dump is taken when the stop is asked, before func-go
	// drains the server and runs Stop, so it shows the running function.
	stopAsked := make(chan os.Signal, 1)
	signal.Notify(stopAsked, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if _, ok := <-stopAsked; ok {
			if err := session.WriteGoroutines(); err != nil {
				fmt.Fprintf(os.Stderr, "goroutine dump: %v\n", err)
			}
		}
	}()
	err = fn.Start(ctor())
	signal.Stop(stopAsked)
	close(stopAsked)
	return errors.Join(err, session.Stop())
}

// debugServer binds the pprof listener and its handler: without tokenFile
// on loopback only, open; with it on any address, and every request must
// present the token it holds. pprof hands out the process's memory
// contents and stacks, and lets anyone who reaches it make the process
// burn CPU.
func debugServer(addr, tokenFile string) (net.Listener, http.Handler, error) {
	if tokenFile == "" {
		ln, err := listenDebug(addr)
		if err != nil && strings.Contains(err.Error(), "not a loopback address") {
			err = fmt.Errorf("%w (to serve pprof there anyway, behind a bearer token, set %s to a token file)", err, DebugTokenFileEnv)
		}
		return ln, http.DefaultServeMux, err
	}
	token, err := door.ReadFile(tokenFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s=%q: %w", DebugTokenFileEnv, tokenFile, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s=%q: %w", DebugAddrEnv, addr, err)
	}
	return ln, door.Require(token, nil, http.DefaultServeMux), nil
}

// listenDebug binds the pprof listener, on a loopback address only.
func listenDebug(addr string) (net.Listener, error) {
	if err := loopbackOnly(addr); err != nil {
		return nil, fmt.Errorf("%s=%q: %w", DebugAddrEnv, addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", DebugAddrEnv, addr, err)
	}
	return ln, nil
}

// loopbackOnly accepts host:port where host is localhost or a loopback IP
// (127.0.0.0/8, ::1).
func loopbackOnly(addr string) error {
	const want = "want a loopback host:port such as 127.0.0.1:6060, [::1]:6060 or localhost:6060"
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	if host == "" {
		return fmt.Errorf("no host: it would listen on every interface; %s", want)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("host %q is neither localhost nor an IP address; %s", host, want)
	}
	if !ip.Unmap().IsLoopback() {
		return fmt.Errorf("host %s is not a loopback address; %s", host, want)
	}
	return nil
}

// App builds a function (without starting it) to ask its edge what it
// handles, refuses and ignores.
func App(name string) (*handler.App, error) {
	h, ok := New(name)
	if !ok {
		return nil, unknown(name)
	}
	f, ok := h.(interface{ App() *handler.App })
	if !ok {
		return nil, fmt.Errorf("function %s does not expose its edge", name)
	}
	return f.App(), nil
}
