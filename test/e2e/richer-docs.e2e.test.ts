/**
 * docs/api.md's "Richer questions" tells the truth: its ingest mutation is sent to a real server
 * on each backend, then every example operation of the section is run over HTTP and its `data`
 * must equal the JSON answer printed under it, exactly. (test/unit/graphiql-examples.test.ts
 * checks that the same examples validate against the schema and cover every new argument.)
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForProcessing } from '../support/clients.ts';
import { BACKENDS, removeDataDir, startServer, type TestServer } from '../support/server.ts';

const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

function docSection(title: string): string {
  const start = API_DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/api.md has no "## ${title}" section`);
  const end = API_DOC.indexOf('\n## ', start + 1);
  return API_DOC.slice(start, end < 0 ? undefined : end);
}

interface Example {
  name: string;
  operation: string;
  answer: unknown;
}

/** The section's mutation (the events every example answers over), and each operation with the answer printed under it. */
function examplesOf(section: string): { setup: string; examples: Example[] } {
  const blocks = [...section.matchAll(/```(graphql|json)\n([\s\S]*?)```/g)].map((match) => ({ language: match[1]!, text: match[2]! }));
  const [setup, ...rest] = blocks;
  if (setup?.language !== 'graphql' || !setup.text.startsWith('mutation')) throw new Error('the section starts with its ingest mutation');
  const examples: Example[] = [];
  for (let index = 0; index < rest.length; index += 2) {
    const [operation, answer] = [rest[index]!, rest[index + 1]];
    if (operation.language !== 'graphql' || answer?.language !== 'json') {
      throw new Error(`every example is a graphql block followed by its json answer; see: ${operation.text.slice(0, 80)}`);
    }
    const name = /^(?:query|subscription|mutation)\s+(\w+)/.exec(operation.text)?.[1] ?? operation.text.slice(0, 40);
    examples.push({ name, operation: operation.text, answer: JSON.parse(answer.text) });
  }
  return { setup: setup.text, examples };
}

const { setup, examples } = examplesOf(docSection('Richer questions'));

async function post(server: TestServer, operation: string): Promise<{ data?: unknown; errors?: unknown }> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: operation }),
  });
  return (await response.json()) as { data?: unknown; errors?: unknown };
}

describe.each(BACKENDS)('docs/api.md "Richer questions" on %s', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({ backend });
    const ingested = await post(server, setup);
    expect(ingested).toEqual({ data: { ingest: { accepted: 10 } } });
    await waitForProcessing(server.url);
  });

  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('has examples with answers', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  it.each(examples.map((example) => [example.name, example] as const))('%s answers as printed', async (_name, example) => {
    const result = await post(server, example.operation);
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual(example.answer);
  });
});
