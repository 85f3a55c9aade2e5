package main

import "testing"

// badBrokers is a --brokers of a server that is no host:port.
func badBrokers() *dlqFlags { return &dlqFlags{Brokers: brokersFlag{servers: []string{"kafka"}}} }

func TestDLQListOptionsValidate(t *testing.T) {
	good := DLQListOptions{dlqTarget: dlqTarget{flags: &dlqFlags{}}}
	testValidate(t, good, (*DLQListOptions).Validate, []validateCase[DLQListOptions]{
		{"the running up's", func(*DLQListOptions) {}, ""},
		{"brokers", func(o *DLQListOptions) {
			o.flags = &dlqFlags{Brokers: brokersFlag{servers: []string{"127.0.0.1:9092"}}}
		}, ""},
		{"brokers without a port", func(o *DLQListOptions) { o.flags = badBrokers() }, `--brokers "kafka": want host:port`},
	})
}

func TestDLQShowOptionsValidate(t *testing.T) {
	good := DLQShowOptions{dlqTarget: dlqTarget{flags: &dlqFlags{}}, ID: "order:0:1"}
	testValidate(t, good, (*DLQShowOptions).Validate, []validateCase[DLQShowOptions]{
		{"the running up's", func(*DLQShowOptions) {}, ""},
		{"brokers without a port", func(o *DLQShowOptions) { o.flags = badBrokers() }, `--brokers "kafka": want host:port`},
	})
}

func TestDLQPurgeOptionsValidate(t *testing.T) {
	good := DLQPurgeOptions{dlqTarget: dlqTarget{flags: &dlqFlags{}}, Function: "order"}
	testValidate(t, good, (*DLQPurgeOptions).Validate, []validateCase[DLQPurgeOptions]{
		{"all of them", func(*DLQPurgeOptions) {}, ""},
		{"through one of its letters", func(o *DLQPurgeOptions) { o.Through = "order:2:17" }, ""},
		{"brokers without a port", func(o *DLQPurgeOptions) { o.flags = badBrokers() }, `--brokers "kafka": want host:port`},
		{"through no id", func(o *DLQPurgeOptions) { o.Through = "17" },
			`--through: dead letter id "17": want FUNCTION:PARTITION:OFFSET as ` + "`orderflow dlq list`" + ` prints it`},
		{"through a bad offset", func(o *DLQPurgeOptions) { o.Through = "order:0:-1" },
			`--through: dead letter id "order:0:-1": partition and offset must be non-negative numbers`},
		{"through another function's letter", func(o *DLQPurgeOptions) { o.Through = "payment:0:3" },
			"--through payment:0:3 is a dead letter of payment, not order"},
	})
}

// Complete takes --through's partition and offset: purge deletes up to
// and including that letter, in its partition only.
func TestDLQPurgeThroughDeletesUpToAndIncludingTheLetter(t *testing.T) {
	o := DLQPurgeOptions{dlqTarget: dlqTarget{flags: &dlqFlags{Brokers: brokersFlag{servers: []string{"127.0.0.1:9092"}}}}, Function: "order", Through: "order:2:17"}
	if err := o.Complete(&globals{}); err != nil {
		t.Fatal(err)
	}
	upTo, err := o.upTo(nil, "orderflow.dlq.order")
	if err != nil || len(upTo) != 1 || upTo[2] != 18 {
		t.Errorf("up to %v (%v), want partition 2 up to offset 18", upTo, err)
	}
}
