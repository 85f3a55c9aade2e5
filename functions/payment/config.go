package function

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is the payment function's own configuration: the simulated
// gateway's.
type Config struct {
	// GatewayDatabaseURL is the simulator's ledger. Empty: a SQLite file
	// payment-gateway.db next to the function's own SQLite database.
	GatewayDatabaseURL string `envconfig:"PAYMENT_GATEWAY_DATABASE_URL"`
	// DatabaseURL is the function's own store, read here only to place the
	// gateway's file beside it.
	DatabaseURL string `envconfig:"ORDERFLOW_DATABASE_URL"`
	// DeclineAboveCents: charges above it are declined.
	DeclineAboveCents string `envconfig:"PAYMENT_DECLINE_ABOVE_CENTS" default:"100000"`
	// DeclineTokens: charges with these card tokens are declined. Set but
	// empty declines no token.
	DeclineTokens string `envconfig:"PAYMENT_DECLINE_TOKENS" default:"tok_declined,tok_insufficient_funds"`
}

// gatewaySettings checks the configuration and returns the ledger URL,
// whether it was derived from the function's and the decline rules. Errors
// name the variable.
func gatewaySettings(cfg Config) (dbURL string, derived bool, declineAbove int64, declineTokens []string, err error) {
	declineAbove, err = strconv.ParseInt(strings.TrimSpace(cfg.DeclineAboveCents), 10, 64)
	if err != nil || declineAbove < 0 {
		return "", false, 0, nil, fmt.Errorf("PAYMENT_DECLINE_ABOVE_CENTS=%q: want a whole number of cents >= 0", cfg.DeclineAboveCents)
	}
	for _, tok := range strings.Split(cfg.DeclineTokens, ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			declineTokens = append(declineTokens, tok)
		}
	}

	// Same default as the shared edge's (handler.App.Start).
	own := cfg.DatabaseURL
	if own == "" {
		own = "sqlite://payment.db"
	}
	ownPath, ownIsSQLite := sqlitePath(own)
	if cfg.GatewayDatabaseURL != "" {
		// Sharing the function's SQLite file would make the gateway wait,
		// inside the handler's transaction, for the lock that very
		// transaction holds.
		if p, ok := sqlitePath(cfg.GatewayDatabaseURL); ok && ownIsSQLite && filepath.Clean(p) == filepath.Clean(ownPath) {
			return "", false, 0, nil, fmt.Errorf("PAYMENT_GATEWAY_DATABASE_URL names the function's own database file %s: the simulated gateway needs a database of its own", p)
		}
		return cfg.GatewayDatabaseURL, false, declineAbove, declineTokens, nil
	}
	if !ownIsSQLite {
		return "", false, 0, nil, fmt.Errorf("PAYMENT_GATEWAY_DATABASE_URL is not set, and ORDERFLOW_DATABASE_URL is not a SQLite file to put the gateway's ledger next to: set PAYMENT_GATEWAY_DATABASE_URL to the database of the simulated payment gateway (it stands for an external system and keeps its own)")
	}
	return "sqlite://" + filepath.Join(filepath.Dir(ownPath), "payment-gateway.db"), true, declineAbove, declineTokens, nil
}

// sqlitePath returns the file of a SQLite URL, read as the store reads it
// (sqlite:///abs, sqlite://rel, file:rel).
func sqlitePath(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "sqlite" && u.Scheme != "file") {
		return "", false
	}
	p := u.Opaque
	if p == "" {
		p = u.Host + u.Path
	}
	return p, p != ""
}
