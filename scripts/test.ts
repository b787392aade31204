/**
 * `npm test`: every check, in order, with the real servers the suites need.
 *
 * 1. Type-check, fail on schema drift (schema.graphql and the typed operations must be what
 *    codegen.ts generates from the Pothos schema), check the boundaries between the folders of
 *    src/ (.dependency-cruiser.cjs), and check the formatting (biome.json; `npm run format`
 *    fixes it).
 * 2. Real servers: each of KAFKA_BROKERS, MONGODB_URL, CASSANDRA_CONTACT_POINTS and REDIS_URL
 *    that is set must be reachable; for each that is not set, a server already listening at
 *    the default address is used, and otherwise scripts/services.sh starts one. When neither
 *    works, the run fails and says why: the real-server suites never skip silently.
 * 3. vitest, with those addresses in its environment. Servers this script started are stopped
 *    afterwards.
 * 4. The fault tests (test/faults/): SIGKILLs of the service and restarts of Kafka and Redis
 *    under it. They would break any suite running next to them, so they run alone, last, only
 *    when the rest passed, against the same servers. Restarting is scripts/services.sh's job, so
 *    Kafka and Redis must be servers it runs: the ones this run started, or ones a
 *    `scripts/services.sh up` started with the same STREAMLENS_SERVICES_DIR (default
 *    /tmp/streamlens-services). For any others (docker compose, a remote cluster) the stage
 *    fails and says why, rather than restarting a server it does not own.
 *
 * Arguments are passed to vitest (for example `npm test -- test/unit`); such a subset run skips
 * the fault stage, except for arguments naming test/faults, which go to the fault stage alone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { restartProblems } from '../test/support/service-restarts.ts';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

interface RealServer {
  service: 'kafka' | 'ferretdb' | 'cassandra' | 'redis';
  variable: 'KAFKA_BROKERS' | 'MONGODB_URL' | 'CASSANDRA_CONTACT_POINTS' | 'REDIS_URL';
  defaultValue: string;
  address(value: string): { host: string; port: number };
}

const hostPort = (text: string, defaultPort: number) => {
  const [host, port] = text.trim().split(',')[0]!.trim().split(':');
  return { host: host || '127.0.0.1', port: port ? Number(port) : defaultPort };
};
const fromUrl = (text: string, defaultPort: number) => {
  const url = new URL(text);
  return { host: url.hostname, port: url.port ? Number(url.port) : defaultPort };
};

const SERVERS: RealServer[] = [
  { service: 'kafka', variable: 'KAFKA_BROKERS', defaultValue: '127.0.0.1:9092', address: (v) => hostPort(v, 9092) },
  { service: 'ferretdb', variable: 'MONGODB_URL', defaultValue: 'mongodb://127.0.0.1:27017/streamlens', address: (v) => fromUrl(v, 27017) },
  { service: 'cassandra', variable: 'CASSANDRA_CONTACT_POINTS', defaultValue: '127.0.0.1:9042', address: (v) => hostPort(v, 9042) },
  { service: 'redis', variable: 'REDIS_URL', defaultValue: 'redis://127.0.0.1:6379', address: (v) => fromUrl(v, 6379) },
];

function step(title: string, command: string, args: string[]): void {
  console.log(`\n▶ ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\n✖ ${title} failed`);
    process.exit(result.status ?? 1);
  }
}

function reachable({ host, port }: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 1_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function provisionServers(): Promise<string[]> {
  console.log('\n▶ real servers');
  const missing: RealServer[] = [];
  for (const server of SERVERS) {
    const configured = process.env[server.variable];
    const value = configured || server.defaultValue;
    if (await reachable(server.address(value))) {
      process.env[server.variable] = value;
      console.log(`  ${server.variable}=${value} (${configured ? 'configured' : 'already running'})`);
    } else if (configured) {
      console.error(`✖ ${server.variable}=${configured} is set but nothing answers there; unset it to let npm test start its own server`);
      process.exit(1);
    } else {
      missing.push(server);
    }
  }
  if (missing.length === 0) return [];
  const services = missing.map((s) => s.service);
  console.log(`  starting ${services.join(', ')} with scripts/services.sh (the first run downloads and builds them)`);
  const result = spawnSync('bash', [join(root, 'scripts', 'services.sh'), 'up', ...services], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    console.error(
      `✖ npm test needs real ${services.join(', ')} servers: none is reachable at the configured addresses, ` +
        'and scripts/services.sh could not start them (its message is above). Start them yourself and set the variables, or fix the cause.',
    );
    process.exit(1);
  }
  for (const line of result.stdout.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match && !process.env[match[1]!]) process.env[match[1]!] = match[2]!;
  }
  for (const server of missing) console.log(`  ${server.variable}=${process.env[server.variable]} (started)`);
  return services;
}

function stopServers(services: string[]): void {
  if (services.length === 0) return;
  console.log(`\n▶ stopping ${services.join(', ')}`);
  spawnSync('bash', [join(root, 'scripts', 'services.sh'), 'down', ...services], { cwd: root, stdio: 'inherit' });
}

/**
 * The browser tests drive Debian's Chromium (scripts/chromium.ts). A fresh machine may not have
 * it: install it with apt-get, refreshing the package lists only when apt knows no chromium yet.
 * When that fails the run stops and says why: the browser tests never skip silently.
 */
