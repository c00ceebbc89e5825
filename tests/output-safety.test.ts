/**
 * What `--out` and `--force` may touch (issue 13, points 5–7): refusals before any work, the swap of an
 * old output for a new one under kills (fault injection in a child process), leftovers of killed runs,
 * the lock between two runs, and output locations on odd filesystems (some cases need `mount`, as root).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { describeError } from '../pipeline/core/errors.js';
import { AtomicOutput } from '../pipeline/core/atomic-output.js';
import { fileMarkerPath, OUTPUT_MARKER } from '../pipeline/core/output-checks.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { capture, tempDir } from './ingest-helpers.js';

const dir = tempDir('ocs-zan-output-safety-');
const mounts: string[] = [];
afterAll(() => {
  for (const mount of mounts.reverse()) spawnSync('umount', [mount]);
  rmSync(dir, { recursive: true, force: true });
});

const DIRTY_FILES = [
  'communes-beyond-ocs.gpkg', 'communes-degrees.gpkg', 'communes-nan-coordinate.gpkg', 'communes.gpkg', 'duplicate-feature.gpkg', 'duplicate-ids.gpkg', 'empty-geometry.gpkg', 'huge-coordinate.gpkg', 'infinite-coordinate.gpkg', 'invalid-ring.gpkg', 'missing-code.gpkg', 'nan-coordinate.gpkg', 'no-crs.dbf', 'no-crs.shp', 'no-crs.shx', 'null-geometries.gpkg', 'overlap.gpkg', 'points.gpkg', 'truncated.fgb', 'unclosed-ring.gpkg', 'unknown-code.gpkg', 'wrong-crs.geojson',
];

/** Runs the CLI in this process; returns the exit code and stderr's lines. */
async function cli(args: string[]): Promise<{ code: number; lines: string[] }> {
  const c = capture();
  const code = await runCli(args, c.io);
  return { code, lines: c.err().trimEnd().split('\n').filter(Boolean) };
}

/** Runs the CLI in a child process (from sources, as the tests do), e.g. to be killed by a fault hook. */
function child(args: string[], env: Record<string, string> = {}): { status: number | null; signal: NodeJS.Signals | null; pid: number } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'bin.ts'), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, signal: result.signal, pid: result.pid };
}

