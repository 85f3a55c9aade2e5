// Package cedecode reads CloudEvents from what anyone may have written (a
// Kafka record, an HTTP request) without letting the SDK's reader take
// the process down (ToEvent), and names what is wrong with an envelope
// the SDK refuses (EnvelopeProblem). All of it is in envelope.go, the
// twin of shared/ce/envelope.go.
package cedecode
