package plane

import (
	"errors"
	"testing"

	"orderflow.dev/knlocal/runner"
)

func TestJoinStartErrorsSaysACommonCauseOnce(t *testing.T) {
	exit := errors.New("exit status 1")
	bad := func(fn, reason string) error {
		return &runner.StartError{Function: fn, Reason: reason, Exit: exit, LogPath: "/s/logs/" + fn + ".log"}
	}
	const cause = `bad configuration: ORDERFLOW_RELAY_INTERVAL="banana": want a duration such as 500ms, 2s, 1m or 1h30m`
	for _, tt := range []struct {
		name string
		errs []error
		want string
	}{
		{"none", []error{nil, nil}, ""},
		{"one", []error{nil, bad("order", "order: "+cause)},
			"function order failed to start: order: " + cause + " (exit status 1; log /s/logs/order.log)"},
		{"the same cause everywhere", []error{bad("order", "order: "+cause), bad("payment", "payment: "+cause), bad("notify", "notify: "+cause)},
			"functions order, payment, notify failed to start: " + cause + " (logs in /s/logs)"},
		{"two causes and another error", []error{bad("order", "order: "+cause), errors.New("port taken"), bad("payment", "payment: database gone"), bad("notify", "notify: "+cause)},
			"functions order, notify failed to start: " + cause + " (logs in /s/logs)\nport taken\n" +
				"function payment failed to start: payment: database gone (exit status 1; log /s/logs/payment.log)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := joinStartErrors(tt.errs)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
