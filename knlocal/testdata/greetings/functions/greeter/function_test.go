package function

import "testing"

func TestGreeting(t *testing.T) {
	e := Greeting("partition:0/offset:3", "hello", "Ada")
	if e.ID() != "partition:0/offset:3/greeting" || string(e.Data()) != "hello, Ada" || e.Extensions()["partitionkey"] != "Ada" {
		t.Fatalf("greeting %s", e)
	}
}
