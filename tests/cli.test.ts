import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { describeError, StageError, UserError } from '../pipeline/core/errors.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

describe('cli', () => {
  it('documents exit codes in --help', async () => {
    const { io, out } = capture();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(out.join('')).toMatch(/Exit codes: 0 success; 1 internal error.*2 user error/s);
  });

  it('rejects an unknown command with exit code 2', async () => {
    const { io, err } = capture();
    expect(await runCli(['no-such-command'], io)).toBe(2);
    expect(err.join('')).toMatch(/unknown command/);
  });

  it('prints a parse error as one line, with the --help hint on it', async () => {
    const { io, err } = capture();
    expect(await runCli(['run', '--jobs', 'x', '--quiet'], io)).toBe(2);
    expect(err.join('')).toBe("ocs-zan: error: option '-j, --jobs <n>' argument 'x' is invalid. expected a whole number >= 1 (run with --help for usage)\n");
  });

  it('prints the resolved options only with --verbose, and a user error last (alone with --quiet)', () => {
    const demo = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocs-zan-cli-')), 'OUT');
    const args = ['run', '--vintage', `2010=${demo}#no_such_layer`, '--territories', `${demo}#communes`, '--out', out];
    // In a child process: progress and options go to the process's stderr, which runCli's io does not capture.
    const lines = (extra: string[]): string[] => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'bin.ts'), ...args, ...extra], { cwd: PROJECT_ROOT, encoding: 'utf8' });
      expect(result.status).toBe(2);
      return result.stderr.trimEnd().split('\n');
    };
    const plain = lines([]);
    expect(plain.some((line) => line.startsWith('options:'))).toBe(false);
    expect(plain.at(-1)).toMatch(/^ocs-zan: error: .*no_such_layer/);
    const verbose = lines(['--verbose']);
    expect(verbose[0]).toMatch(/^options: \{"vintage":/);
    expect(verbose.at(-1)).toMatch(/^ocs-zan: error: /);
    expect(lines(['--quiet', '--verbose'])).toEqual([plain.at(-1)]);
  });
});

describe('pipes', () => {
  it('stops quietly when the reader is gone before it writes (ocs-zan … | head)', () => {
    const script = `${JSON.stringify(process.execPath)} --import tsx cli/bin.ts run --help | true; echo "exit=\${PIPESTATUS[0]}"`;
    const result = spawnSync('bash', ['-c', script], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(result.stdout.trim()).toBe('exit=0');
    expect(result.stderr).not.toMatch(/EPIPE/);
  });
});

describe('errors', () => {
  it('prints a user error as one line naming file, layer, feature and remedy', () => {
    const error = new StageError('ingest', '2019', new UserError('unknown code CS9.9', { file: 'a.gpkg', layer: 'ocs', feature: 'X1', remedy: 'map it in a profile' }));
    const { text, exitCode } = describeError(error);
    expect(exitCode).toBe(2);
    expect(text).toBe('ocs-zan: error: ingest[2019]: a.gpkg, layer ocs, feature X1: unknown code CS9.9 (map it in a profile)');
    expect(text.split('\n')).toHaveLength(1);
  });

  it('keeps the stack of an internal error, with its stage', () => {
    const { text, exitCode } = describeError(new StageError('overlay', 'partition-3', new TypeError('boom')));
    expect(exitCode).toBe(1);
    expect(text).toMatch(/^ocs-zan: internal error: overlay\[partition-3\]: TypeError: boom\n\s+at /);
  });
});
