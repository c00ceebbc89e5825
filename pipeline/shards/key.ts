import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { datasetFiles, filesSha256, splitLayer } from '../core/datasets.js';
import { PROJECT_ROOT } from '../core/paths.js';
import { TOOL_VERSION } from '../core/version.js';
import type { VintageSource } from '../ingest/index.js';
import type { ThresholdRules } from '../overlay/thresholds.js';
import type { ShardCommune, ShardIngestOptions } from './shard.js';

/** The code a shard's result depends on: the stage folders (sources under tsx, compiled files from dist/) and the nomenclature tables. */
const PIPELINE_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const CODE_DIRS = [...['core', 'ingest', 'overlay', 'shards'].map((stage) => path.join(PIPELINE_DIR, stage)), path.join(PROJECT_ROOT, 'nomenclature')];

let codeHash: string | undefined;

/** sha256 of the tool version and of every file the shard code and tables are made of, computed once per process. */
export function shardCodeVersion(): string {
  if (codeHash === undefined) {
    const hash = createHash('sha256').update(TOOL_VERSION);
    for (const file of CODE_DIRS.flatMap(filesUnder).sort()) hash.update(`\0${path.relative(PROJECT_ROOT, file)}\0`).update(readFileSync(file));
    codeHash = hash.digest('hex');
  }
  return codeHash;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(file) : entry.isFile() ? [file] : [];
  });
}

export interface ShardKeyInput {
  departement: string;
  sources: VintageSource[];
  ingest: ShardIngestOptions;
  communes: ShardCommune[];
  thresholds: ThresholdRules | null;
}

/**
 * The content hash naming a shard in the cache: everything its result depends on (input contents, the path
 * and layer recorded in run_metadata, options, profile, threshold rules, the communes, code and tables)
 * and nothing it does not (--jobs, the output folder). `sha256Of` memoises source checksums across shards.
 */
export async function shardKey(input: ShardKeyInput, sha256Of: (file: string) => Promise<string>): Promise<string> {
  const sources = [];
  for (const source of input.sources) {
    const file = splitLayer(source.path).path;
    sources.push({ ...source, path: source.origin ?? path.resolve(file), sha256: await sha256Of(file) });
  }
  const profile = input.ingest.profile ?? 'ocsge';
  const communes = createHash('sha256');
  for (const commune of input.communes) communes.update(`${commune.code}\0${commune.departement}\0${commune.geomWkb}\0`);
  const content = {
    code: shardCodeVersion(),
    departement: input.departement,
    sources,
    ingest: { ...input.ingest, profile: existsSync(profile) && statSync(profile).isFile() ? { file: profile, sha256: await filesSha256([profile]) } : profile },
    thresholds: input.thresholds,
    communes: communes.digest('hex'),
  };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32);
}

/** sha256 of a dataset's files (a shapefile's .shp, .dbf, .prj… together), once per path. */
export function memoisedSha256(): (file: string) => Promise<string> {
  const known = new Map<string, Promise<string>>();
  return (file) => {
    const resolved = path.resolve(file);
    if (!known.has(resolved)) known.set(resolved, filesSha256(datasetFiles(resolved)));
    return known.get(resolved)!;
  };
}
