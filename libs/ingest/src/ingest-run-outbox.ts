import { topicName, type SystemConfig } from '@backbone/config';
import { ingestRunEventSchema, type IngestRunEvent } from '@backbone/contracts';
import { insertOutboxEvent, type SqlExecutor } from '@backbone/db';

/** What the event is built as, before validation (`z.input` of the contract). */
export type IngestRunEventInput = (typeof ingestRunEventSchema)['_zod']['input'];

/**
 * Validates a run's ingest-run event and adds it to `backbone.outbox` in the caller's
 * transaction (the one that stores the run's rows and its `ingest_runs` row): topic
 * `backbone.ingest-events.v1` in the configured namespace, key = runId, the event's trace context
 * as headers. Validated like every message that leaves the process: a bug fails the transaction
 * instead of publishing an event consumers cannot read. Returns the parsed event.
 *
 * @example await insertIngestRunEvent(client, config.kafka, { runId, dimension: 'bars', ... });
 */
export async function insertIngestRunEvent(
  client: SqlExecutor,
  kafka: SystemConfig['kafka'],
  unvalidated: IngestRunEventInput,
): Promise<IngestRunEvent> {
  const event = ingestRunEventSchema.parse(unvalidated);
  await insertOutboxEvent(client, {
    topic: topicName(kafka, 'backbone.ingest-events.v1'),
    key: event.runId,
    payload: event,
    headers: { ...event.traceContext },
  });
  return event;
}
