// Package fnserve is the scaffolding `func run --builder=host` generates for
// a Go function, for all five functions in one binary: main() hands the
// function's New() to the func-go http runtime, which serves it on
// LISTEN_ADDRESS with /health/readiness and /health/liveness. The local
// plane starts one process per function with `orderflow function <name>`.
package fnserve

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only when ORDERFLOW_DEBUG_ADDR is set
	"os"
	"sort"
	"strings"

	fn "knative.dev/func-go/http"

	analytics "orderflow.dev/functions/analytics"
	inventory "orderflow.dev/functions/inventory"
	notify "orderflow.dev/functions/notify"
	order "orderflow.dev/functions/order"
	payment "orderflow.dev/functions/payment"
	"orderflow.dev/shared/handler"
)

var constructors = map[string]func() fn.Handler{
	"order":     func() fn.Handler { return order.New() },
	"inventory": func() fn.Handler { return inventory.New() },
	"payment":   func() fn.Handler { return payment.New() },
	"notify":    func() fn.Handler { return notify.New() },
	"analytics": func() fn.Handler { return analytics.New() },
}

// Names lists the functions in saga order.
func Names() []string { return []string{"order", "inventory", "payment", "notify", "analytics"} }

// Serve runs the named function until SIGINT/SIGTERM.
func Serve(name string) error {
	ctor, ok := constructors[name]
	if !ok {
		known := make([]string, 0, len(constructors))
		for k := range constructors {
			known = append(known, k)
		}
		sort.Strings(known)
		return fmt.Errorf("unknown function %q (known: %s)", name, strings.Join(known, ", "))
	}
	// func-go takes every signal for itself (no SIGQUIT stack dump), so a
	// stuck function is inspected through pprof instead.
	if addr := os.Getenv("ORDERFLOW_DEBUG_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	return fn.Start(ctor())
}

// App builds a function (without starting it) to ask its edge what it
// handles, refuses and ignores.
func App(name string) (*handler.App, error) {
	ctor, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown function %q", name)
	}
	f, ok := ctor().(interface{ App() *handler.App })
	if !ok {
		return nil, fmt.Errorf("function %s does not expose its edge", name)
	}
	return f.App(), nil
}
