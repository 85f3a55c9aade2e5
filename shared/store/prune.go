package store

import (
	"context"
	"fmt"
	"time"
)

// Prune deletes the processed ids recorded before `before` and the outbox
// rows published before it, at most limit of each, oldest first, and says
// how many went. Unpublished rows are never touched, whatever their age.
//
// What may be pruned is the caller's promise: a redelivery of an event
// whose id is gone is handled again. The handler prunes past a retention
// longer than any redelivery a KafkaSource makes (see handler.Config).
func (db *DB) Prune(ctx context.Context, before time.Time, limit int) (ids, sent int64, err error) {
	cut := before.UnixMilli()
	res, err := db.Exec(ctx, `DELETE FROM processed_events WHERE (consumer, event_source, event_id) IN
		(SELECT consumer, event_source, event_id FROM processed_events WHERE processed_at < ? ORDER BY processed_at LIMIT ?)`, cut, limit)
	if err != nil {
		return 0, 0, fmt.Errorf("store: pruning processed ids: %w", err)
	}
	if ids, err = res.RowsAffected(); err != nil {
		return 0, 0, err
	}
	res, err = db.Exec(ctx, `DELETE FROM outbox WHERE seq IN
		(SELECT seq FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at LIMIT ?)`, cut, limit)
	if err != nil {
		return ids, 0, fmt.Errorf("store: pruning published outbox rows: %w", err)
	}
	sent, err = res.RowsAffected()
	return ids, sent, err
}
