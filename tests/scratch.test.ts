// Scratch folders of killed runs (tile work folders, DuckDB spills) are removed by the next run; those of live
// processes, and folders whose name carries no owner, are left alone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDeadScratch, scratchFolder } from '../pipeline/core/scratch.js';

const prefix = `ocs-zan-scratch-test-${process.pid}-`;
const inTmp = (name: string): string => path.join(os.tmpdir(), `${prefix}${name}`);

afterAll(async () => {
  for (const name of ['', `${process.ppid}-live`, 'notapid']) await rm(inTmp(name), { recursive: true, force: true });
});

describe('scratch folders', () => {
  it('removes the folders of dead processes only', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const folders = { deadBare: inTmp(String(dead)), deadSuffixed: inTmp(`${dead}-Ab12Cd`), live: inTmp(`${process.ppid}-live`), unowned: inTmp('notapid') };
    for (const folder of Object.values(folders)) await mkdir(path.join(folder, 'work'), { recursive: true });
    removeDeadScratch(prefix);
    expect(existsSync(folders.deadBare)).toBe(false);
    expect(existsSync(folders.deadSuffixed)).toBe(false);
    expect(existsSync(folders.live)).toBe(true);
    expect(existsSync(folders.unowned)).toBe(true);
  });

  it('names a new folder after this process', async () => {
    const folder = await scratchFolder(prefix);
    expect(path.basename(folder)).toMatch(new RegExp(`^${prefix}${process.pid}-\\w{6}$`));
    await rm(folder, { recursive: true });
  });
});
