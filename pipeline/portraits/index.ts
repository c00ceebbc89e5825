/**
 * Portraits stage: adds `portrait_parent` and `portrait_territory` to `ocs.duckdb`, then writes one
 * self-contained HTML portrait per territory (`<level>-<code>.html`), its Markdown twin
 * (`md/<level>-<code>.md`), `index.html` and `portrait_territory.csv` into `out`, atomically.
 * Each table is queried once; rendering is plain template strings; files are written with
 * limited concurrency.
 *
 * @example await buildPortraits({ db: 'OUT/ocs.duckdb', out: 'OUT/portraits', levels: ['epci'], logger });
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import Flatbush from 'flatbush';
import pLimit from 'p-limit';
import { inStage, UserError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { type PortraitDataset, REQUIRED_TABLES, levelRank, loadPortraitDataset, num, territoryKey } from './dataset.js';
import { portraitTablesSql } from './portrait-tables.js';
import { buildPortraitModel, portraitFile, ringsFor } from './portrait-model.js';
import { type IndexEntry, renderIndexHtml, renderPortraitHtml } from './render-html.js';
import { renderPortraitMarkdown } from './render-markdown.js';
import { ringsBbox } from '../core/wkb.js';
import { sqlString } from '../core/sql.js';
import { TERRITORY_LEVELS_TOP_DOWN, type TerritoryLevel } from '../core/territory-levels.js';
import { openDuckDB } from '../core/duckdb.js';

export interface BuildPortraitsInput {
  /** `ocs.duckdb` written by `ocs-zan run` (opened read-write: the portrait tables are added). */
  db: string;
  /** Output directory, e.g. `OUT/portraits`. */
  out: string;
  /** Levels to publish (all when omitted). */
  levels?: readonly TerritoryLevel[];
  /** Territory codes to publish (all of the selected levels when omitted). */
  codes?: readonly string[];
  force?: boolean;
  logger?: Logger;
  /** Files written in parallel. */
  concurrency?: number;
  /** An open read-write connection to `db` (when `ocs-zan run` already holds the file); opened and closed here otherwise. */
  connection?: DuckDBConnection;
}

export interface BuildPortraitsResult {
  outDir: string;
  portraits: number;
  files: number;
  bytes: number;
  seconds: number;
}

