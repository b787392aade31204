/** Rewrites docs/performance.md and its plot from bench/results/latest.json, without measuring. */
import { readFileSync } from 'node:fs';
import { writeDocs } from './harness/docs.ts';
import type { RunResults } from './harness/report.ts';

const results = JSON.parse(readFileSync(new URL('./results/latest.json', import.meta.url), 'utf8')) as RunResults;
writeDocs(results);
console.log('wrote docs/performance.md and docs/performance-latency.svg');
