import { Command, CommanderError } from 'commander';
import { describeError, EXIT_OK, EXIT_USER } from '../pipeline/core/errors.js';
import { TOOL_VERSION } from '../pipeline/core/version.js';
// One line per command module; each exports `register(program)`.
const commandModules: Array<() => Promise<{ register(program: Command): void }>> = [
  () => import('./commands/run.js'),
  () => import('./commands/worker.js'),
  () => import('./commands/ingest.js'),
  () => import('./commands/tiles.js'),
  () => import('./commands/portraits.js'),
  () => import('./commands/serve.js'),
  () => import('./commands/export.js'),
  () => import('./commands/dump.js'),
  () => import('./commands/nomenclature.js'),
  () => import('./commands/fixtures.js'),
];

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Builds the whole command grammar; tests use the same program through `runCli`. */
export async function buildProgram(io: CliIo = processIo): Promise<Command> {
  const program = new Command('ocs-zan')
    .description('Land-use (OCS) vintages → ZAN artificialisation and ENAF indicators, portraits and vector tiles')
    .version(TOOL_VERSION)
    // Parse errors on one line with the hint, like every other user error: the last (and with -q the only) line.
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (text, write) => write(`ocs-zan: ${text.trimEnd()} (run with --help for usage)\n`) })
    .addHelpText(
      'after',
      '\nExit codes: 0 success; 1 internal error (a bug: the stack is printed); 2 user error (bad input, flag, code or CRS: one line says what to fix).',
    )
    .exitOverride();
  for (const load of commandModules) (await load()).register(program);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** Parses argv (without node and script), runs the command and maps errors to exit codes. */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    const program = await buildProgram(io);
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are exits with code 0; parse errors are user errors already printed by commander.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USER;
    }
    const { text, exitCode } = describeError(error);
    io.stderr(`${text}\n`);
    return exitCode;
  }
}
