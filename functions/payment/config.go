package function

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"unicode"

	"orderflow.dev/functions/payment/gateway/sim"
)

// Config is the payment function's own configuration: the simulated
// gateway's. handler.ReadConfig decodes it and calls Validate.
type Config struct {
	// GatewayDatabaseURL is the simulator's ledger. Empty: a SQLite file
	// payment-gateway.db next to the function's own SQLite database.
	GatewayDatabaseURL string `envconfig:"PAYMENT_GATEWAY_DATABASE_URL"`
	// DatabaseURL is the function's own store, read here only to place the
	// gateway's file beside it.
	DatabaseURL string `envconfig:"ORDERFLOW_DATABASE_URL"`
	// DeclineAboveCents: charges above it are declined.
	DeclineAboveCents int64 `envconfig:"PAYMENT_DECLINE_ABOVE_CENTS" default:"100000" want:"a whole number of cents >= 0"`
	// DeclineTokens: charges with these card tokens are declined. Set but
	// empty declines no token.
	DeclineTokens []string `envconfig:"PAYMENT_DECLINE_TOKENS" default:"tok_declined,tok_insufficient_funds"`
}

// maxTokenLength is the order schemas' maxLength of paymentToken: a longer
// token could never be declined, since no order can carry it.
const maxTokenLength = 128

// Validate checks the decline rules, and tidies the token list as people
// write it (spaces after the commas, a trailing comma). Errors name the
// variable, the value and what it wants.
func (c *Config) Validate() error {
	if c.DeclineAboveCents < 0 {
		return fmt.Errorf("PAYMENT_DECLINE_ABOVE_CENTS=%q: want a whole number of cents >= 0", fmt.Sprint(c.DeclineAboveCents))
	}
	tokens := make([]string, 0, len(c.DeclineTokens))
	for _, tok := range c.DeclineTokens {
		if tok = strings.TrimSpace(tok); tok == "" {
			continue
		}
		if len(tok) > maxTokenLength || strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return fmt.Errorf("PAYMENT_DECLINE_TOKENS=%q: item %q: want card tokens separated by commas, each up to %d characters without spaces",
				strings.Join(c.DeclineTokens, ","), tok, maxTokenLength)
		}
		tokens = append(tokens, tok)
	}
	c.DeclineTokens = tokens
	return nil
}

// simulator is the simulated gateway's configuration, and whether its
// ledger's place was derived from the function's own database. Errors name
// the variable.
func (c Config) simulator() (cfg sim.Config, derived bool, err error) {
	cfg = sim.Config{LedgerURL: c.GatewayDatabaseURL, LedgerSetting: "PAYMENT_GATEWAY_DATABASE_URL",
		DeclineAboveCents: c.DeclineAboveCents, DeclineTokens: c.DeclineTokens}
	// Same default as the shared edge's (handler.App.Start).
	own := c.DatabaseURL
	if own == "" {
		own = "sqlite://payment.db"
	}
	ownPath, ownIsSQLite := sqlitePath(own)
	if c.GatewayDatabaseURL != "" {
		// Sharing the function's SQLite file would make the gateway wait,
		// inside the handler's transaction, for the lock that very
		// transaction holds.
		if p, ok := sqlitePath(c.GatewayDatabaseURL); ok && ownIsSQLite && filepath.Clean(p) == filepath.Clean(ownPath) {
			return cfg, false, fmt.Errorf("PAYMENT_GATEWAY_DATABASE_URL names the function's own database file %s: the simulated gateway needs a database of its own", p)
		}
		return cfg, false, nil
	}
	if !ownIsSQLite {
		return cfg, false, fmt.Errorf("PAYMENT_GATEWAY_DATABASE_URL is not set, and ORDERFLOW_DATABASE_URL is not a SQLite file to put the gateway's ledger next to: set PAYMENT_GATEWAY_DATABASE_URL to the database of the simulated payment gateway (it stands for an external system and keeps its own)")
	}
	cfg.LedgerURL = "sqlite://" + filepath.Join(filepath.Dir(ownPath), "payment-gateway.db")
	return cfg, true, nil
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
