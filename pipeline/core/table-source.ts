/**
 * Reads an attribute table through GDAL: a CSV (`;` or `,` delimited, the CSV driver detects which), a
 * shapefile, or a zipped shapefile (`.zip`, opened through /vsizip/). Column names are lower-cased so that
 * callers match them case-insensitively (Cerema shapefiles use `IDCOM`, CSVs `idcom`).
 *
 * @example
 * const table = readTableSource('obs_artif_conso_com_2009_2023.csv');
 * table.rows[0].cells['idcom']; // '67482'
 */
import { existsSync } from 'node:fs';
import gdal from 'gdal-async';
import { UserError } from './errors.js';

export interface TableRow {
  /** Where the row is, for messages: `line N` in a CSV, `feature N` otherwise. */
  where: string;
  /** Cells by lower-cased column name: text (CSV), numbers or text (shapefile), null when empty. */
  cells: Readonly<Record<string, string | number | null>>;
}

export interface TableSource {
  file: string;
  /** Lower-cased column names, in file order. */
  columns: readonly string[];
  rows: readonly TableRow[];
}

export function readTableSource(file: string, what: string): TableSource {
  if (!existsSync(file)) throw new UserError(`${what} not found`, { file });
  const dataset = openTable(file, what);
  try {
    const layer = dataset.layers.get(0);
    const names = layer.fields.getNames();
    const columns = names.map((name) => name.toLowerCase());
    const isCsv = dataset.driver.description === 'CSV';
    const rows: TableRow[] = [];
    for (const feature of layer.features) {
      const values = feature.fields.toObject() as Record<string, unknown>;
      const cells: Record<string, string | number | null> = {};
      names.forEach((name, i) => {
        const value = values[name];
        cells[columns[i]!] = typeof value === 'number' || typeof value === 'string' ? value : null;
      });
      // The CSV driver numbers data rows from 1 after the header line.
      rows.push({ where: isCsv ? `line ${feature.fid + 1}` : `feature ${feature.fid}`, cells });
    }
    return { file, columns, rows };
  } finally {
    dataset.close();
  }
}

function openTable(file: string, what: string): gdal.Dataset {
  let target = file;
  if (/\.zip$/i.test(file)) {
    const inside = gdal.fs.readDir(`/vsizip/${file}`).filter((name) => /\.(shp|csv)$/i.test(name));
    if (inside.length !== 1) {
      throw new UserError(`${what}: the zip must hold exactly one .shp or .csv, found ${inside.length}`, { file, remedy: 'unzip it and pass the file itself' });
    }
    target = `/vsizip/${file}/${inside[0]}`;
  }
  try {
    return gdal.open(target);
  } catch (error) {
    throw new UserError(`${what}: GDAL cannot read it (${(error as Error).message})`, { file, remedy: 'pass a CSV or a (zipped) shapefile' });
  }
}
