/**
 * OGR dataset plumbing shared by the stages that read user files (ingest, territories, run metadata):
 * `PATH#layer` specs, opening with GDAL's failures turned into one-line user errors, and the files and
 * checksum that identify a dataset.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { UserError } from './errors.js';

export const LAMBERT93 = gdal.SpatialReference.fromEPSG(2154);


/** Splits `PATH#layer` (the last `#`, unless the whole string names an existing file). */
export function splitLayer(spec: string): { path: string; layer?: string } {
  const hash = spec.lastIndexOf('#');
  if (hash <= 0 || existsSync(spec)) return { path: spec };
  return { path: spec.slice(0, hash), layer: spec.slice(hash + 1) || undefined };
}

/** Opens a dataset read-only, turning GDAL's failure (missing, truncated, corrupt) into a UserError. */
export function openDataset(file: string): gdal.Dataset {
  if (!existsSync(file)) throw new UserError('file not found', { file, remedy: 'check the path given to --vintage or --multi-date' });
  let dataset: gdal.Dataset;
  try {
    gdal.lastError = null;
    dataset = gdal.open(file, 'r');
  } catch (error) {
    throw unreadable(file, error);
  }
  // A truncated FlatGeobuf opens without throwing but has no layer; GDAL's reason is in lastError.
  if (dataset.layers.count() === 0) {
    const reason = lastGdalError()?.message ?? 'no vector layer';
    dataset.close();
    throw unreadable(file, new Error(reason));
  }
  return dataset;
}

/** gdal-async types lastError as unknown; it is null or { code, message, level }. */
function lastGdalError(): { message: string; level: number } | null {
  return (gdal.lastError as { message: string; level: number } | null) ?? null;
}

/** GDAL failures reported without an exception (CE_Failure and worse) since `gdal.lastError` was reset. */
export function gdalFailure(): string | null {
  const error = lastGdalError();
  return error && error.level >= gdal.CE_Failure ? error.message : null;
}

export function unreadable(file: string, error: unknown, layer?: string): UserError {
  const reason = error instanceof Error ? error.message : String(error);
  return new UserError(`cannot read the dataset: ${reason.replace(/\s+/g, ' ').trim()}`, {
    file,
    layer,
    remedy: 'the file looks truncated or corrupt; download or export it again',
  });
}

/** Files that make up a dataset (a Shapefile's sidecars, a directory's files), sorted, for hashing and sizing. */
export function datasetFiles(file: string): string[] {
  if (statSync(file).isDirectory()) {
    const dataset = openDataset(file);
    try {
      return [...(dataset.getFileList() ?? [])].filter((f) => statSync(f).isFile()).sort();
    } finally {
      dataset.close();
    }
  }
  if (path.extname(file).toLowerCase() === '.shp') {
    const stem = file.slice(0, -4);
    return ['.shp', '.shx', '.dbf', '.prj', '.cpg']
      .flatMap((ext) => [stem + ext, stem + ext.toUpperCase()])
      .filter((f, i, all) => existsSync(f) && all.indexOf(f) === i)
      .sort();
  }
  return [file];
}

/** sha256 over a dataset's files in order (`datasetFiles`), recorded with each input. */
export async function filesSha256(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
