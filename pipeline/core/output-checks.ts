/**
 * What every output location must pass before any work (AtomicOutput runs these for each command
 * with --out): it lies on a writable disk with some room, and an existing target is one that
 * ocs-zan wrote and may replace — never a plain file, a mount point or a folder holding the inputs.
 */
import { constants, readFileSync } from 'node:fs';
import { access, lstat, mkdir, readdir, readFile, realpath, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { environmentError, UserError } from './errors.js';

/** The marker file in every output directory ocs-zan creates; `--force` replaces only directories holding it. */
export const OUTPUT_MARKER = '.ocs-zan-output';

/** Marks a folder as written by ocs-zan (AtomicOutput does it for each output folder; `run` for the parts it writes directly). */
export async function markOutputFolder(dir: string): Promise<void> {
  await writeFile(path.join(dir, OUTPUT_MARKER), 'Written by ocs-zan: `--force` may replace this folder whole.\n');
}

/** An output file's marker sits beside it and records its size, so that a stale marker vouches for no other file. */
export const fileMarkerPath = (file: string): string => path.join(path.dirname(file), `.${path.basename(file)}${OUTPUT_MARKER}`);

/** Free space below which a run would only fail late, on a half-written output. */
const MIN_FREE_BYTES = 64 * 2 ** 20;

/** Kernel filesystems (statfs magic → name): not disks, and walking them can spin for minutes. */
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sys'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x1cd1, 'devpts'],
  [0x6165676c, 'pstore'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
]);

/**
 * Checks where `target` would go (what already sits there, folders above it, filesystem, write access, free
 * space) and creates its parent; nothing is written beside a target of the wrong kind.
 */
export async function prepareOutputLocation(target: string, options: { directory?: boolean } = {}): Promise<void> {
  if (target === path.dirname(target)) throw new UserError('the filesystem root cannot be an output', { file: target, remedy: 'choose a folder for --out' });
  const existing = await nearestFolder(target);
  const real = await realpath(existing);
  const fs = await statfs(real);
  const kernel = KERNEL_FILESYSTEMS.get(fs.type) ?? /^\/(proc|sys)(?:\/|$)/.exec(real)?.[1];
  if (kernel) throw new UserError(`in the kernel's ${kernel} filesystem, not on a disk`, { file: target, remedy: 'choose an output folder on a disk' });
  const found = await lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
    throw userErrorAt(target, error);
  });
  if (found?.isSymbolicLink()) throw new UserError('output is a symbolic link', { file: target, remedy: 'give the path it points to, or another --out' });
  if (found && (options.directory ? !found.isDirectory() : !found.isFile())) {
    throw new UserError(`output exists and is not a ${options.directory ? 'folder' : 'file'}`, { file: target, remedy: 'choose another --out' });
  }
  await access(real, constants.W_OK).catch((error: unknown) => {
    throw userErrorAt(target, error);
  });
  const free = fs.bavail * fs.bsize;
  if (free < MIN_FREE_BYTES) {
    throw new UserError(`disk full: ${(free / 2 ** 20).toFixed(1)} MB free on ${existing}`, { file: target, remedy: 'free some space or choose an output on another disk' });
  }
  await mkdir(path.dirname(target), { recursive: true }).catch((error: unknown) => {
    throw userErrorAt(target, error);
  });
}

/** An OS failure about the output's location, reported against the output path the user gave. */
function userErrorAt(target: string, error: unknown): unknown {
  const user = environmentError(error);
  return user ? new UserError(user.message, { ...user.context, file: target }) : error;
}

/** The closest existing folder at or above the target's parent; a file on the way is a user error. */
export async function nearestFolder(target: string): Promise<string> {
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    const found = await stat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw environmentError(error) ?? error;
    });
    if (found?.isDirectory()) return dir;
    if (found) throw new UserError(`${dir} is a file, not a folder`, { file: target, remedy: 'choose an --out whose parent folders are folders' });
  }
}

export interface ReplaceOptions {
  /** Replace an existing output that ocs-zan wrote. */
  force?: boolean;
  /** The output is a folder (else one file). */
  directory?: boolean;
  /** Paths the command reads: an output that is or holds one of them is refused. */
  inputs?: string[];
}

/** Refuses an existing `target` (of the right kind, see prepareOutputLocation) that this run may not replace. */
export async function checkReplaceable(target: string, options: ReplaceOptions): Promise<void> {
  const found = await lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw environmentError(error) ?? error;
  });
  if (!found) return;
  if (await isMountPoint(target)) {
    throw new UserError('output is a mount point, which cannot be replaced', { file: target, remedy: 'choose a folder inside it for --out' });
  }
  const held = await inputsWithin(target, options.inputs ?? []);
  if (held.length > 0) throw new UserError(`output holds an input of this command (${held[0]})`, { file: target, remedy: 'choose another --out' });
  // An empty folder holds nothing to lose.
  if (found.isDirectory() && (await readdir(target)).length === 0) return;
  if (!(await writtenByOcsZan(target, found.isDirectory(), found.size))) {
    throw new UserError(`output exists and was not written by ocs-zan (no ${OUTPUT_MARKER} marker)`, {
      file: target,
      remedy: `--force replaces only ocs-zan outputs: delete it yourself or choose another --out`,
    });
  }
  if (!options.force) throw new UserError('output already exists', { file: target, remedy: 'pass --force to overwrite it' });
}

async function writtenByOcsZan(target: string, directory: boolean, size: number): Promise<boolean> {
  if (directory) return (await stat(path.join(target, OUTPUT_MARKER)).catch(() => null))?.isFile() === true;
  try {
    return (JSON.parse(await readFile(fileMarkerPath(target), 'utf8')) as { size?: unknown }).size === size;
  } catch {
    return false;
  }
}

/** The inputs (as given) whose real path is `target` or lies under it. */
async function inputsWithin(target: string, inputs: string[]): Promise<string[]> {
  const root = await realpath(target);
  const held: string[] = [];
  for (const input of inputs) {
    const real = await realpath(input).catch(() => path.resolve(input));
    if (real === root || real.startsWith(root + path.sep)) held.push(input);
  }
  return held;
}

/** True for the root of a filesystem, including bind mounts (same device as the parent, but listed in mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const real = await realpath(target);
  if (real === path.dirname(real)) return true;
  const [self, parent] = await Promise.all([stat(real), stat(path.dirname(real))]);
  return self.dev !== parent.dev || mountPoints().has(real);
}

function mountPoints(): Set<string> {
  try {
    const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    // Field 5 is the mount point, with spaces and other bytes escaped as \ooo.
    return new Set(lines.map((line) => line.split(' ')[4]).filter((p): p is string => !!p).map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))));
  } catch {
    return new Set();
  }
}

/** Whether a process id is running (signal 0 probes without signalling; EPERM means it runs under another user). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
