/**
 * The adapters a scenario drives in this process (a log to fill, a store to write to), opened
 * through the service's own adapter table (src/adapters/adapter-table.ts) from exactly the
 * variables given: the same adapter, with the same settings, that a service with that
 * environment would open.
 */
import { loadConfig, type Config } from '../../src/config.ts';
import { openAdapters, type OpenAdapters, type Port } from '../../src/adapters/adapter-table.ts';

/** The service's configuration for these variables alone (not this process's environment). */
export function benchConfig(env: Record<string, string | undefined>): Config {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(`the bench configuration is invalid: ${loaded.problems.join('; ')}`);
  return loaded.config;
}

export function openBenchAdapters<P extends Port>(env: Record<string, string | undefined>, ports: readonly P[]): Promise<OpenAdapters<P>> {
  return openAdapters(benchConfig(env), ports);
}
