import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { parseRange, serveOutput, type RunningServer } from '../pipeline/serve/index.js';
import { buildTiles } from '../pipeline/tiles/index.js';
import { buildTilesTestDb } from '../fixtures/generator/tiles-db.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ocs-zan-viewer-test-'));
const outDir = path.join(dir, 'OUT');
const archive = path.join(outDir, 'tiles', 'ocs.pmtiles');
let server: RunningServer;

function chromiumPath(): string {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || '/usr/bin/chromium';
  } catch {
    return '/usr/bin/chromium';
  }
}

/** Raw HTTP request (fetch hides some headers and refuses none of these cases). */
function request(pathname: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: pathname, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  mkdirSync(path.join(outDir, 'portraits'), { recursive: true });
  await buildTilesTestDb(path.join(outDir, 'ocs.duckdb'));
  await buildTiles({ db: path.join(outDir, 'ocs.duckdb'), out: archive, minzoom: 8, maxzoom: 14, jobs: 2 });
  writeFileSync(path.join(outDir, 'portraits', 'commune-67001.html'), '<!doctype html><title>Alpha</title>');
  server = await serveOutput({ outDir, port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('serve', () => {
  it('parses byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=95-200', 100)).toEqual({ start: 95, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('invalid');
    expect(parseRange('items=0-1', 100)).toBe('invalid');
  });

  it('binds 127.0.0.1 and serves the archive by HTTP ranges', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/viewer\/$/);
    const size = statSync(archive).size;
    const head = await request('/tiles/ocs.pmtiles', { Range: 'bytes=0-126' });
    expect(head.status).toBe(206);
    expect(head.headers['accept-ranges']).toBe('bytes');
    expect(head.headers['content-range']).toBe(`bytes 0-126/${size}`);
    expect(head.body.length).toBe(127);
    expect(head.body.subarray(0, 7).toString()).toBe('PMTiles');
    const tail = await request('/tiles/ocs.pmtiles', { Range: 'bytes=-16' });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(readFileSync(archive).subarray(size - 16))).toBe(true);
    const whole = await request('/tiles/ocs.pmtiles');
    expect(whole.status).toBe(200);
    expect(whole.body.length).toBe(size);
    const beyond = await request('/tiles/ocs.pmtiles', { Range: `bytes=${size}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${size}`);
    const onlyHead = await request('/tiles/ocs.pmtiles', {}, 'HEAD');
    expect(onlyHead.headers['content-length']).toBe(String(size));
  });

  it('serves the viewer, local libraries and portraits, and nothing outside OUT', async () => {
    expect((await request('/')).headers.location).toBe('/viewer/');
    expect((await request('/viewer/')).body.toString()).toMatch(/maplibre-gl\.css/);
    for (const lib of ['maplibre-gl.mjs', 'maplibre-gl-worker.mjs', 'maplibre-gl.css', 'pmtiles.js']) expect((await request(`/lib/${lib}`)).status).toBe(200);
    expect((await request('/portraits/commune-67001.html')).status).toBe(200);
    expect((await request('/../../etc/passwd')).status).toBe(404);
    expect((await request('/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404);
    expect((await request('/tiles/ocs.pmtiles', {}, 'POST')).status).toBe(405);
  });

  it('refuses an output directory without tiles (exit 2)', async () => {
    const err: string[] = [];
    const code = await runCli(['serve', path.join(dir, 'empty'), '--port', '0'], { stdout: () => undefined, stderr: (t) => void err.push(t) });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/output directory not found/);
  });
});

describe('viewer (headless chromium)', () => {
  let browser: Browser;
  afterAll(async () => browser?.close());

  it('renders land use, switches vintage, shows changes, territories and a portrait link', async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
    });
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    const errors: string[] = [];
    const offsite: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${server.port}/`) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) offsite.push(r.url());
    });
    await page.goto(server.url);
    const idle = () =>
      page.evaluate(
        () =>
          new Promise<void>((resolve) => {
            const map = (window as any).__map;
            if (map.loaded() && !map.isMoving() && map.areTilesLoaded()) setTimeout(resolve, 50);
            map.once('idle', () => resolve());
            map.triggerRepaint();
          }),
      );
    await page.waitForFunction(() => (window as any).__map?.loaded(), undefined, { timeout: 60_000 });
    await idle();
    const count = (layers: string[]) => page.evaluate((ids) => (window as any).__map.queryRenderedFeatures({ layers: ids }).length, layers);
    expect(await count(['landuse-2022'])).toBeGreaterThan(0);
    expect(await count(['territory-commune'])).toBeGreaterThan(0);

    await page.selectOption('#vintage', '2016');
    await idle();
    expect(await count(['landuse-2016'])).toBeGreaterThan(0);
    expect(await count(['landuse-2022'])).toBe(0);

    await page.check('#show-change');
    await page.selectOption('#period', 'change_2016_2022');
    await idle();
    const kinds = await page.evaluate(() => [...new Set((window as any).__map.queryRenderedFeatures({ layers: ['change_2016_2022'] }).map((f: any) => f.properties.kind))].sort());
    expect(kinds).toEqual(expect.arrayContaining(['artificialisation']));

    // Click inside commune 67001 (the western half of the grid).
    const point = await page.evaluate(() => {
      const map = (window as any).__map;
      const f = map.queryRenderedFeatures({ layers: ['territory-commune'] }).find((x: any) => x.properties.code === '67001');
      const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      const lon = ring.reduce((s: number, c: number[]) => s + c[0], 0) / ring.length;
      const lat = ring.reduce((s: number, c: number[]) => s + c[1], 0) / ring.length;
      return map.project([lon, lat]);
    });
    await page.mouse.click(point.x, point.y);
    const link = page.locator('.maplibregl-popup a');
    await link.waitFor({ timeout: 10_000 });
    expect(await link.getAttribute('href')).toBe('../portraits/commune-67001.html');
    expect(await page.locator('.maplibregl-popup').textContent()).toMatch(/Artificialisation nette/);
    const portrait = await page.evaluate(async (href) => (await fetch(new URL(href, window.location.href))).status, (await link.getAttribute('href'))!);
    expect(portrait).toBe(200);

    expect(await page.locator('#legend li').count()).toBe(10);
    const shot = path.join(dir, 'viewer.png');
    await page.screenshot({ path: shot });
    if (process.env.VIEWER_SCREENSHOT) writeFileSync(process.env.VIEWER_SCREENSHOT, readFileSync(shot));
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    expect(offsite).toEqual([]);
  });
});
