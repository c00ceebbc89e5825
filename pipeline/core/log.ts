/** Progress and messages go to stderr so that stdout stays parseable; --quiet silences all but errors. */

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Starts a throttled progress counter for long work ("ingest 2019: 120,000 features, 45,000/s"). */
  progress(label: string, unit?: string): Progress;
}

export interface Progress {
  tick(count?: number): void;
  done(): { count: number; seconds: number; perSecond: number };
}

const formatCount = (n: number): string => Math.round(n).toLocaleString('en-US');

export function createLogger(options: { quiet?: boolean; stream?: NodeJS.WritableStream } = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const write = (line: string): void => {
    if (!options.quiet) stream.write(`${line}\n`);
  };
  return {
    info: write,
    warn: (message) => write(`warning: ${message}`),
    progress(label, unit = 'features') {
      const started = performance.now();
      let count = 0;
      let lastPrint = started;
      const rate = (now: number): number => (count / Math.max(now - started, 1)) * 1000;
      return {
        tick(n = 1) {
          count += n;
          const now = performance.now();
          if (now - lastPrint > 2000) {
            lastPrint = now;
            write(`${label}: ${formatCount(count)} ${unit}, ${formatCount(rate(now))}/s`);
          }
        },
        done() {
          const now = performance.now();
          return { count, seconds: (now - started) / 1000, perSecond: rate(now) };
        },
      };
    },
  };
}

export const silentLogger: Logger = createLogger({ quiet: true });
