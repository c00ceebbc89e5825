/**
 * Portraits benchmark: a whole-département DB (all communes of the Meuse, ~500, with synthetic
 * indicators) → every portrait. Reports wall time of `buildPortraits` and the output size.
 * `npx tsx bench/portraits.ts` runs it alone; the bench runner calls `benchPortraits()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../pipeline/core/log.js';
import { buildPortraits } from '../pipeline/portraits/index.js';
import { createPortraitDb } from '../fixtures/generator/portrait-db.js';

export interface PortraitsBenchResult {
  name: 'portraits';
  communes: number;
  territories: number;
  portraits: number;
  seconds: number;
  bytes: number;
  files: number;
}

export async function benchPortraits(options: { departement?: string; keep?: boolean } = {}): Promise<PortraitsBenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-portraits-'));
  try {
    const db = path.join(dir, 'ocs.duckdb');
    const { communes, territories } = await createPortraitDb(db, { departement: options.departement ?? '55', epciSize: 25 });
    const result = await buildPortraits({ db, out: path.join(dir, 'portraits'), logger: createLogger({ quiet: true }) });
    return { name: 'portraits', communes, territories, portraits: result.portraits, seconds: result.seconds, bytes: result.bytes, files: result.files };
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchPortraits();
  console.log(
    `portraits: ${r.portraits} portraits (${r.communes} communes) in ${r.seconds.toFixed(1)} s, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB`,
  );
}
