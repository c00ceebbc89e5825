/**
 * Two kinds of failure, two exit codes (mapshaper's stop() vs error()):
 * - UserError: bad input, flag, code or CRS. One actionable line, exit 2, not retryable.
 * - anything else is a bug: the stack is printed, exit 1.
 * StageError wraps either with the stage (and shard) it came from, keeping the kind of its cause.
 */

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USER = 2;

export interface UserErrorContext {
  file?: string;
  layer?: string;
  feature?: string | number;
  /** What the user should do about it. */
  remedy?: string;
}

export class UserError extends Error {
  readonly exitCode = EXIT_USER;
  constructor(
    message: string,
    readonly context: UserErrorContext = {},
  ) {
    super(message);
    this.name = 'UserError';
  }

  /** The single line printed to the user: where, what, and what to do. */
  line(): string {
    const where = [
      this.context.file,
      this.context.layer !== undefined ? `layer ${this.context.layer}` : undefined,
      this.context.feature !== undefined ? `feature ${this.context.feature}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    const remedy = this.context.remedy ? ` (${this.context.remedy})` : '';
    return `${where ? `${where}: ` : ''}${this.message}${remedy}`;
  }
}

export class StageError extends Error {
  constructor(
    readonly stage: string,
    readonly shard: string | undefined,
    override readonly cause: unknown,
  ) {
    super(`${stage}${shard ? `[${shard}]` : ''}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StageError';
  }

  get isUserError(): boolean {
    return rootCause(this) instanceof UserError;
  }
}

/** The innermost cause through StageError wrappers. */
export function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof StageError) current = current.cause;
  return current;
}

/** Runs `work`, wrapping any failure with the stage and shard it happened in. */
export async function inStage<T>(stage: string, shard: string | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StageError) throw error;
    throw new StageError(stage, shard, error);
  }
}

/** Conditions of the machine or its settings, not bugs, whoever raised them (node, DuckDB, GDAL, a worker): errno code, message pattern, what to say. */
const ENVIRONMENT_FAULTS: Array<{ codes: string[]; pattern?: RegExp; message: string; remedy: string }> = [
  { codes: ['ENOSPC'], pattern: /no space left on device/i, message: 'disk full', remedy: 'free some space or choose an output on another disk' },
  { codes: ['EDQUOT'], pattern: /disk quota exceeded/i, message: 'disk quota exceeded', remedy: 'free some space or choose an output on another disk' },
  { codes: ['EROFS'], pattern: /read-only file ?system/i, message: 'read-only filesystem', remedy: 'choose an output on a writable disk' },
  { codes: ['EACCES', 'EPERM'], message: 'permission denied', remedy: 'choose a path you may write, or fix its permissions' },
  { codes: ['ENOTDIR'], message: 'a parent of this path is a file, not a folder', remedy: 'fix the path' },
  {
    codes: [],
    pattern: /Out of Memory Error/,
    message: 'DuckDB needed more memory than its bound (OCS_ZAN_DUCKDB_MEMORY, default 1GB)',
    remedy: 'raise OCS_ZAN_DUCKDB_MEMORY, e.g. OCS_ZAN_DUCKDB_MEMORY=4GB, or lower --jobs',
  },
];

/** The UserError an OS-level failure (disk full, read-only filesystem, permissions, DuckDB's memory bound) stands for, or null for anything else. */
export function environmentError(error: unknown): UserError | null {
  if (!(error instanceof Error)) return null;
  const { code, path: file } = error as NodeJS.ErrnoException;
  const fault = ENVIRONMENT_FAULTS.find((f) => (code !== undefined && f.codes.includes(code)) || f.pattern?.test(error.message));
  return fault ? new UserError(fault.message, { file, remedy: fault.remedy }) : null;
}

/** Text and exit code for any error reaching the CLI boundary. */
export function describeError(error: unknown): { text: string; exitCode: number } {
  const cause = rootCause(error);
  const root = cause instanceof UserError ? cause : (environmentError(cause) ?? cause);
  const prefix = error instanceof StageError ? `${error.stage}${error.shard ? `[${error.shard}]` : ''}: ` : '';
  if (root instanceof UserError) {
    return { text: `ocs-zan: error: ${prefix}${root.line()}`, exitCode: EXIT_USER };
  }
  const stack = root instanceof Error ? (root.stack ?? root.message) : String(root);
  return { text: `ocs-zan: internal error: ${prefix}${stack}`, exitCode: EXIT_INTERNAL };
}