/** Mounts a small tmpfs (root only); null where mounting is not allowed. */
function tryMount(target: string, options: string): string | null {
  mkdirSync(target, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', target], { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounts.push(target);
  return target;
}

const canMount = tryMount(path.join(dir, 'probe'), 'size=1m') !== null;

/** A pid that was just used and has exited. */
function deadPid(): number {
  return spawnSync('true').pid;
}

describe('--force replaces only what ocs-zan wrote (point 5)', () => {
  it('refuses a folder holding an input, and deletes nothing', async () => {
    const out = path.join(dir, 'holds-input');
    mkdirSync(out);
    const gpkg = path.join(out, 'demo.gpkg');
    copyFileSync(path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg'), gpkg);
    writeFileSync(path.join(out, OUTPUT_MARKER), 'even with a marker\n');
    const { code, lines } = await cli(['run', '--vintage', `2010=${gpkg}#ocsge_2010`, '--vintage', `2019=${gpkg}#ocsge_2019`, '--territories', `${gpkg}#communes`, '--out', out, '--force', '--quiet']);
    expect(code).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/holds-input: output holds an input of this command .*demo\.gpkg.*choose another --out/)]);
    expect(existsSync(gpkg)).toBe(true);
  });

  it('refuses a plain file, the null device and a folder without the marker', async () => {
    const file = path.join(dir, 'plain.txt');
    writeFileSync(file, 'keep me\n');
    const foreign = path.join(dir, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'notes.txt'), 'keep me\n');
    for (const [out, message] of [
      [file, /output exists and is not a folder/],
      ['/dev/null', /\/dev\/null: output exists and is not a folder/],
      [foreign, /output exists and was not written by ocs-zan \(no \.ocs-zan-output marker\)/],
    ] as const) {
      const { code, lines } = await cli(['fixtures', 'dirty', '--out', out, '--force']);
      expect(code, out).toBe(2);
      expect(lines, out).toEqual([expect.stringMatching(message)]);
    }
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(existsSync('/dev/.null.lock')).toBe(false);
    expect(readdirSync(foreign)).toEqual(['notes.txt']);
  });

  it('refuses a file output it did not write, and replaces one it did', async () => {
    const gpkg = path.join(dir, 'mine.gpkg');
    writeFileSync(gpkg, 'not a fixture\n');
    const refused = await cli(['fixtures', 'generate', '--out', gpkg, '--communes', '67462', '--force', '--quiet']);
    expect(refused.code).toBe(2);
    expect(refused.lines).toEqual([expect.stringMatching(/mine\.gpkg: output exists and was not written by ocs-zan/)]);
    expect(readFileSync(gpkg, 'utf8')).toBe('not a fixture\n');
    const written = path.join(dir, 'written.bin');
    for (const text of ['first', 'second, longer']) await AtomicOutput.write(written, { force: true }, async (temp) => writeFileSync(temp, text));
    expect(readFileSync(written, 'utf8')).toBe('second, longer');
    expect(JSON.parse(readFileSync(fileMarkerPath(written), 'utf8'))).toEqual({ size: 14 });
  });

  it('marks its output folders and replaces them with --force', async () => {
    const out = path.join(dir, 'dirty');
    expect((await cli(['fixtures', 'dirty', '--out', out])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([OUTPUT_MARKER, ...DIRTY_FILES].sort());
    expect((await cli(['fixtures', 'dirty', '--out', out])).lines).toEqual([expect.stringMatching(/output already exists \(pass --force/)]);
    expect((await cli(['fixtures', 'dirty', '--out', out, '--force'])).code).toBe(0);
    expect(readdirSync(path.dirname(out)).filter((name) => name.startsWith('.dirty.'))).toEqual([]);
  });

  it.skipIf(!canMount)('refuses a mount point, even one holding an ocs-zan output', async () => {
    const mount = tryMount(path.join(dir, 'mounted'), 'size=128m')!;
    expect((await cli(['fixtures', 'dirty', '--out', mount, '--force'])).code).toBe(2);
    writeFileSync(path.join(mount, OUTPUT_MARKER), '');
    const { code, lines } = await cli(['fixtures', 'dirty', '--out', mount, '--force']);
    expect(code).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/mounted: output is a mount point/)]);
  });
});

