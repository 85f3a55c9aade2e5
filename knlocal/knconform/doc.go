// Package knconform runs the same Kafka records through the local plane's
// KafkaSource and KafkaSink and through Knative's own dispatcher and
// receiver (knlocal/knplane), and compares what a subscriber received and
// what was dead-lettered. Its test holds the known differences
// (testdata/differences.txt); docs/local-plane.md says why each is there.
package knconform
