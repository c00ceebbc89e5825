/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, one `.cpuprofile` per process, workers included): the functions
 * with the most self time and the most inclusive time, which is what docs/PERFORMANCE.md reports.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/cli/bin.js run …
 *   node dist/bench/profile.js /tmp/prof/CPU.….cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export function summariseProfile(profile: CpuProfile, top: number): string[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const microseconds = new Map<number, number>();
  profile.samples.forEach((id, i) => microseconds.set(id, (microseconds.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const label = (node: ProfileNode): string =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, time] of microseconds) {
    total += time;
    self.set(label(byId.get(id)!), (self.get(label(byId.get(id)!)) ?? 0) + time);
    // A recursive function counts once per sample in its inclusive time.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at)!);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + time);
    }
  }
  const rows = (times: Map<string, number>): string[] =>
    [...times]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => `${(time / 1e6).toFixed(2).padStart(8)} s ${((100 * time) / total).toFixed(1).padStart(5)} %  ${name}`);
  return [`total ${(total / 1e6).toFixed(1)} s`, '--- self', ...rows(self), '--- inclusive', ...rows(inclusive)];
}

const [file, top] = process.argv.slice(2);
if (file) console.log(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 25)).join('\n'));
else console.error('usage: node dist/bench/profile.js FILE.cpuprofile [top]');
