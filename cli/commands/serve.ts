import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../../pipeline/core/log.js';
import { serveOutput } from '../../pipeline/serve/index.js';
import { options } from '../options.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}

/** `ocs-zan serve OUT`: the MapLibre viewer of OUT/tiles/ocs.pmtiles on a local HTTP server, until Ctrl-C. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('serve the map viewer of an output directory (tiles, portraits) on a local HTTP server')
    .argument('<out>', 'output directory of `ocs-zan run` (holding tiles/ocs.pmtiles)')
    .addOption(new Option('--port <port>', 'TCP port (0 = any free port)').argParser(port).default(8080))
    .addOption(new Option('--host <host>', 'address to bind; the default keeps the server local').default('127.0.0.1'))
    .addOption(options.quiet())
    .action(async (out: string, opts: { port: number; host: string; quiet: boolean }) => {
      const logger = createLogger({ quiet: opts.quiet });
      const server = await serveOutput({ outDir: out, port: opts.port, host: opts.host, logger });
      logger.info(`open ${server.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });
}
