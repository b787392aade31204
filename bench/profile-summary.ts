/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`, as `npm run bench -- --profile`
 * writes for the service under test into bench/results/profiles/).
 *
 *   node bench/profile-summary.ts bench/results/profiles/<name>.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, index) => {
    const node = byId.get(id)!;
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    selfMs.set(key, (selfMs.get(key) ?? 0) + ms);
    totalMs += ms;
  });
  const idle = selfMs.get('(idle)') ?? 0;
  console.log(`${file}: ${totalMs.toFixed(0)} ms sampled, ${idle.toFixed(0)} ms idle, ${(totalMs - idle).toFixed(0)} ms busy`);
  const top = [...selfMs.entries()]
    .filter(([key]) => key !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(values.top));
  for (const [key, ms] of top)
    console.log(`${ms.toFixed(0).padStart(7)} ms ${((ms / (totalMs - idle)) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
