package handler

import (
	"context"
	"net/http"
)

// Lifecycle is what func-go's http runtime looks for on the instance a
// function's New returns: Handle, and the optional Start, Stop, Ready and
// Alive, which it finds by interface assertion. A function's type embeds
// one, so these methods are promoted to it and found there, each
// forwarding to the edge. A function that must do something first (read
// its own configuration, open a gateway) defines its own Start or Stop and
// calls the Lifecycle's from it.
type Lifecycle struct{ app *App }

// Lifecycle is the func-go lifecycle of the function whose edge a is.
func (a *App) Lifecycle() Lifecycle { return Lifecycle{app: a} }

// App is the function's edge: what it handles, its store, its logger.
func (l Lifecycle) App() *App { return l.app }

// Handle receives each delivery: a CloudEvent over HTTP, decoded by the
// edge (see App.ServeHTTP for why not func-go's CloudEvents runtime).
func (l Lifecycle) Handle(w http.ResponseWriter, r *http.Request) { l.app.ServeHTTP(w, r) }

// Start starts the edge (App.Start). func-go's configuration map goes
// unread: a function reads its settings from the environment.
func (l Lifecycle) Start(ctx context.Context, _ map[string]string) error { return l.app.Start(ctx) }

// Stop stops the edge (App.Stop).
func (l Lifecycle) Stop(ctx context.Context) error { return l.app.Stop(ctx) }

// Ready is the readiness probe (App.Ready).
func (l Lifecycle) Ready(ctx context.Context) (bool, error) { return l.app.Ready(ctx) }

// Alive is the liveness probe (App.Alive).
func (l Lifecycle) Alive(ctx context.Context) (bool, error) { return l.app.Alive(ctx) }
