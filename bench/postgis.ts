/**
 * PostGIS peer benchmark (`npm run bench -- --peer postgis`): the commune figures of ocs-zan computed a second
 * time with plain PostGIS SQL, both timed, every value compared.
 *
 * ocs-zan side: `runPipeline` without thresholds (PostGIS applies the plain CS×US matrix), tiles or portraits.
 * PostGIS side, on a private PostgreSQL 15 cluster in `.cache/bench/postgis/` (started for the bench, always
 * stopped): ogr2ogr loads the vintages and communes, the CS×US pairs found in them get their artificialised flag
 * from the project's nomenclature, `postgis/clip.sql` cuts each vintage by the communes, `postgis/stock.sql` and
 * `postgis/flux.sql` compute the artificialised stock per vintage and the (dés)artificialisation per consecutive
 * period. PostGIS runs one statement at a time in one backend, with parallel query off: single-threaded, against
 * ocs-zan's `--jobs` workers.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { classify } from '../nomenclature/classify.js';
import { loadNomenclature, loadProfile } from '../nomenclature/loader.js';
import type { Logger } from '../pipeline/core/log.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { sqlString } from '../pipeline/core/sql.js';
import { runPipeline, type RunSummary } from '../pipeline/run.js';
import { openDuckDB } from '../pipeline/core/duckdb.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const PG_PACKAGE = 'postgresql-15-postgis-3';
// psql and ogr2ogr run asynchronously so that a signal reaches the handler that stops the cluster while they work.
const execFileAsync = promisify(execFile);
const SQL_DIR = path.join(PROJECT_ROOT, 'bench', 'postgis');
const DATABASE = 'ocs_zan_bench';
/** Largest difference (m²) allowed between the two sides for any value. */
export const PEER_TOLERANCE_M2 = 0.01;

export interface PeerValue {
  /** `stock <commune> <vintage>`, `artificialisation <commune> <from>→<to>` or `desartificialisation …`. */
  key: string;
  ocsZan: number | null;
  postgis: number | null;
  /** Infinity when one side has no such value. */
  difference: number;
}

export interface PeerBenchResult {
  ocsZan: RunSummary;
  postgis: { load: number; clip: number; flux: number; total: number };
  compared: number;
  maxDifference: number;
  /** Values differing by more than PEER_TOLERANCE_M2, worst first. */
  mismatches: PeerValue[];
}

