/**
 * `ocs-zan serve` under hostile or broken requests (issue 13, point 8), against a real server on
 * 127.0.0.1 port 0: symlinks out of OUT, a folder named index.html, aborted downloads (open file
 * descriptors counted in /proc/self/fd), bad percent-escapes, several ranges, foreign Host headers.
 */
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLocalHost, serveOutput, type RunningServer } from '../pipeline/serve/index.js';
import { tempDir } from './ingest-helpers.js';

const dir = tempDir('ocs-zan-serve-faults-');
const outDir = path.join(dir, 'OUT');
const ARCHIVE_BYTES = 8 * 2 ** 20;
let server: RunningServer;

beforeAll(async () => {
  mkdirSync(path.join(outDir, 'tiles'), { recursive: true });
  writeFileSync(path.join(outDir, 'tiles', 'ocs.pmtiles'), Buffer.alloc(ARCHIVE_BYTES, 7));
  writeFileSync(path.join(dir, 'secret.txt'), 'outside OUT\n');
  symlinkSync(path.join(dir, 'secret.txt'), path.join(outDir, 'passwd-link'));
  symlinkSync(dir, path.join(outDir, 'up'));
  mkdirSync(path.join(outDir, 'portraits', 'index.html'), { recursive: true });
  server = await serveOutput({ outDir, port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One raw HTTP/1.1 request (no client-side URL or header clean-up); resolves to the status line's code and the body. */
function raw(target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    const head = Object.entries({ Host: `127.0.0.1:${server.port}`, Connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET ${target} HTTP/1.1\r\n${head}\r\n`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(all.toString('latin1'))?.[1] ?? 0), body: all.subarray(split + 4) });
    });
  });
}

/** Starts a download of the whole archive and cuts the connection as soon as bytes arrive. */
function abortedDownload(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.write(`GET /tiles/ocs.pmtiles HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    socket.once('data', () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('serve faults', () => {
  it('does not follow symlinks out of OUT', async () => {
    expect((await raw('/passwd-link')).status).toBe(404);
    expect((await raw('/up/secret.txt')).status).toBe(404);
  });

  it('answers 404 for a folder named index.html, and stays up', async () => {
    expect((await raw('/portraits/')).status).toBe(404);
    expect((await raw('/portraits/index.html')).status).toBe(404);
    expect((await raw('/tiles/ocs.pmtiles', { Range: 'bytes=0-6' })).status).toBe(206);
  });

  it('closes the file of every aborted download', async () => {
    await abortedDownload();
    const before = openFds();
    for (let i = 0; i < 300; i += 1) await abortedDownload();
    // The server sees each close a moment after the client.
    for (let waited = 0; openFds() > before + 5 && waited < 5_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(openFds()).toBeLessThanOrEqual(before + 5);
    expect((await raw('/tiles/ocs.pmtiles', { Range: 'bytes=0-6' })).status).toBe(206);
  });

  it('answers 400 to a bad percent-escape, and the whole file (200) to several ranges', async () => {
    expect((await raw('/tiles/%E0%A4%A')).status).toBe(400);
    expect((await raw('/%')).status).toBe(400);
    const several = await raw('/tiles/ocs.pmtiles', { Range: 'bytes=0-1,5-6' });
    expect(several.status).toBe(200);
    expect(several.body.length).toBe(ARCHIVE_BYTES);
  });

  it('refuses foreign Host headers (DNS rebinding) and accepts local ones', async () => {
    expect((await raw('/tiles/ocs.pmtiles', { Host: 'evil.example:8080', Range: 'bytes=0-1' })).status).toBe(403);
    expect((await raw('/tiles/ocs.pmtiles', { Host: `localhost:${server.port}`, Range: 'bytes=0-1' })).status).toBe(206);
    expect(isLocalHost('[::1]:8080', '127.0.0.1')).toBe(true);
    expect(isLocalHost('viewer.localhost', '127.0.0.1')).toBe(true);
    expect(isLocalHost('192.168.1.20:8080', '0.0.0.0')).toBe(true);
    expect(isLocalHost('attacker.example', '127.0.0.1')).toBe(false);
    expect(isLocalHost(undefined, '127.0.0.1')).toBe(false);
  });
});
