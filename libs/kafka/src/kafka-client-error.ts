/**
 * Broker error codes that refuse the records of a request for good: sending the same records
 * again cannot succeed (only a changed topic config or ACL could). A topic that does not exist is
 * not among them: topics are created by `./backbone topics ensure`, possibly after the records
 * were written, so a caller waits for it.
 */
const RECORD_REFUSAL_CODES: ReadonlySet<string> = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TIMESTAMP',
  'INVALID_TOPIC_EXCEPTION',
  'TOPIC_AUTHORIZATION_FAILED',
]);

/**
 * A Kafka operation failed. Carries what was attempted and whether retrying can help, with the
 * client's own error as `cause` (its message already redacted).
 */
export class KafkaClientError extends Error {
  override readonly name = 'KafkaClientError';
  /** The port operation, e.g. `producer.send`, `admin.createTopics`. */
  readonly operation: string;
  /** True when the same call may succeed later (leader moved, broker briefly away). */
  readonly retriable: boolean;
  readonly topic: string | undefined;
  /** The broker's error code when the broker answered with one, e.g. `MESSAGE_TOO_LARGE`. */
  readonly code: string | undefined;

  constructor(
    message: string,
    fields: {
      operation: string;
      retriable: boolean;
      topic?: string | undefined;
      code?: string | undefined;
      cause?: unknown;
    },
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.operation = fields.operation;
    this.retriable = fields.retriable;
    this.topic = fields.topic;
    this.code = fields.code;
  }

  /**
   * True when the broker (or the client's own size check) refused the records for good, so a
   * caller must set them aside rather than retry them: too large, invalid, or a topic this client
   * may not write to.
   */
  get refusesRecords(): boolean {
    return !this.retriable && this.code !== undefined && RECORD_REFUSAL_CODES.has(this.code);
  }
}
