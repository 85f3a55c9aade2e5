package handler

import "sync"

// recentCapacity bounds the ids the edge remembers: redeliveries come
// within seconds to minutes (retries, a rebalance), so the last few
// thousand cover them at a few hundred KiB.
const recentCapacity = 4096

// recentIDs remembers the (source, id) of the last events this process
// committed, oldest forgotten first. Only what was committed goes in, so a
// hit is a certain duplicate; a miss proves nothing (the processed_events
// table, checked in the transaction, decides then).
type recentIDs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

func recentKey(source, id string) string { return source + "\x00" + id }

func (r *recentIDs) has(source, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[recentKey(source, id)]
	return ok
}

func (r *recentIDs) add(source, id string) {
	k := recentKey(source, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[string]struct{}, recentCapacity)
		r.ring = make([]string, recentCapacity)
	}
	if _, ok := r.set[k]; ok {
		return
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = k
	r.set[k] = struct{}{}
	r.next = (r.next + 1) % len(r.ring)
}
