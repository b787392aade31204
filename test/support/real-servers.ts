/**
 * Where the real servers are, for the contract suites of the real adapters. `npm test` makes
 * sure they are reachable (it starts them with scripts/services.sh when they are not) and sets
 * these variables; a suite run without them fails with this message instead of skipping.
 */
export function requireServerEnv(name: 'KAFKA_BROKERS' | 'MONGODB_URL' | 'CASSANDRA_CONTACT_POINTS' | 'REDIS_URL'): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the suite through \`npm test\` (which starts real servers when none are reachable), ` +
        'or start them with `scripts/services.sh up` and export what it prints',
    );
  }
  return value;
}

/** A name no other test run uses: topics, databases and keyspaces are created per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
