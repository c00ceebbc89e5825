/**
 * Scratch folders in the system temp folder, named after the process that owns them (`<prefix><pid>…`): a process
 * killed before its cleanup ran (Ctrl-C twice, kill -9, the OOM killer) leaves gigabytes there, and the next process
 * using the same prefix removes them.
 *
 * @example
 *   const workDir = await scratchFolder('ocs-zan-tiles-'); // /tmp/ocs-zan-tiles-4242-a1B2c3
 */
import { readdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processIsAlive } from './output-checks.js';

/** Removes the `<prefix><pid>` and `<prefix><pid>-…` folders of processes that no longer run. */
export function removeDeadScratch(prefix: string): void {
  for (const name of readdirSync(os.tmpdir())) {
    if (!name.startsWith(prefix)) continue;
    const owner = /^(\d+)(-|$)/.exec(name.slice(prefix.length));
    const pid = owner ? Number(owner[1]) : 0;
    if (pid <= 0 || processIsAlive(pid)) continue;
    try {
      rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    } catch {
      // Another user's folder: theirs to remove.
    }
  }
}

/** A new `<prefix><pid>-XXXXXX` folder in the temp folder, once dead ones of the same prefix are removed. */
export async function scratchFolder(prefix: string): Promise<string> {
  removeDeadScratch(prefix);
  return mkdtemp(path.join(os.tmpdir(), `${prefix}${process.pid}-`));
}
