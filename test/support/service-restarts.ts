/**
 * Restarts of the real servers, for the fault tests: through `scripts/services.sh restart`, which
 * stops a server and starts it again on the same ports over the same data.
 *
 * services.sh can only restart what it started itself, from its state folder
 * (STREAMLENS_SERVICES_DIR, default /tmp/streamlens-services). Before restarting anything, the
 * address services.sh reports for the service must be the one the tests are pointed at
 * (KAFKA_BROKERS, REDIS_URL): otherwise a restart would hit some other server, or none.
 * No vitest import: scripts/test.ts runs the same check before its fault stage.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export type RestartableService = 'kafka' | 'redis';

const SERVICES_SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'services.sh');

const VARIABLE_OF: Record<RestartableService, 'KAFKA_BROKERS' | 'REDIS_URL'> = { kafka: 'KAFKA_BROKERS', redis: 'REDIS_URL' };

/** host:port of the configured server, with localhost spelled as services.sh spells it. */
function configuredAddress(service: RestartableService): string | null {
  const value = process.env[VARIABLE_OF[service]];
  if (!value) return null;
  const hostPort = service === 'redis' ? new URL(value).host : value.split(',')[0]!.trim();
  return hostPort.replace(/^localhost(?=:)/, '127.0.0.1');
}

/** What `services.sh status SERVICE` says: state (up, starting, down) and address. */
function servicesStatus(service: RestartableService): { state: string; address: string } | null {
  const result = spawnSync('bash', [SERVICES_SCRIPT, 'status', service], { encoding: 'utf8', env: process.env });
  const fields = result.stdout.trim().split(/\s+/);
  if (fields[0] !== service || fields.length < 3) return null;
  return { state: fields[1]!, address: fields[fields.length - 1]! };
}

/**
 * Why the fault tests cannot restart these services, or an empty list when they can: each must
 * be up under services.sh (same state folder) at the address the tests use.
 */
export function restartProblems(services: RestartableService[] = ['kafka', 'redis']): string[] {
  const stateDir = process.env.STREAMLENS_SERVICES_DIR || '/tmp/streamlens-services';
  const problems: string[] = [];
  for (const service of services) {
    const wanted = configuredAddress(service);
    const status = servicesStatus(service);
    if (!wanted) problems.push(`${VARIABLE_OF[service]} is not set`);
    else if (!status || status.state !== 'up') {
      problems.push(
        `${service} at ${wanted} was not started by scripts/services.sh with the state folder ${stateDir} (status: ${status?.state ?? 'unknown'})`,
      );
    } else if (status.address !== wanted) {
      problems.push(
        `scripts/services.sh (state folder ${stateDir}) runs ${service} at ${status.address}, but ${VARIABLE_OF[service]} points at ${wanted}`,
      );
    }
  }
  return problems;
}

export function assertRestartable(services: RestartableService[] = ['kafka', 'redis']): void {
  const problems = restartProblems(services);
  if (problems.length > 0) {
    throw new Error(
      `the fault tests restart ${services.join(' and ')} through scripts/services.sh, and cannot here: ${problems.join('; ')}. ` +
        'Let npm test start the servers (nothing listening on their ports), or start them with `scripts/services.sh up` ' +
        'and set STREAMLENS_SERVICES_DIR and the STREAMLENS_*_PORT variables it was started with.',
    );
  }
}

/**
 * `scripts/services.sh restart SERVICE`, asynchronously so that the test's clients keep running
 * during the outage. Resolves with how long it took (stop, start, ready), rejects with its output.
 */
export function restartService(service: RestartableService): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SERVICES_SCRIPT, 'restart', service], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`scripts/services.sh restart ${service} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * For a test's `finally`: whatever happened, leave the service up for the tests that follow.
 * Restarts only a service that is not answering (a restart over its own data is harmless).
 */
export async function ensureServiceUp(service: RestartableService): Promise<void> {
  if (servicesStatus(service)?.state !== 'up') await restartService(service);
}
