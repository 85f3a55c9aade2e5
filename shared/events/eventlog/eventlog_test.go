package eventlog

import (
	"strings"
	"testing"
)

func TestReadRefusesWhatIsNotALog(t *testing.T) {
	good := `{"specversion":"1.0","id":"a","source":"/s","type":"t","partitionkey":"o-1"}`
	for _, tt := range []struct{ name, log, want string }{
		{"not JSON", good + "\n{", "line 2"},
		{"not a valid CloudEvent", good + "\n" + `{"specversion":"1.0","id":"b","type":"t"}`, "line 2"},
	} {
		if _, err := Read(strings.NewReader(tt.log)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
	log, err := Read(strings.NewReader(good + "\n" + strings.Replace(good, `"a"`, `"b"`, 1) + "\n"))
	if err != nil || len(log) != 2 || log[1].ID() != "b" {
		t.Fatalf("%v %v", log, err)
	}
}

func TestMixPicksPerOrderAndRefusesLogsThatDiffer(t *testing.T) {
	path, err := Committed(V1)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if path, err = Committed(V2); err != nil {
		t.Fatal(err)
	}
	v2, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := Mix(v1, v2, func(id string) bool { return id == "v1-declined" })
	if err != nil {
		t.Fatal(err)
	}
	fromV1 := 0
	for i, e := range mixed {
		if e.Type() != v2[i].Type() {
			fromV1++
			if e.Subject() != "v1-declined" {
				t.Fatalf("record %d of %s came from v1", i+1, e.Subject())
			}
		}
	}
	if fromV1 != 1 { // its order.created; its other facts are alike in both
		t.Fatalf("%d records differ from the v2 log, want 1", fromV1)
	}
	if _, err := Mix(v1, v2[1:], func(string) bool { return true }); err == nil {
		t.Fatal("logs of different lengths mixed")
	}
	if _, err := Mix(v1[1:], v2[:len(v2)-1], func(string) bool { return true }); err == nil {
		t.Fatal("logs of different records mixed")
	}
}
