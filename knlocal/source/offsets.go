package source

import "sync"

// offsetWindow tracks the records of one partition dispatched concurrently
// (unordered mode) and says how far the committed offset may move: up to
// the lowest offset still unfinished, never past it, so a crash redelivers
// every unfinished record (and, as at-least-once allows, some finished
// ones after it).
type offsetWindow struct {
	mu      sync.Mutex
	pending []int64 // dispatched, in offset order, not yet popped
	done    map[int64]bool
}

func newOffsetWindow() *offsetWindow { return &offsetWindow{done: map[int64]bool{}} }

// start records that offset o was dispatched. Offsets arrive in
// increasing order from one partition claim.
func (w *offsetWindow) start(o int64) {
	w.mu.Lock()
	w.pending = append(w.pending, o)
	w.mu.Unlock()
}

// finish records that o is settled and, when the lowest unfinished offset
// moved, calls commit with the offset to commit (the next one to read:
// the lowest unfinished offset, or the last finished + 1 when none is
// left). commit runs under the window's lock, so commits never go
// backwards.
func (w *offsetWindow) finish(o int64, commit func(next int64)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[o] = true
	moved := false
	var last int64
	for len(w.pending) > 0 && w.done[w.pending[0]] {
		last = w.pending[0]
		delete(w.done, last)
		w.pending = w.pending[1:]
		moved = true
	}
	if !moved {
		return
	}
	next := last + 1
	if len(w.pending) > 0 {
		next = w.pending[0]
	}
	commit(next)
}
