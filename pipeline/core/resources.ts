import { readdirSync, readFileSync } from 'node:fs';

/**
 * Samples the resident memory of this process and all its descendants (the overlay and tile workers
 * are child processes, so process.memoryUsage() alone would miss them). Linux /proc only; elsewhere
 * falls back to this process's own RSS.
 */
export function processTreeRssBytes(rootPid: number = process.pid): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return process.memoryUsage().rss;
  }
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ... ; rss (pages) is field 24.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      rss.set(pid, Number(fields[21]) * 4096);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // The process ended between readdir and read.
    }
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Tracks wall time and peak process-tree RSS of successive named phases. */
export class PhaseMeter {
  private readonly phases: Array<{ name: string; seconds: number; peakRssBytes: number }> = [];
  private current: { name: string; started: number; peak: number } | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 200) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  start(name: string): void {
    this.end();
    this.current = { name, started: performance.now(), peak: processTreeRssBytes() };
  }

  end(): void {
    if (!this.current) return;
    this.sample();
    this.phases.push({
      name: this.current.name,
      seconds: (performance.now() - this.current.started) / 1000,
      peakRssBytes: this.current.peak,
    });
    this.current = null;
  }

  /** Ends the current phase and stops sampling; returns all phases in order. */
  stop(): Array<{ name: string; seconds: number; peakRssBytes: number }> {
    this.end();
    clearInterval(this.timer);
    return this.phases;
  }

  private sample(): void {
    if (this.current) this.current.peak = Math.max(this.current.peak, processTreeRssBytes());
  }
}
