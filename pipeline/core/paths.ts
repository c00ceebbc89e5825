import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (holding package.json), whether running from sources (tsx, vitest) or from dist/. */
export const PROJECT_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
})();

/** True when this code runs from TypeScript sources (tests), false from the compiled dist/. */
export const RUNNING_FROM_SOURCE: boolean = import.meta.url.endsWith('.ts');

/**
 * Path and node flags to start a sibling module in a child process: the compiled .js from dist/,
 * or the .ts source through tsx when running from sources.
 */
export function childModule(fromUrl: string, basename: string): { file: string; execArgv: string[] } {
  const dir = path.dirname(fileURLToPath(fromUrl));
  // `node --cpu-prof …` profiles the workers too (one profile per process), which is where the time goes.
  const profiling = process.execArgv.filter((arg) => /^--(cpu|heap)-prof/.test(arg));
  return RUNNING_FROM_SOURCE
    ? { file: path.join(dir, `${basename}.ts`), execArgv: ['--import', 'tsx', ...profiling] }
    : { file: path.join(dir, `${basename}.js`), execArgv: profiling };
}

export const LAMBERT93_PROJJSON_PATH = path.join(PROJECT_ROOT, 'pipeline', 'core', 'epsg-2154.projjson.json');
