import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';
import { checkReplaceable, fileMarkerPath, markOutputFolder, prepareOutputLocation, processIsAlive, type ReplaceOptions } from './output-checks.js';

export type AtomicOutputOptions = ReplaceOptions;

/**
 * The one way outputs are written: built in a temporary sibling `.<name>.tmp-<pid>` and swapped into
 * place only when complete, so an interrupted or failed run never leaves a partial output behind.
 * - Before any work: the location and any existing output are checked (pipeline/core/output-checks.ts),
 *   a lock `.<name>.lock` makes a second run into the same output fail fast, and what killed runs left
 *   (temps, an old output set aside) is cleaned up or restored.
 * - The swap renames the old output aside (`.<name>.old-<pid>`), renames the new one in, then deletes
 *   the old one: a kill at any point leaves either output whole, and the next run finishes the job.
 * - Directories get an `.ocs-zan-output` marker, files one beside them: `--force` replaces nothing else.
 */
export class AtomicOutput {
  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
    private readonly directory: boolean,
    private readonly lockPath: string,
  ) {}

  /** Checks the target and locks it; returns the temp path to write into. */
  static async create(finalPath: string, options: AtomicOutputOptions = {}): Promise<AtomicOutput> {
    const target = path.resolve(finalPath);
    await prepareOutputLocation(target, options);
    const lock = await takeLock(target);
    try {
      await recoverLeftovers(target);
      await checkReplaceable(target, options);
      const temp = sibling(target, `tmp-${process.pid}`);
      await rm(temp, { recursive: true, force: true });
      if (options.directory) {
        await mkdir(temp);
        await markOutputFolder(temp);
      }
      return new AtomicOutput(target, temp, options.directory === true, lock);
    } catch (error) {
      await rm(lock, { force: true });
      throw error;
    }
  }

  async commit(): Promise<string> {
    const aside = sibling(this.finalPath, `old-${process.pid}`);
    const previous = await lstat(this.finalPath).catch(() => null);
    if (previous) await rename(this.finalPath, aside);
    crashPoint('aside');
    try {
      await rename(this.tempPath, this.finalPath);
    } catch (error) {
      if (previous) await rename(aside, this.finalPath);
      throw error;
    }
    crashPoint('renamed');
    if (!this.directory) await writeFile(fileMarkerPath(this.finalPath), `${JSON.stringify({ size: (await stat(this.finalPath)).size })}\n`);
    if (previous) await rm(aside, { recursive: true, force: true });
    await rm(this.lockPath, { force: true });
    return this.finalPath;
  }

  async abort(): Promise<void> {
    await rm(this.tempPath, { recursive: true, force: true });
    await rm(this.lockPath, { force: true });
  }

  /** Runs `build(tempPath)` and commits, or removes the temp output if it throws. */
  static async write<T>(finalPath: string, options: AtomicOutputOptions, build: (tempPath: string) => Promise<T>): Promise<T> {
    const output = await AtomicOutput.create(finalPath, options);
    try {
      const result = await build(output.tempPath);
      await output.commit();
      return result;
    } catch (error) {
      await output.abort();
      throw error;
    }
  }
}

const sibling = (target: string, suffix: string): string => path.join(path.dirname(target), `.${path.basename(target)}.${suffix}`);

/** Test hook: OCS_ZAN_KILL_AT=commit:aside|commit:renamed kills the process between the steps of a swap, as a kill -9 would. */
function crashPoint(step: string): void {
  if (process.env.OCS_ZAN_KILL_AT === `commit:${step}`) process.kill(process.pid, 'SIGKILL');
}

/** Creates `.<name>.lock` holding our pid; a lock whose process is gone is stale and taken over. */
async function takeLock(target: string): Promise<string> {
  const lock = sibling(target, 'lock');
  for (;;) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return lock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && processIsAlive(pid)) {
      throw new UserError(`another ocs-zan process (pid ${pid}) is writing this output`, {
        file: target,
        remedy: `wait for it to finish or choose another --out; if no ocs-zan runs, delete ${lock}`,
      });
    }
    await rm(lock, { force: true });
  }
}

/**
 * Finishes what killed runs left beside `target`: an old output set aside is put back when the new one
 * never arrived and deleted otherwise; temp outputs are deleted. Only entries of processes that are gone.
 */
async function recoverLeftovers(target: string): Promise<void> {
  const name = path.basename(target);
  const pattern = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(old|tmp)-(\\d+)$`);
  const entries = (await readdir(path.dirname(target))).map((entry) => pattern.exec(entry)).filter((m): m is RegExpExecArray => m !== null);
  // Asides first: one may have to become the output again.
  entries.sort((a, b) => (a[1] === b[1] ? 0 : a[1] === 'old' ? -1 : 1));
  for (const [entry, kind, pid] of entries) {
    if (processIsAlive(Number(pid))) continue;
    const leftover = path.join(path.dirname(target), entry);
    if (kind === 'old' && !(await stat(target).catch(() => null))) await rename(leftover, target);
    else await rm(leftover, { recursive: true, force: true });
  }
}
