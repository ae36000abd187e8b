/**
 * Under `rest_for_one` a later sibling had to be stopped before the group could restart, and it
 * did not settle within its deadline. Restarting it would run two copies of it at once, so the
 * supervisor escalates instead.
 */
export class SiblingOrphanedError extends Error {
  override readonly name = 'SiblingOrphanedError';
  readonly supervisor: string;
  /** The child whose failure triggered the group restart. */
  readonly child: string;
  /** The siblings left running past their deadline. */
  readonly orphans: readonly string[];

  constructor(fields: { supervisor: string; child: string; orphans: readonly string[]; cause: unknown }) {
    super(
      `supervisor ${fields.supervisor}: cannot restart after ${fields.child} exited, siblings did not stop within their deadline: ${fields.orphans.join(', ')}`,
      { cause: fields.cause },
    );
    this.supervisor = fields.supervisor;
    this.child = fields.child;
    this.orphans = fields.orphans;
  }
}
