/**
 * 7z archives through Debian's `7zip` package (`7zz`): list the members, extract once into a folder
 * named after the archive's sha256. Every failure (missing tool, corrupt, truncated or
 * password-protected archive) is a one-line `UserError` naming the archive.
 *
 * @example
 *   const members = await listArchive('OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01.7z'); // ['OCS-GE_…/OCCUPATION_SOL.gpkg', …]
 *   const { dir } = await extractArchive(archive, '.cache/ocsge'); // '.cache/ocsge/<sha256>'
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { filesSha256 } from '../core/datasets.js';

const SEVEN_ZIP = '7zz';

function run(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    // `-p` with no value answers an empty password instead of prompting: encrypted archives fail at once.
    const child = execFile(SEVEN_ZIP, args, { maxBuffer: 256 * 2 ** 20 }, (error, stdout, stderr) => {
      const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      resolve({ ok: error === null, stdout, stderr, missing });
    });
    child.stdin?.end();
  });
}

function failure(archive: string, result: { stdout: string; stderr: string; missing: boolean }): UserError {
  if (result.missing) {
    return new UserError('7zz not found: cannot read 7z archives', { file: archive, remedy: "install Debian's 7zip package (apt-get install 7zip), or extract the archive yourself" });
  }
  const text = `${result.stderr}\n${result.stdout}`;
  const encrypted = /wrong password|encrypted/i.test(text);
  const reason = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /error|unexpected|cannot|crc|headers/i.test(line) && line !== 'ERRORS:')
    .map((line) => line.replace(/^ERROR:\s*/, '').replace(`${archive} : `, ''))
    .join('; ');
  return new UserError(encrypted ? 'password-protected archive' : `corrupt or truncated archive: ${reason || 'unreadable'}`, {
    file: archive,
    remedy: encrypted ? 'IGN deliveries are not encrypted: download it again from IGN' : 'download it again',
  });
}

/** Paths of the files in an archive (folders left out), '/'-separated, sorted. */
export async function listArchive(archive: string): Promise<string[]> {
  const result = await run(['l', '-slt', '-ba', '-p', archive]);
  if (!result.ok) throw failure(archive, result);
  const files: string[] = [];
  for (const block of result.stdout.split(/\n\s*\n/)) {
    const file = /^Path = (.+)$/m.exec(block)?.[1];
    const folder = /^Attributes = D/m.test(block);
    if (/^Encrypted = \+$/m.test(block)) throw failure(archive, { stdout: 'encrypted', stderr: '', missing: false });
    if (file && !folder) files.push(file.replace(/\\/g, '/'));
  }
  return files.sort();
}

/**
 * Extracts `archive` into `<root>/<sha256>` unless that folder already exists (then nothing is
 * extracted: a cache keyed by content). The folder appears atomically.
 */
export async function extractArchive(archive: string, root: string): Promise<{ dir: string; sha256: string; cached: boolean }> {
  const sha256 = await filesSha256([archive]);
  const dir = path.join(root, sha256);
  if (existsSync(dir)) return { dir, sha256, cached: true };
  await mkdir(root, { recursive: true });
  const temp = `${dir}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  const result = await run(['x', '-y', '-bd', '-p', `-o${temp}`, archive]);
  if (!result.ok) {
    await rm(temp, { recursive: true, force: true });
    throw failure(archive, result);
  }
  await rename(temp, dir);
  return { dir, sha256, cached: false };
}