function ensureChromium(): void {
  const chromium = '/usr/bin/chromium';
  if (existsSync(chromium)) return;
  console.log(`\n▶ ${chromium} is missing: installing Debian's chromium package`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // stderr is read to tell "apt knows no such package" from other failures.
  const install = () =>
    spawnSync('apt-get', ['install', '-y', 'chromium'], { env, encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  let result = install();
  if (result.status !== 0 && /Unable to locate package|no installation candidate/.test(result.stderr ?? '')) {
    spawnSync('apt-get', ['update'], { env, stdio: 'inherit' });
    result = install();
  }
  if (result.status !== 0 || !existsSync(chromium)) {
    console.error(
      `${result.stderr ?? result.error?.message ?? ''}\n✖ npm test needs Chromium at ${chromium} for the browser tests, and ` +
        '`apt-get install -y chromium` failed (message above; it needs root and the Debian package lists). Install it yourself and run again.',
    );
    process.exit(1);
  }
}

step('type-check', bin('tsc'), ['-p', 'tsconfig.json']);
step('schema drift (codegen --check)', bin('graphql-codegen'), ['--config', 'codegen.ts', '--check', '--silent']);
step('dependency rules (dependency-cruiser)', bin('depcruise'), ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err']);
step('format check (biome; npm run format fixes it)', bin('biome'), ['format', '.']);
ensureChromium();
const started = await provisionServers();

/** What every vitest stage counted, for the one summary line the run ends with. */
const totals = { passed: 0, failed: 0, skipped: 0 };
const reportDir = mkdtempSync(join(tmpdir(), 'streamlens-test-report-'));

/** Adds a stage's counts from vitest's JSON report; a stage that wrote none counts as one failure. */
function countStage(reportFile: string): void {
  try {
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
    };
    totals.passed += report.numPassedTests;
    totals.failed += report.numFailedTests;
    totals.skipped += report.numPendingTests + report.numTodoTests;
  } catch {
    totals.failed += 1;
  }
}

/** vitest run with these arguments, Ctrl-C and SIGTERM forwarded; resolves with its exit code. */
async function runVitest(args: string[]): Promise<number> {
  const reportFile = join(reportDir, `stage-${Date.now()}.json`);
  const reporters = ['--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`];
  const vitest = spawn(bin('vitest'), ['run', ...reporters, ...args], { cwd: root, stdio: 'inherit', env: process.env });
  const forward = (signal: NodeJS.Signals) => vitest.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code: number = await new Promise((resolve) => vitest.once('exit', (status) => resolve(status ?? 1)));
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  countStage(reportFile);
  return code;
}

async function runFaultTests(filters: string[]): Promise<number> {
  console.log('\n▶ fault tests (SIGKILLs of the service, Kafka and Redis restarts; alone, on the same servers)');
  const problems = restartProblems(['kafka', 'redis']);
  if (problems.length > 0) {
    console.error(
      `✖ the fault tests restart Kafka and Redis through scripts/services.sh, which does not run these ones: ${problems.join('; ')}.\n` +
        '  Let npm test start the servers (stop yours), or start them with `scripts/services.sh up` and run npm test with the same STREAMLENS_SERVICES_DIR.',
    );
    return 1;
  }
  return runVitest(['--config', 'test/faults/vitest.config.ts', ...filters]);
}

const args = process.argv.slice(2);
const faultArgs = args.filter((arg) => arg.replace(/^\.\//, '').startsWith('test/faults'));
const mainArgs = args.filter((arg) => !faultArgs.includes(arg));
let code = 0;
if (args.length === 0 || mainArgs.length > 0) {
  console.log('\n▶ tests');
  code = await runVitest(mainArgs);
}
if (code === 0 && (args.length === 0 || faultArgs.length > 0)) code = await runFaultTests(faultArgs);
else if (code === 0) console.log('\n▶ fault tests skipped: a subset was asked for (`npm test -- test/faults` runs them)');
stopServers(started);
rmSync(reportDir, { recursive: true, force: true });
// One plain line over every stage, last, for whoever reads only the end of the log.
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(code);
