-- Outbox events Kafka refuses for good (record too large, invalid record, topic not authorised)
-- are set aside instead of blocking the events behind them: the relay marks them dead with the
-- broker's reason and moves on. They stay in the table for an operator (readiness warns while
-- any exist) until the storage-maintenance pass prunes them after storage.systemRetention.outboxDeadDays.
ALTER TABLE backbone.outbox ADD COLUMN dead_at timestamptz, ADD COLUMN dead_reason text,
  ADD CONSTRAINT outbox_dead_reason_check CHECK ((dead_at IS NULL) = (dead_reason IS NULL)),
  ADD CONSTRAINT outbox_dead_or_published_check CHECK (dead_at IS NULL OR published_at IS NULL);
--> statement-breakpoint
-- Readiness counts dead events per topic, and pruning deletes them by age.
CREATE INDEX outbox_dead_idx ON backbone.outbox (dead_at) WHERE dead_at IS NOT NULL;
--> statement-breakpoint
-- Pruning deletes published rows by age in batches; without this each batch scans the table.
CREATE INDEX outbox_published_idx ON backbone.outbox (published_at) WHERE published_at IS NOT NULL;
