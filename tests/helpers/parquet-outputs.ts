import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Every OUT/parquet file's bytes, by name: two runs compare equal when their exports are byte-identical. */
export function parquetOutputs(out: string): Record<string, Buffer> {
  const dir = path.join(out, 'parquet');
  return Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort().map((f) => [f, readFileSync(path.join(dir, f))]));
}

export interface RunSummaryShards {
  shards: { total: number; reused: number; computed: number };
}

export function runSummary(out: string): RunSummaryShards {
  return JSON.parse(readFileSync(path.join(out, 'run-summary.json'), 'utf8')) as RunSummaryShards;
}
