/**
 * The boundaries of src/, checked by `npm test` (scripts/test.ts) with dependency-cruiser.
 * docs/architecture.md describes the layers these rules enforce; a rule here is the source of
 * truth, the prose follows it.
 *
 * The swc parser reads TypeScript here: dependency-cruiser cannot drive TypeScript 7 yet, and swc
 * sees `import type` lines too, so a type-only import across a boundary breaks a rule as well.
 */
/** Clients of the real servers: only their adapters may hold them. */
const SERVER_CLIENTS = '^node_modules/(kafkajs|mongodb|bson|cassandra-driver|ioredis|better-sqlite3)/';
/** The GraphQL machinery: the use cases below the API know nothing of it. */
const GRAPHQL = '^node_modules/(graphql|graphql-ws|graphql-yoga|graphql-sse|graphql-jit|@pothos|@graphql-yoga|@envelop|dataloader)/';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle makes two modules one: neither can be understood, tested or moved alone.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-imports-only-domain',
      comment: 'domain/ holds the rules every layer shares (events, intervals, aggregates, the log codec): it depends on nothing of ours.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
    {
      name: 'ports-import-only-domain',
      comment: "A port is an interface in the domain's words; it may not lean on a use case or an adapter.",
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { path: '^src/', pathNot: '^src/(domain|ports)/' },
    },
    {
      name: 'adapters-only-from-the-composition-root',
      comment:
        "Only main.ts (the service), processor-worker.ts (the processor's worker thread) and cli/ (the key tool) choose adapters; everything else sees ports.",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(main\\.ts|processor-worker\\.ts|cli/|adapters/)' },
      to: { path: '^src/adapters/' },
    },
    {
      name: 'server-clients-only-in-adapters',
      comment: 'kafkajs, mongodb, cassandra-driver, ioredis and better-sqlite3 stay behind the ports.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/adapters/' },
      to: { path: SERVER_CLIENTS },
    },
    {
      name: 'use-cases-know-no-graphql',
      comment: 'auth/, limits/, ingest/, stream/ and query/ are the use cases: the API (schema/, resolvers/, server/) translates for them.',
      severity: 'error',
      from: { path: '^src/(auth|limits|ingest|stream|query)/' },
      to: { path: GRAPHQL },
    },
    {
      name: 'ingest-and-stream-meet-through-the-log',
      comment:
        'Ingest appends to the event log and the processor reads it: neither calls the other, and what both need (the log record codec) is in domain/.',
      severity: 'error',
      from: { path: '^src/(ingest|stream)/' },
      to: { path: '^src/(ingest|stream)/', pathNot: '^src/$1/' },
    },
    {
      name: 'use-cases-below-the-api',
      comment: 'The use cases never reach up into the API layer or the composition root.',
      severity: 'error',
      from: { path: '^src/(domain|ports|auth|limits|ingest|stream|query|live)/' },
      to: { path: '^src/(schema|resolvers|server|app\\.ts|main\\.ts|cli)' },
    },
  ],
  options: {
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // The dashboard is a browser bundle with its own entry; it talks to the API over HTTP only.
    exclude: { path: '^src/dashboard/' },
  },
};
