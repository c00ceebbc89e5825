import { existsSync } from 'node:fs';
import { mkdir, rename, rm, readdir } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Outputs are built in a temporary sibling and renamed into place only when complete,
 * so an interrupted or failed run never leaves a partial output behind.
 */
export class AtomicOutput {
  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
  ) {}

  /** Refuses an existing non-empty target unless `force`; returns the temp path to write into. */
  static async create(finalPath: string, options: { force?: boolean; directory?: boolean } = {}): Promise<AtomicOutput> {
    const target = path.resolve(finalPath);
    if (existsSync(target) && !options.force && !(await isEmptyDirectory(target))) {
      throw new UserError(`output already exists`, { file: target, remedy: 'pass --force to overwrite it' });
    }
    await mkdir(path.dirname(target), { recursive: true });
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
    await rm(temp, { recursive: true, force: true });
    if (options.directory) await mkdir(temp, { recursive: true });
    return new AtomicOutput(target, temp);
  }

  async commit(): Promise<string> {
    await rm(this.finalPath, { recursive: true, force: true });
    await rename(this.tempPath, this.finalPath);
    return this.finalPath;
  }

  async abort(): Promise<void> {
    await rm(this.tempPath, { recursive: true, force: true });
  }

  /** Runs `build(tempPath)` and commits, or removes the temp output if it throws. */
  static async write<T>(finalPath: string, options: { force?: boolean; directory?: boolean }, build: (tempPath: string) => Promise<T>): Promise<T> {
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

async function isEmptyDirectory(target: string): Promise<boolean> {
  try {
    return (await readdir(target)).length === 0;
  } catch {
    return false;
  }
}
