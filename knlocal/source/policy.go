package source

import (
	"math"
	"net/http"
	"time"

	"orderflow.dev/knlocal/manifests"
)

// Success reports a delivered event: any 2xx.
func Success(status int) bool { return status >= 200 && status < 300 }

// Retryable reports whether a failed attempt is tried again. status 0
// means no response at all (connection error, timeout), which is retried.
// Otherwise: status >= 500, 404, 408, 409 and 429, as the eventing-kafka-broker
// dispatcher (WebClientCloudEventSender.isRetryableStatusCode) and
// knative.dev/eventing's kncloudevents.SelectiveRetry decide. Every other
// non-2xx (400, 401, 403, 413, 415, 422, 3xx, 1xx, ...) goes straight to
// the dead-letter sink.
func Retryable(status int) bool {
	switch {
	case status == 0:
		return true
	case Success(status):
		return false
	case status >= 500:
		return true
	}
	switch status {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return false
}

// Backoff is the wait before retry n (1-based: n=1 is the wait after the
// first attempt): delay*n for linear, delay*2^n for exponential, as the
// dispatcher computes it (computeRetryPolicy: delay * round(2^retryCount)).
// It saturates instead of overflowing.
func Backoff(policy string, delay time.Duration, n int) time.Duration {
	if n < 1 || delay <= 0 {
		return 0
	}
	var f float64
	if policy == manifests.BackoffLinear {
		f = float64(n)
	} else {
		f = math.Exp2(float64(n))
	}
	d := float64(delay) * f
	if d >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// Policy is how one event is delivered to one destination.
type Policy struct {
	Attempts      int // retry + 1
	BackoffPolicy string
	BackoffDelay  time.Duration
	Timeout       time.Duration // per attempt
}

// PolicyFor derives the delivery policy of a KafkaSource.
func PolicyFor(d manifests.Delivery) Policy {
	return Policy{Attempts: d.Retry + 1, BackoffPolicy: d.BackoffPolicy, BackoffDelay: d.BackoffDelay, Timeout: d.Timeout}
}

// Wait is the backoff before retry n of this policy.
func (p Policy) Wait(n int) time.Duration { return Backoff(p.BackoffPolicy, p.BackoffDelay, n) }
