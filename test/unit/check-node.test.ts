/**
 * scripts/check-node.cjs, the first thing `npm ci`, `npm start` and `npm test` run: on an old Node
 * it must stop with one line naming the version needed and the command that fetches it.
 * The old Node is simulated with a preload that rewrites process.versions, so the test does not
 * depend on which Node binaries the machine has.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'check-node.cjs');

function runAs(version: string) {
  const preload = join(mkdtempSync(join(tmpdir(), 'check-node-')), 'fake-version.cjs');
  writeFileSync(
    preload,
    `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '${version}' } });\n` +
      `Object.defineProperty(process, 'version', { value: 'v${version}' });\n`,
  );
  return spawnSync(process.execPath, ['--require', preload, script], { encoding: 'utf8' });
}

describe('scripts/check-node.cjs', () => {
  it('stops an older Node with one line naming the version needed and the command that fetches it', () => {
    const result = runAs('20.20.2');
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      'Streamlens needs Node.js >=22.12 (24 LTS is the target), and this is v20.20.2: run eval "$(scripts/ensure-node.sh)" first, then try again.',
    ]);
  });

  it('stops 22.11, one minor short', () => {
    expect(runAs('22.11.0').status).toBe(1);
  });

  it('lets 22.12 and 24 through silently', () => {
    for (const version of ['22.12.0', '24.21.0']) {
      const result = runAs(version);
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    }
  });
});
