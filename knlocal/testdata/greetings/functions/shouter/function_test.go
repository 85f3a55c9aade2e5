package function

import (
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func TestShout(t *testing.T) {
	in := cloudevents.NewEvent()
	in.SetID("g1")
	in.SetExtension("partitionkey", "Ada")
	_ = in.SetData(cloudevents.TextPlain, "hello, Ada")
	out := Shout(in)
	if out.ID() != "g1/shout" || string(out.Data()) != "HELLO, ADA!" || out.Extensions()["partitionkey"] != "Ada" {
		t.Fatalf("shout %s", out)
	}
}
