package handler

import "time"

// For the tests of package handler_test.

// FirstRefusalBackoff is how long the relay first holds back a key whose
// event the sink refused for good.
const FirstRefusalBackoff = firstRefusalBackoff

// SetClock makes the relay read the time from now, so that tests move
// through a refusal's backoff without sleeping.
func (r *Relay) SetClock(now func() time.Time) { r.now = now }

// OnPossibleDuplicate makes the relay report the events it may send twice
// to f, as it reports them to its metric.
func (r *Relay) OnPossibleDuplicate(f func(reason string, n int)) { r.possibleDuplicate = f }
