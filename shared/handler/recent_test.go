package handler

import (
	"fmt"
	"testing"
)

func TestRecentIDsForgetTheOldestFirst(t *testing.T) {
	var r recentIDs
	if r.has("s", "1") {
		t.Fatal("an empty cache knows an id")
	}
	for i := 0; i < recentCapacity+10; i++ {
		r.add("s", fmt.Sprint(i))
	}
	r.add("s", fmt.Sprint(recentCapacity+9)) // again: no second slot
	for i := 0; i < 10; i++ {
		if r.has("s", fmt.Sprint(i)) {
			t.Errorf("id %d still known after %d newer ones", i, recentCapacity)
		}
	}
	for _, i := range []int{10, recentCapacity, recentCapacity + 9} {
		if !r.has("s", fmt.Sprint(i)) {
			t.Errorf("id %d forgotten", i)
		}
	}
	if r.has("other", "10") || len(r.set) != recentCapacity {
		t.Errorf("source not part of the key, or %d entries", len(r.set))
	}
}