async function checkTables(connection: DuckDBConnection, db: string): Promise<void> {
  const present = new Set(
    (await connection.runAndReadAll(`SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()`)).getRowObjectsJS().map((r) => String(r.table_name)),
  );
  const missing = REQUIRED_TABLES.filter((t) => !present.has(t));
  if (missing.length > 0) {
    throw new UserError(`missing table${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, { file: db, remedy: 'point --db at the ocs.duckdb written by `ocs-zan run`' });
  }
}

async function createPortraitTables(connection: DuckDBConnection): Promise<void> {
  const ranks = Number((await connection.runAndReadAll('SELECT coalesce(max(vintage_rank), 0) AS n FROM stock_summary')).getRowObjectsJS()[0]!.n);
  const periods = (await connection.runAndReadAll('SELECT DISTINCT from_rank, to_rank FROM artif_flux ORDER BY to_rank - from_rank, from_rank'))
    .getRowObjectsJS()
    .map((r) => [Number(r.from_rank), Number(r.to_rank)] as [number, number]);
  await connection.run('BEGIN TRANSACTION');
  try {
    await connection.run(portraitTablesSql({ ranks, periods }));
    await connection.run('COMMIT');
  } catch (error) {
    await connection.run('ROLLBACK');
    throw error;
  }
}

function selectTerritories(data: PortraitDataset, input: BuildPortraitsInput): PortraitDataset['territories'] {
  const levels = new Set(input.levels ?? TERRITORY_LEVELS_TOP_DOWN);
  let selected = data.territories.filter((t) => levels.has(t.level));
  if (input.codes && input.codes.length > 0) {
    const wanted = new Set(input.codes);
    const unknown = [...wanted].filter((code) => !selected.some((t) => t.code === code));
    if (unknown.length > 0) {
      throw new UserError(`unknown territory code${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}${input.levels ? ` at level ${[...levels].join('/')}` : ''}`, {
        file: input.db,
        remedy: 'list codes with: SELECT level, code, name FROM territory',
      });
    }
    selected = selected.filter((t) => wanted.has(t.code));
  }
  return selected;
}

function indexEntry(data: PortraitDataset, t: PortraitDataset['territories'][number]): IndexEntry {
  const p = data.portrait.get(territoryKey(t.level, t.code));
  const ranks = Object.keys(p ?? {}).filter((k) => /^artificialised_share_r\d+$/.test(k)).sort((a, b) => Number(a.slice(23)) - Number(b.slice(23)));
  const lastShare = [...ranks].reverse().map((k) => num(p, k)).find((v) => v !== null) ?? null;
  return {
    level: t.level,
    code: t.code,
    name: t.name,
    file: portraitFile(t.level, t.code),
    areaHa: num(p, 'area_ha'),
    artificialisedShare: lastShare,
    netHa: num(p, 'net_ha_full'),
    netShare: num(p, 'net_share_full'),
    enafHa: num(p, 'enaf_consumption_ha'),
    trajectoryStatus: typeof p?.trajectory_status === 'string' ? p.trajectory_status : null,
  };
}

export async function buildPortraits(input: BuildPortraitsInput): Promise<BuildPortraitsResult> {
  const logger = input.logger ?? silentLogger;
  const started = performance.now();
  const db = path.resolve(input.db);
  if (!existsSync(db)) throw new UserError('database not found', { file: db, remedy: 'run `ocs-zan run` first or fix --db' });
  const output = await AtomicOutput.create(input.out, { force: input.force, directory: true, inputs: [db] });
  const instance = input.connection ? null : await openDuckDB(db);
  const connection = input.connection ?? (await instance!.connect());
  try {
    const data = await inStage('portraits', 'tables', async () => {
      await checkTables(connection, db);
      await createPortraitTables(connection);
      const csv = path.join(output.tempPath, 'portrait_territory.csv');
      await connection.run(`COPY (SELECT * FROM portrait_territory ORDER BY level, code) TO ${sqlString(csv)} (HEADER, DELIMITER ',')`);
      return loadPortraitDataset(connection);
    });
    const selected = selectTerritories(data, input);
    logger.info(`portraits: ${selected.length} territories (${TERRITORY_LEVELS_TOP_DOWN.filter((l) => selected.some((t) => t.level === l)).join(', ')})`);

    const result = await inStage('portraits', 'render', async () => {
      const rings = ringsFor(data);
      const communeKeys = data.territories.filter((t) => t.level === 'commune').map((t) => territoryKey(t.level, t.code));
      let communeIndex: Flatbush | null = null;
      if (communeKeys.length > 0) {
        communeIndex = new Flatbush(communeKeys.length);
        for (const key of communeKeys) {
          const [minX, minY, maxX, maxY] = ringsBbox(rings(key));
          // Communes without geometry get an empty box far away so ids stay aligned with communeKeys.
          if (Number.isFinite(minX)) communeIndex.add(minX, minY, maxX, maxY);
          else communeIndex.add(-1e12, -1e12, -1e12, -1e12);
        }
        communeIndex.finish();
      }
      const ctx = { published: new Set(selected.map((t) => territoryKey(t.level, t.code))), communeIndex, communeKeys, rings };
      await mkdir(path.join(output.tempPath, 'md'), { recursive: true });
      const limit = pLimit(input.concurrency ?? 8);
      const progress = logger.progress('portraits', 'portraits');
      let bytes = 0;
      const write = async (file: string, text: string): Promise<void> => {
        bytes += Buffer.byteLength(text);
        await writeFile(path.join(output.tempPath, file), text);
      };
      await Promise.all(
        selected.map((t) =>
          limit(async () => {
            const model = buildPortraitModel(data, ctx, t);
            await write(`${model.file}.html`, renderPortraitHtml(model));
            await write(path.join('md', `${model.file}.md`), renderPortraitMarkdown(model));
            progress.tick();
          }),
        ),
      );
      progress.done();
      const entries = [...selected].sort((a, b) => levelRank(a.level) - levelRank(b.level) || a.name.localeCompare(b.name, 'fr') || a.code.localeCompare(b.code)).map((t) => indexEntry(data, t));
      await write('index.html', renderIndexHtml(entries, { title: 'Portraits de territoires : artificialisation et consommation d’ENAF' }));
      return { portraits: selected.length, files: selected.length * 2 + 2, bytes };
    });
    const outDir = await output.commit();
    const seconds = (performance.now() - started) / 1000;
    logger.info(`portraits: ${result.portraits} portraits, ${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s → ${outDir}`);
    return { outDir, ...result, seconds };
  } catch (error) {
    await output.abort();
    throw error;
  } finally {
    if (instance) {
      connection.closeSync();
      instance.closeSync();
    }
  }
}
