import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { describeError, StageError, UserError } from '../pipeline/core/errors.js';

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