describe('the swap of an old output for a new one (point 6)', () => {
  it('survives a kill after the old output was set aside: the next run puts it back', async () => {
    const out = path.join(dir, 'swap-aside');
    expect((await cli(['fixtures', 'dirty', '--out', out])).code).toBe(0);
    const killed = child(['fixtures', 'dirty', '--out', out, '--force'], { OCS_ZAN_KILL_AT: 'commit:aside' });
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toContain(`.swap-aside.old-${killed.pid}`);
    // Without --force the recovered output is refused as any existing output: it is whole again.
    expect((await cli(['fixtures', 'dirty', '--out', out])).lines).toEqual([expect.stringMatching(/output already exists/)]);
    expect(readdirSync(out).sort()).toEqual([OUTPUT_MARKER, ...DIRTY_FILES].sort());
    expect(readdirSync(dir).filter((name) => name.startsWith('.swap-aside.'))).toEqual([]);
  });

  it('survives a kill after the new output was renamed in: the next run deletes the old one', async () => {
    const out = path.join(dir, 'swap-renamed');
    expect((await cli(['fixtures', 'dirty', '--out', out])).code).toBe(0);
    const killed = child(['fixtures', 'dirty', '--out', out, '--force'], { OCS_ZAN_KILL_AT: 'commit:renamed' });
    expect(killed.signal).toBe('SIGKILL');
    expect(readdirSync(out).sort()).toEqual([OUTPUT_MARKER, ...DIRTY_FILES].sort());
    expect(readdirSync(dir).filter((name) => name.startsWith('.swap-renamed.')).sort()).toEqual([`.swap-renamed.lock`, `.swap-renamed.old-${killed.pid}`]);
    expect((await cli(['fixtures', 'dirty', '--out', out, '--force'])).code).toBe(0);
    expect(readdirSync(dir).filter((name) => name.startsWith('.swap-renamed.'))).toEqual([]);
  });

  it('removes temp outputs of runs whose process is gone, and keeps those of live ones', async () => {
    const out = path.join(dir, 'leftovers');
    const dead = path.join(dir, `.leftovers.tmp-${deadPid()}`);
    const live = path.join(dir, `.leftovers.tmp-${process.ppid}`);
    for (const temp of [dead, live]) {
      mkdirSync(temp);
      writeFileSync(path.join(temp, 'part.fgb'), 'half');
    }
    expect((await cli(['fixtures', 'dirty', '--out', out])).code).toBe(0);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('makes a second run into the same output fail fast while the first holds it', async () => {
    const out = path.join(dir, 'locked');
    const holder = spawn('sleep', ['60']);
    try {
      writeFileSync(path.join(dir, '.locked.lock'), `${holder.pid}\n`);
      const { code, lines } = await cli(['fixtures', 'dirty', '--out', out]);
      expect(code).toBe(2);
      expect(lines).toEqual([`ocs-zan: error: ${out}: another ocs-zan process (pid ${holder.pid}) is writing this output (wait for it to finish or choose another --out; if no ocs-zan runs, delete ${path.join(dir, '.locked.lock')})`]);
      expect(existsSync(out)).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // Its process gone, the lock is stale and taken over.
    expect((await cli(['fixtures', 'dirty', '--out', out])).code).toBe(0);
  });
});

describe('output locations (point 7)', () => {
  it('refuses a path under a file, /proc and /sys at once, in one line (exit 2)', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    for (const [out, message] of [
      [path.join(file, 'sub', 'OUT'), /a-file is a file, not a folder/],
      ['/proc/ocs-zan-out', /in the kernel's proc filesystem, not on a disk/],
      ['/proc/self', /in the kernel's proc filesystem/],
      ['/sys/kernel/ocs-zan-out', /in the kernel's sys filesystem/],
    ] as const) {
      const started = performance.now();
      const { code, lines } = await cli(['fixtures', 'dirty', '--out', out, '--force']);
      expect(code, out).toBe(2);
      expect(lines, out).toEqual([expect.stringMatching(message)]);
      expect(performance.now() - started, out).toBeLessThan(5_000);
    }
  });

  it.skipIf(!canMount)('refuses a read-only filesystem and a full disk before any work', async () => {
    const readOnly = tryMount(path.join(dir, 'ro'), 'ro,size=128m')!;
    const full = tryMount(path.join(dir, 'full'), 'size=1m')!;
    expect((await cli(['fixtures', 'dirty', '--out', path.join(readOnly, 'OUT')])).lines).toEqual([expect.stringMatching(/ro\/OUT: read-only filesystem \(choose an output on a writable disk\)$/)]);
    const { code, lines } = await cli(['fixtures', 'dirty', '--out', path.join(full, 'OUT')]);
    expect(code).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/full\/OUT: disk full: 1\.0 MB free/)]);
  });

  it.skipIf(!canMount)('reports a disk filling up during the work as a user error, and leaves nothing behind', async () => {
    const small = tryMount(path.join(dir, 'small'), 'size=66m')!;
    const out = path.join(small, 'OUT');
    const failed = await AtomicOutput.write(out, {}, async (temp) => writeFileSync(temp, Buffer.alloc(70 * 2 ** 20))).catch((error: unknown) => error);
    expect(describeError(failed)).toEqual({ text: 'ocs-zan: error: disk full (free some space or choose an output on another disk)', exitCode: 2 });
    expect(readdirSync(small)).toEqual([]);
  });

  it('maps disk full raised anywhere (node, DuckDB, GDAL, workers) to a user error', () => {
    const node = Object.assign(new Error("ENOSPC: no space left on device, write '/data/OUT/ocs.duckdb'"), { code: 'ENOSPC', path: '/data/OUT/ocs.duckdb' });
    expect(describeError(node)).toEqual({ text: 'ocs-zan: error: /data/OUT/ocs.duckdb: disk full (free some space or choose an output on another disk)', exitCode: 2 });
    // DuckDB and GDAL (and worker processes) report it in their message only.
    expect(describeError(new Error('IO Error: Could not write file "x.duckdb": No space left on device')).exitCode).toBe(2);
    expect(describeError(new Error('no such table')).exitCode).toBe(1);
  });
});
