/** A migration file set that cannot be applied as it stands (gap, duplicate, missing variant). */
export class MigrationSetError extends Error {
  override readonly name = 'MigrationSetError';
  readonly file: string | undefined;

  constructor(message: string, options: { file?: string } = {}) {
    super(message);
    this.file = options.file;
  }
}

/**
 * The database and the migration files disagree: an applied migration's file changed, or the
 * database has a migration this code does not know (it is newer than the code).
 */
export class MigrationDriftError extends Error {
  override readonly name = 'MigrationDriftError';
  readonly version: number;

  constructor(message: string, version: number) {
    super(message);
    this.version = version;
  }
}

/** One migration failed; its transaction was rolled back, earlier migrations stay applied. */
export class MigrationFailedError extends Error {
  override readonly name = 'MigrationFailedError';
  readonly version: number;
  readonly migration: string;
  readonly statementIndex: number;

  constructor(version: number, migration: string, statementIndex: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`migration ${migration} failed at statement ${statementIndex + 1}: ${reason}`, { cause });
    this.version = version;
    this.migration = migration;
    this.statementIndex = statementIndex;
  }
}

/** The requested storage mode cannot be used on this database. */
export class StorageModeError extends Error {
  override readonly name = 'StorageModeError';
}

/** Storage options that would not make a valid policy; `path` names the offending key. */
export class InvalidStorageOptionsError extends Error {
  override readonly name = 'InvalidStorageOptionsError';
  readonly path: string;

  constructor(path: string, problem: string) {
    super(`storage.${path}: ${problem}`);
    this.path = path;
  }
}

/** A row handed to the write path that cannot be stored; `index` is its position in the batch. */
export class InvalidRowError extends Error {
  override readonly name = 'InvalidRowError';
  readonly index: number;
  readonly field: string;

  constructor(index: number, field: string, problem: string) {
    super(`row ${index}: ${field} ${problem}`);
    this.index = index;
    this.field = field;
  }
}

/** The write path was called outside a transaction, where its staging table would not survive. */
export class NotInTransactionError extends Error {
  override readonly name = 'NotInTransactionError';
}
