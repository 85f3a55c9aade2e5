package handler

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"orderflow.dev/shared/events"
)

// faultPoints are deliberate crashes for the fault-injection tests, off
// unless configured. They let a test kill a function at exactly the moment
// that matters, which no outside kill can time.
type faultPoints struct {
	// CrashAfterCommit names an event type: after the transaction handling
	// one such event commits, and before its outbox is published or the
	// delivery answered, the process exits. The state change and its
	// outgoing events are committed; nothing has been sent.
	CrashAfterCommit string `envconfig:"ORDERFLOW_FAULT_CRASH_AFTER_COMMIT"`
	// Marker makes the crash happen once: it is skipped when this file
	// exists and the file is created just before exiting, so the restarted
	// process runs normally.
	Marker string `envconfig:"ORDERFLOW_FAULT_MARKER"`
}

func (f *faultPoints) load() error {
	if err := ReadConfig(f); err != nil {
		return err
	}
	if f.CrashAfterCommit == "" {
		return nil
	}
	if _, ok := events.Lookup(f.CrashAfterCommit); !ok {
		return fmt.Errorf("ORDERFLOW_FAULT_CRASH_AFTER_COMMIT=%q is not an event type of the catalog", f.CrashAfterCommit)
	}
	if f.Marker == "" {
		return errors.New("ORDERFLOW_FAULT_CRASH_AFTER_COMMIT needs ORDERFLOW_FAULT_MARKER (a file path) so that it fires once")
	}
	return nil
}

func (f *faultPoints) afterCommit(typ string, log *slog.Logger) {
	if f.CrashAfterCommit == "" || typ != f.CrashAfterCommit {
		return
	}
	if _, err := os.Stat(f.Marker); err == nil {
		return
	}
	if err := os.WriteFile(f.Marker, []byte(typ+"\n"), 0o644); err != nil {
		log.Error("fault marker not written; not crashing", "error", err)
		return
	}
	log.Warn("fault injection: exiting after commit, before publish", "type", typ)
	os.Exit(3)
}