export async function benchPostgis(options: { dataset: string; vintages: number[]; out: string; jobs: number; quiet: boolean; logger: Logger }): Promise<PeerBenchResult> {
  const { dataset, vintages, logger } = options;
  const ocsZan = await runPipeline({
    sources: vintages.map((year) => ({ year, departement: null, path: dataset, layer: `ocsge_${year}` })),
    ingest: { profile: 'ocsge' },
    territories: { path: `${dataset}#communes` },
    out: options.out,
    jobs: options.jobs,
    force: true,
    tiles: false,
    portraits: false,
    thresholds: false,
    quiet: options.quiet,
    logger,
  });
  const ours = await readOcsZanValues(path.join(options.out, 'ocs.duckdb'));

  ensurePostgisInstalled();
  const cluster = await startCluster(path.join(PROJECT_ROOT, '.cache', 'bench', 'postgis'), logger);
  try {
    const { seconds, values } = await computeOnPostgis(cluster.port, dataset, vintages, logger);
    return { ocsZan, postgis: seconds, ...compareValues(ours, values) };
  } finally {
    cluster.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster

function ensurePostgisInstalled(): void {
  if (existsSync(path.join(PG_BIN, 'initdb')) && existsSync('/usr/share/postgresql/15/extension/postgis.control')) return;
  console.log(`PostgreSQL 15 or PostGIS missing: apt-get install -y ${PG_PACKAGE}`);
  execFileSync('apt-get', ['install', '-y', PG_PACKAGE], { stdio: 'inherit' });
}

const asPostgres = (command: string, args: string[]): string =>
  execFileSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, command), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** A TCP port free on 127.0.0.1 right now: the kernel's pick for port 0. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The postgres user must reach the data directory: every parent gets o+x when it lacks it. */
function makeTraversable(dir: string): void {
  for (let parent = path.dirname(dir); parent !== path.dirname(parent); parent = path.dirname(parent)) {
    const mode = statSync(parent).mode;
    if ((mode & 0o001) === 0) {
      console.log(`chmod o+x ${parent} (the postgres user must reach ${dir})`);
      chmodSync(parent, mode | 0o001);
    }
  }
}

/**
 * Starts a private cluster in `dataDir` (initdb on first use, owned by postgres), listening on 127.0.0.1 only, on
 * a free port, its socket in the data directory. `stop()` is idempotent and also runs on SIGINT/SIGTERM.
 */
async function startCluster(dataDir: string, logger: Logger): Promise<{ port: number; stop: () => void }> {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true });
    const postgresId = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
    chownSync(dataDir, postgresId('-u'), postgresId('-g'));
    makeTraversable(dataDir);
    logger.info(`postgis: initdb ${dataDir}`);
    asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C']);
  }
  const port = await freePort();
  const settings = [
    `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dataDir}`,
    // fsync and full-page writes off: a crash may corrupt this throw-away cluster, never anything else; not for real data.
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
    '-c shared_buffers=1GB -c work_mem=256MB -c maintenance_work_mem=512MB',
    // One backend, no parallel workers: what the SQL of the bench states as its peer.
    '-c max_parallel_workers_per_gather=0 -c max_parallel_maintenance_workers=0',
  ].join(' ');
  logger.info(`postgis: starting the cluster on 127.0.0.1:${port}`);
  asPostgres('pg_ctl', ['start', '-w', '-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-o', settings]);

  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.info('postgis: stopping the cluster');
    try {
      asPostgres('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', dataDir]);
    } catch {
      // The server may be down already (crashed, or stopped by hand): the bench's own error says more.
      console.error(`pg_ctl stop failed; see ${path.join(dataDir, 'server.log')}`);
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    stop();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { port, stop };
}

// ---------------------------------------------------------------------------------------------
// The PostGIS computation

async function computeOnPostgis(port: number, dataset: string, vintages: number[], logger: Logger): Promise<{ seconds: PeerBenchResult['postgis']; values: Map<string, number> }> {
  const psql = async (database: string, args: string[]): Promise<string> => {
    const connection = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', database];
    return (await execFileAsync(path.join(PG_BIN, 'psql'), [...connection, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })).stdout;
  };
  const runFile = (name: string, variables: Record<string, string | number>): Promise<string> =>
    psql(DATABASE, [...Object.entries(variables).flatMap(([k, v]) => ['-v', `${k}=${v}`]), '-f', path.join(SQL_DIR, name)]);
  const layers = vintages.map((year) => `ocsge_${year}`);

  await psql('postgres', ['-c', `DROP DATABASE IF EXISTS ${DATABASE}`, '-c', `CREATE DATABASE ${DATABASE}`]);
  await psql(DATABASE, ['-c', 'CREATE EXTENSION postgis']);
  const started = performance.now();

  logger.info(`postgis: loading ${layers.join(', ')} and communes with ogr2ogr`);
  await execFileAsync('ogr2ogr', [
    '-f', 'PostgreSQL', `PG:host=127.0.0.1 port=${port} user=postgres dbname=${DATABASE}`, dataset, ...layers, 'communes',
    '-lco', 'GEOMETRY_NAME=geom', '-lco', 'SPATIAL_INDEX=GIST', '-nlt', 'PROMOTE_TO_MULTI', '-gt', '65536',
  ]);
  await loadArtificialisedPairs((args) => psql(DATABASE, args), layers);
  await psql(DATABASE, ['-c', 'ANALYZE']);
  const loaded = performance.now();

  for (const year of vintages) {
    logger.info(`postgis: clipping ocsge_${year} by the communes`);
    await runFile('clip.sql', { layer: `ocsge_${year}`, clip: `clip_${year}` });
  }
  const clipped = performance.now();

  const values = new Map<string, number>();
  for (const year of vintages) {
    for (const [commune, vintage, m2] of csvRows(await runFile('stock.sql', { clip: `clip_${year}`, vintage: year }))) values.set(`stock ${commune} ${vintage}`, Number(m2));
  }
  for (const [from, to] of vintages.slice(1).map((to, i) => [vintages[i]!, to] as const)) {
    logger.info(`postgis: flux ${from}→${to}`);
    for (const [commune, f, t, artif, desartif] of csvRows(await runFile('flux.sql', { from_clip: `clip_${from}`, to_clip: `clip_${to}`, from_vintage: from, to_vintage: to }))) {
      values.set(`artificialisation ${commune} ${f}→${t}`, Number(artif));
      values.set(`desartificialisation ${commune} ${f}→${t}`, Number(desartif));
    }
  }
  const done = performance.now();
  const s = (ms: number): number => ms / 1000;
  return { seconds: { load: s(loaded - started), clip: s(clipped - loaded), flux: s(done - clipped), total: s(done - started) }, values };
}

