/**
 * Local viewer server: node:http, bound to 127.0.0.1 unless told otherwise, serving
 * - `/viewer/` — the MapLibre page (`viewer/` in the package),
 * - `/lib/` — maplibre-gl and the pmtiles browser build from node_modules (no CDN, works offline),
 * - everything else from the output directory (`/tiles/ocs.pmtiles`, `/portraits/…`), with HTTP
 *   Range support (206, Accept-Ranges, Content-Range, 416) as the pmtiles protocol reads by ranges.
 *
 * @example
 * const server = await serveOutput({ outDir: 'OUT', port: 0 });
 * console.log(server.url); await server.close();
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { PROJECT_ROOT } from '../core/paths.js';

export interface ServeInput {
  outDir: string;
  port?: number;
  host?: string;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.pmtiles': 'application/octet-stream',
};

const VIEWER_DIR = path.join(PROJECT_ROOT, 'viewer');

/** Files under /lib/, resolved through the packages' own entry points so hoisted installs work too. */
function libraryFiles(): Record<string, string> {
  const maplibreDir = path.dirname(fileURLToPath(import.meta.resolve('maplibre-gl')));
  const pmtilesEsm = fileURLToPath(import.meta.resolve('pmtiles'));
  return {
    'maplibre-gl.mjs': path.join(maplibreDir, 'maplibre-gl.mjs'),
    'maplibre-gl-worker.mjs': path.join(maplibreDir, 'maplibre-gl-worker.mjs'),
    'maplibre-gl.css': path.join(maplibreDir, 'maplibre-gl.css'),
    // The IIFE build (global `pmtiles`) sits two levels above the ESM entry: dist/esm/index.js → dist/pmtiles.js.
    'pmtiles.js': path.join(path.dirname(path.dirname(pmtilesEsm)), 'pmtiles.js'),
  };
}

/** Parses a single `bytes=` range against a file size; null = no range, 'invalid' = unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'invalid';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  return start > end || start >= size ? 'invalid' : { start, end };
}

function sendFile(req: http.IncomingMessage, res: http.ServerResponse, file: string): void {
  const stat = statSync(file);
  const size = stat.size;
  const etag = `"${size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  res.setHeader('Content-Type', CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'no-cache');
  const range = parseRange(req.headers.range, size);
  if (range === 'invalid') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` });
    res.end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.writeHead(range ? 206 : 200, { 'Content-Length': size === 0 ? 0 : end - start + 1 });
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  createReadStream(file, { start, end }).pipe(res);
}

/** Maps a URL path onto a file inside `root`, refusing anything that escapes it. */
function inside(root: string, urlPath: string): string | null {
  const file = path.resolve(root, `.${path.posix.normalize(urlPath)}`);
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

export async function serveOutput(input: ServeInput): Promise<RunningServer> {
  const outDir = path.resolve(input.outDir);
  const logger = input.logger ?? silentLogger;
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new UserError('output directory not found', { file: outDir, remedy: 'pass the OUT directory of `ocs-zan run`' });
  const tiles = path.join(outDir, 'tiles', 'ocs.pmtiles');
  if (!existsSync(tiles)) throw new UserError('no tiles/ocs.pmtiles in the output directory', { file: outDir, remedy: 'run `ocs-zan tiles` first' });
  const libs = libraryFiles();

  const server = http.createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (urlPath === '/' || urlPath === '/viewer') {
        res.writeHead(302, { Location: '/viewer/' }).end();
        return;
      }
      let file: string | null;
      if (urlPath.startsWith('/viewer/')) file = inside(VIEWER_DIR, urlPath === '/viewer/' ? '/index.html' : urlPath.slice('/viewer'.length));
      else if (urlPath.startsWith('/lib/')) file = libs[urlPath.slice('/lib/'.length)] ?? null;
      else file = inside(outDir, urlPath);
      if (file && existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
      if (!file || !existsSync(file)) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      sendFile(req, res, file);
    } catch (error) {
      logger.warn(`serve: ${req.url}: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  });

  const host = input.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new UserError(`port ${input.port} is already in use`, { remedy: 'pick another --port' }) : error),
    );
    server.listen(input.port ?? 8080, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/viewer/`;
  logger.info(`serve: ${outDir} on ${url}`);
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
