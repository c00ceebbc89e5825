/**
 * Local viewer server: node:http, bound to 127.0.0.1 unless told otherwise, serving
 * - `/viewer/` — the MapLibre page (`viewer/` in the package),
 * - `/lib/` — maplibre-gl and the pmtiles browser build from node_modules (no CDN, works offline),
 * - everything else from the output directory (`/tiles/ocs.pmtiles`, `/portraits/…`), with HTTP
 *   Range support (206, Accept-Ranges, Content-Range, 416) as the pmtiles protocol reads by ranges.
 * Only regular files whose real path stays under their root are served (symlinks out of OUT give 404),
 * requests naming a foreign Host are refused (a web page must not reach it by DNS rebinding), and a
 * download's file is closed whatever becomes of the request.
 *
 * @example
 * const server = await serveOutput({ outDir: 'OUT', port: 0 });
 * console.log(server.url); await server.close();
 */
import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream';
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

/**
 * Parses a single `bytes=` range against a file size; null = no range, 'invalid' = unsatisfiable.
 * Several ranges are answered with the whole file (allowed by RFC 9110; pmtiles asks one range at a time).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'invalid' {
  if (!header || /^bytes=.*,/.test(header.trim())) return null;
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

function sendFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, logger: Logger): void {
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
  // pipeline closes the file when the client goes away mid-download, and reports read errors instead of throwing.
  pipeline(createReadStream(file, { start, end }), res, (error) => {
    if (error && (error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') logger.warn(`serve: ${req.url}: ${error.message}`);
  });
}

const within = (root: string, file: string): boolean => file === root || file.startsWith(root + path.sep);

/**
 * Maps a URL path onto a regular file inside `root` (a folder gives its index.html), or null. The real
 * path must stay inside the root's real path too, so that a symlink cannot lead out of it.
 */
function fileInside(root: string, urlPath: string): string | null {
  let file = path.resolve(root, `.${path.posix.normalize(urlPath)}`);
  if (!within(root, file)) return null;
  let stat = statSync(file, { throwIfNoEntry: false });
  if (stat?.isDirectory()) {
    file = path.join(file, 'index.html');
    stat = statSync(file, { throwIfNoEntry: false });
  }
  if (!stat?.isFile()) return null;
  return within(realpathSync(root), realpathSync(file)) ? file : null;
}

/**
 * Host names a page may reach us by: loopback names, IP literals, the bound host and this machine's name.
 * Any other name is a foreign site's whose DNS now points here (DNS rebinding).
 */
export function isLocalHost(hostHeader: string | undefined, boundHost: string): boolean {
  if (!hostHeader) return false;
  const name = (hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.replace(/:\d*$/, '')).toLowerCase();
  const machine = os.hostname().toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0 || name === boundHost.toLowerCase() || name === machine || name.startsWith(`${machine}.`);
}

const reply = (res: http.ServerResponse, status: number, text: string): void => {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
};

export async function serveOutput(input: ServeInput): Promise<RunningServer> {
  const outDir = path.resolve(input.outDir);
  const logger = input.logger ?? silentLogger;
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new UserError('output directory not found', { file: outDir, remedy: 'pass the OUT directory of `ocs-zan run`' });
  const tiles = path.join(outDir, 'tiles', 'ocs.pmtiles');
  if (!existsSync(tiles)) throw new UserError('no tiles/ocs.pmtiles in the output directory', { file: outDir, remedy: 'run `ocs-zan tiles` first' });
  const libs = libraryFiles();
  const host = input.host ?? '127.0.0.1';

  const server = http.createServer((req, res) => {
    try {
      if (!isLocalHost(req.headers.host, host)) {
        reply(res, 403, 'forbidden host: open the viewer by the address `ocs-zan serve` printed');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      let urlPath: string;
      try {
        urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      } catch {
        reply(res, 400, 'bad request: malformed URL');
        return;
      }
      if (urlPath === '/' || urlPath === '/viewer') {
        res.writeHead(302, { Location: '/viewer/' }).end();
        return;
      }
      let file: string | null;
      if (urlPath.startsWith('/viewer/')) file = fileInside(VIEWER_DIR, urlPath.slice('/viewer'.length));
      else if (urlPath.startsWith('/lib/')) file = libs[urlPath.slice('/lib/'.length)] ?? null;
      else file = fileInside(outDir, urlPath);
      if (!file) {
        reply(res, 404, 'not found');
        return;
      }
      sendFile(req, res, file, logger);
    } catch (error) {
      logger.warn(`serve: ${req.url}: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  });

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
