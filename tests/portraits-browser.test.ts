import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { createPortraitDb } from '../fixtures/generator/portrait-db.js';

// Screenshots stay in SCREENSHOT_DIR when given (to look at them), else in a removed temp dir.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'portraits-browser-'));
const shots = process.env.SCREENSHOT_DIR ?? tmp;
const out = path.join(tmp, 'portraits');
let browser: Browser;

beforeAll(async () => {
  const db = path.join(tmp, 'ocs.duckdb');
  await createPortraitDb(db, { communes: 12, epciSize: 5 });
  expect(await runCli(['portraits', '--db', db, '--out', out, '--quiet'], { stdout: () => undefined, stderr: () => undefined })).toBe(0);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function open(file: string) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  page.on('pageerror', (e) => void errors.push(e.message));
  const requests: string[] = [];
  page.on('request', (r) => void (r.url().startsWith('file:') || requests.push(r.url())));
  await page.goto(pathToFileURL(path.join(out, file)).href);
  return { page, errors, requests };
}

describe('portraits in a browser', () => {
  it('renders every chart of a portrait with no console error nor network request', async () => {
    for (const file of ['epci-245555001.html', 'commune-55001.html']) {
      const { page, errors, requests } = await open(file);
      const boxes = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => {
        const b = (s as SVGGraphicsElement).getBBox();
        return { w: b.width, h: b.height, shapes: s.querySelectorAll('rect, path, line').length };
      }));
      expect(boxes).toHaveLength(7);
      for (const b of boxes) {
        expect(b.w).toBeGreaterThan(100);
        expect(b.h).toBeGreaterThan(100);
        expect(b.shapes).toBeGreaterThan(3);
      }
      await page.screenshot({ path: path.join(shots, file.replace('.html', '.png')), fullPage: true });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      await page.close();
    }
  }, 60_000);

  it('sorts and filters the index', async () => {
    const { page, errors } = await open('index.html');
    await page.screenshot({ path: path.join(shots, 'index.png'), fullPage: true });
    const names = () => page.$$eval('#territoires tbody tr:not([hidden]) td:nth-child(3)', (tds) => tds.map((td) => td.textContent ?? ''));
    await page.click('th:nth-child(3)');
    const asc = await names();
    expect(asc).toEqual([...asc].sort((a, b) => a.localeCompare(b, 'fr')));
    await page.click('th:nth-child(3)');
    expect(await names()).toEqual([...asc].reverse());
    await page.selectOption('#niveau', 'epci');
    expect(await names()).toHaveLength(3);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
