/**
 * docs/api.md's "Embedding analytics for your users" tells the truth, on each backend: its mint
 * mutation with its variables answers as printed (but for the token and its time), its Node
 * backend function runs as written and mints a working token, and its browser refresh code runs
 * as written (graphql-ws over Node's own WebSocket): the pong names the new expiry, and the
 * subscription opened before the refresh goes on after it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Client } from 'graphql-ws';
import { CreateApiKeyDocument, IngestDocument, ReadStreamStatusDocument } from '../generated/operations.ts';
import { execute, query, waitUntil, type Credentials } from '../support/clients.ts';
import { BACKENDS, removeDataDir, startServer, type TestServer } from '../support/server.ts';

const ADMIN_KEY = 'docs-admin-key-0123456789abcdefghijklmnopq';
const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
/** Where the browser example connects: replaced by the test server's address. */
const EXAMPLE_WS_URL = 'wss://streamlens.example.com/graphql';

function docSection(title: string): string {
  const start = API_DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/api.md has no "## ${title}" section`);
  const end = API_DOC.indexOf('\n## ', start + 1);
  return API_DOC.slice(start, end < 0 ? undefined : end);
}

const SECTION = docSection('Embedding analytics for your users');
const BLOCKS = [...SECTION.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((match) => ({ language: match[1]!, text: match[2]! }));

/** The one block of a language that contains `marker`. */
function block(language: string, marker: string): string {
  const found = BLOCKS.filter((candidate) => candidate.language === language && candidate.text.includes(marker));
  if (found.length !== 1) throw new Error(`expected one ${language} block with ${marker} in the section, found ${found.length}`);
  return found[0]!.text;
}

/** The mutation, then its variables and its printed answer: the two json blocks after it. */
const MINT_OPERATION = block('graphql', 'mutation MintCustomerToken');
const jsonBlocks = BLOCKS.filter((candidate) => candidate.language === 'json').map((candidate) => JSON.parse(candidate.text) as unknown);
const [MINT_VARIABLES, MINT_ANSWER] = jsonBlocks as [Record<string, unknown>, { createAccessToken: Record<string, unknown> }];
const BACKEND_CODE = block('js', 'export async function mintCustomerToken');
const REFRESH_CODE = block('js', 'async function refreshToken');

const moduleDir = mkdtempSync(join(tmpdir(), 'streamlens-docs-'));
let moduleCount = 0;

/** Imports a docs example as an ES module, with the given replacements and what it should export. */
async function importExample<T>(code: string, replacements: [string, string][], appended = '', prepended = ''): Promise<T> {
  let text = code;
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`the example no longer contains ${from}`);
    text = text.replaceAll(from, to);
  }
  moduleCount += 1;
  const file = join(moduleDir, `example-${moduleCount}.mjs`);
  writeFileSync(file, `${prepended}\n${text}\n${appended}\n`);
  return (await import(pathToFileURL(file).href)) as T;
}

afterAll(() => rmSync(moduleDir, { recursive: true, force: true }));

describe.each(BACKENDS)('docs/api.md "Embedding analytics for your users" on %s', (backend) => {
  let server: TestServer;
  let partner: Credentials;

  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY } });
    partner = {
      apiKey: (
        await query(
          server.url,
          CreateApiKeyDocument,
          { tenant: 'docs', scopes: ['READ', 'INGEST'], name: 'partner' },
          { apiKey: ADMIN_KEY },
        )
      ).createApiKey.key,
    };
  });

  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('mints with the printed variables and answers as printed', async () => {
    const before = Date.now();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${partner.apiKey}` },
      body: JSON.stringify({ query: MINT_OPERATION, variables: MINT_VARIABLES }),
    });
    const body = (await response.json()) as { data?: { createAccessToken: { token: string; expiresAt: string } }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      createAccessToken: { ...MINT_ANSWER.createAccessToken, token: expect.stringMatching(/^slt_/), expiresAt: expect.any(String) },
    });
    // "1h" in the variables.
    const lifetime = Date.parse(body.data!.createAccessToken.expiresAt) - before;
    expect(lifetime).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(lifetime).toBeLessThanOrEqual(3_600_000 + 1_000);
  });

  it("runs the backend's mintCustomerToken as written, and its token reads", async () => {
    vi.stubEnv('STREAMLENS_URL', server.url);
    vi.stubEnv('STREAMLENS_KEY', partner.apiKey!);
    try {
      const { mintCustomerToken } = await importExample<{
        mintCustomerToken(customer: string): Promise<{ token: string; expiresAt: string }>;
      }>(BACKEND_CODE, []);
      const minted = await mintCustomerToken('acme');
      expect(Object.keys(minted).sort()).toEqual(['expiresAt', 'token']);
      const answer = await execute(server.url, IngestDocument, { events: [] }, { apiKey: minted.token });
      // READ only: an ingest is refused, naming the scope it lacks.
      expect(answer.errors?.map((error) => [error.extensions?.code, error.extensions?.requiredScope])).toEqual([['FORBIDDEN', 'INGEST']]);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('runs the browser refresh code as written: the pong names the new expiry, and the subscription goes on', async () => {
    const mint = async (expiresIn: string) => {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${partner.apiKey}` },
        body: JSON.stringify({
          query: 'mutation ($input: AccessTokenInput!) { createAccessToken(input: $input) { token expiresAt } }',
          variables: { input: { scopes: ['READ'], expiresIn, where: [{ key: 'customer', eq: 'acme' }] } },
        }),
      });
      return ((await response.json()) as { data: { createAccessToken: { token: string; expiresAt: string } } }).data.createAccessToken;
    };
    const first = await mint('10m');
    const fresh = await mint('2h');
    // What the page's backend route answers: the first token at load, the fresh one at the refresh.
    const handedOut = [first.token, fresh.token];
    (globalThis as { docsExampleToken?: () => Promise<string> }).docsExampleToken = async () => handedOut.shift()!;
    const logged: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void logged.push(line));
    const example = await importExample<{ client: Client; refreshToken(): Promise<void> }>(
      REFRESH_CODE,
      [
        [`from 'graphql-ws'`, `from ${JSON.stringify(import.meta.resolve('graphql-ws'))}`],
        [EXAMPLE_WS_URL, server.url.replace(/^http/, 'ws')],
      ],
      'export { client, refreshToken };',
      'const getTokenFromYourBackend = globalThis.docsExampleToken;',
    );
    const received: string[] = [];
    const ended: unknown[] = [];
    try {
      example.client.subscribe<{ events: { node: { id: string } } }>(
        { query: 'subscription { events(filter: { types: ["purchase"] }) { node { id } } }' },
        {
          next: (result) => void (result.data && received.push(result.data.events.node.id)),
          error: (error) => void ended.push(error),
          complete: () => {},
        },
      );
      await waitUntil(
        async () => (await query(server.url, ReadStreamStatusDocument, undefined, partner)).streamStatus.liveSubscriptions === 1,
        10_000,
        'the example subscription to be live',
      );

      await example.refreshToken();
      await waitUntil(async () => logged.includes(`token refreshed, valid until ${fresh.expiresAt}`), 10_000, 'the refresh pong');
      expect(handedOut).toEqual([]);

      await query(
        server.url,
        IngestDocument,
        { events: [{ id: 'r-1', type: 'purchase', dimensions: { customer: 'acme' }, values: {} }] },
        partner,
      );
      await waitUntil(async () => received.length > 0, 15_000, 'the event after the refresh');
      expect(received).toEqual(['r-1']);
      expect(ended).toEqual([]);
    } finally {
      log.mockRestore();
      await example.client.dispose();
    }
  });
});