/**
 * Table artif_class(code_cs, code_us, artificialised): every CS×US pair of the loaded vintages, classified as
 * ocs-zan's ingest does (profile `ocsge`, then the nomenclature's matrix).
 */
async function loadArtificialisedPairs(psql: (args: string[]) => Promise<string>, layers: string[]): Promise<void> {
  const query = layers.map((layer) => `SELECT code_cs, code_us FROM ${layer}`).join(' UNION ');
  const nomenclature = loadNomenclature();
  const profile = loadProfile('ocsge');
  const rows = csvRows(await psql(['-c', `COPY (${query}) TO STDOUT WITH (FORMAT csv)`])).map(([cs, us]) => {
    const classes = classify(nomenclature, profile, { cs: cs!, us: us! });
    if (!classes) throw new Error(`CS×US pair ${cs} × ${us} unknown to the nomenclature`);
    return `(${sqlString(cs!)}, ${sqlString(us!)}, ${classes.artificialised})`;
  });
  await psql(['-c', 'CREATE TABLE artif_class (code_cs text, code_us text, artificialised boolean, PRIMARY KEY (code_cs, code_us))']);
  await psql(['-c', `INSERT INTO artif_class VALUES ${rows.join(', ')}`]);
}

/** Rows of psql's `COPY … TO STDOUT (FORMAT csv)`; the values here (codes, numbers) never hold commas or quotes. */
const csvRows = (text: string): string[][] => text.split('\n').filter(Boolean).map((line) => line.split(','));

// ---------------------------------------------------------------------------------------------
// The comparison

/** ocs-zan's commune stock per vintage and flux per consecutive period, keyed like the PostGIS values. */
async function readOcsZanValues(db: string): Promise<Map<string, number>> {
  const instance = await openDuckDB(db, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    const values = new Map<string, number>();
    const stock = await conn.runAndReadAll(`SELECT code, vintage, artificialised_m2 FROM stock_summary WHERE level = 'commune'`);
    for (const row of stock.getRowObjectsJS()) values.set(`stock ${row.code} ${row.vintage}`, Number(row.artificialised_m2));
    const flux = await conn.runAndReadAll(
      `SELECT code, from_vintage, to_vintage, artificialisation_m2, desartificialisation_m2 FROM artif_flux WHERE level = 'commune' AND to_rank = from_rank + 1`,
    );
    for (const row of flux.getRowObjectsJS()) {
      values.set(`artificialisation ${row.code} ${row.from_vintage}→${row.to_vintage}`, Number(row.artificialisation_m2));
      values.set(`desartificialisation ${row.code} ${row.from_vintage}→${row.to_vintage}`, Number(row.desartificialisation_m2));
    }
    return values;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function compareValues(ocsZan: Map<string, number>, postgis: Map<string, number>): Pick<PeerBenchResult, 'compared' | 'maxDifference' | 'mismatches'> {
  const values: PeerValue[] = [...new Set([...ocsZan.keys(), ...postgis.keys()])].map((key) => {
    const a = ocsZan.get(key) ?? null;
    const b = postgis.get(key) ?? null;
    return { key, ocsZan: a, postgis: b, difference: a === null || b === null ? Infinity : Math.abs(a - b) };
  });
  return {
    compared: values.length,
    maxDifference: Math.max(0, ...values.map((v) => v.difference)),
    mismatches: values.filter((v) => v.difference > PEER_TOLERANCE_M2).sort((x, y) => y.difference - x.difference),
  };
}
