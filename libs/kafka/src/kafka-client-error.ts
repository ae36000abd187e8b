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

  constructor(
    message: string,
    fields: { operation: string; retriable: boolean; topic?: string | undefined; cause?: unknown },
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.operation = fields.operation;
    this.retriable = fields.retriable;
    this.topic = fields.topic;
  }
}
