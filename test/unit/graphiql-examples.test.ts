/**
 * The example operations people learn from can never drift from the schema: every operation
 * GraphiQL opens with, and every GraphQL example of docs/api.md's "Richer questions" and "Live
 * aggregates" sections, parses and validates against the built schema. And both are all taught:
 * each new argument, operator, enum value and field appears in the GraphiQL examples and in the docs.
 * (test/e2e/api.e2e.test.ts runs the GraphiQL queries against a server as well.)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';
import { graphiqlExamples } from '../../src/server/graphiql-examples.ts';

/**
 * graphql as Pothos loads it, its CommonJS build: vitest would give this file the ES module build,
 * a second copy that graphql refuses to validate the schema with.
 */
const { Kind, parse, validate, visit } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

/** The text of a `## ` section of docs/api.md, up to the next one. */
function docSection(title: string): string {
  const start = API_DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/api.md has no "## ${title}" section`);
  const end = API_DOC.indexOf('\n## ', start + 1);
  return API_DOC.slice(start, end < 0 ? undefined : end);
}

/** The bodies of the ```graphql fenced blocks of a Markdown text. */
function graphqlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

function operationsOf(document: DocumentNode): OperationDefinitionNode[] {
  return document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
}

/**
 * What a document uses of the richer questions: the names of input fields written in arguments
 * (`where`, `eq`, `groupByDimensions`, …), enum values (`WEEK`, `DISTINCT`) and selected fields
 * (`groupKey`, `distinct`), each prefixed with its kind so an argument and a field of the same
 * name (`distinct`) are told apart.
 */
function usedNames(document: DocumentNode): Set<string> {
  const names = new Set<string>();
  visit(document, {
    ObjectField: (node) => void names.add(`input ${node.name.value}`),
    Argument: (node) => void names.add(`argument ${node.name.value}`),
    EnumValue: (node) => void names.add(`enum ${node.value}`),
    Field: (node) => void names.add(`field ${node.name.value}`),
  });
  return names;
}

/** Every name of the contract's "Richer questions" that a learner should see used once. */
const RICHER_QUESTIONS = [
  'input where',
  'input key',
  'input eq',
  'input neq',
  'input in',
  'input notIn',
  'input exists',
  'input groupByDimensions',
  'field groupKey',
  'input distinct',
  'field distinct',
  'input rankBy',
  'enum DISTINCT',
  'enum FIVE_MINUTES',
  'enum FIFTEEN_MINUTES',
  'enum WEEK',
  'enum MONTH',
  'input timeZone',
];

/** The subscription operations of a document, as a document of their own. */
function subscriptionsOf(document: DocumentNode): DocumentNode {
  return { ...document, definitions: operationsOf(document).filter((operation) => operation.operation === 'subscription') };
}

/**
 * Every name of the contract's "Live aggregates" a learner should see used in a subscription: the
 * new arguments of the live series (`from`, `to`, `distinct`, `timeZone`, `after`), its `cursor`,
 * a merged interval, and the live `top` with its window and ranking.
 */
const LIVE_AGGREGATES = [
  'input from',
  'input to',
  'input distinct',
  'input timeZone',
  'argument after',
  'field cursor',
  'field final',
  'enum FIFTEEN_MINUTES',
  'field top',
  'input window',
  'input rankBy',
  'field entries',
];
/** What GraphiQL shows on top of that: every LiveTopQuery argument and TopUpdate field. */
const LIVE_TOP_IN_FULL = [
  'input by',
  'input value',
  'input where',
  'input dimensions',
  'input limit',
  'field from',
  'field to',
  'field watermark',
];

describe('GraphiQL example operations', () => {
  const document = parse(graphiqlExamples(Date.parse('2026-11-27T15:00:00Z')));

  it('validate against the schema', () => {
    expect(validate(schema, document).map((error) => error.message)).toEqual([]);
  });

  it('each have a unique name, so GraphiQL can run any one of them', () => {
    const names = operationsOf(document).map((operation) => operation.name?.value);
    expect(names.every((name) => typeof name === 'string')).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it('show every argument, operator, interval and field of the richer questions', () => {
    const used = usedNames(document);
    expect(RICHER_QUESTIONS.filter((name) => !used.has(name))).toEqual([]);
  });

  it('show every argument and field of the live aggregates in a subscription', () => {
    const used = usedNames(subscriptionsOf(document));
    expect([...LIVE_AGGREGATES, ...LIVE_TOP_IN_FULL].filter((name) => !used.has(name))).toEqual([]);
  });

  it('cover the UTC day the service started in, and the week before it for calendar intervals', () => {
    const text = graphiqlExamples(Date.parse('2026-11-27T15:00:00Z'));
    expect(text).toContain('from: "2026-11-27T00:00:00.000Z", to: "2026-11-28T00:00:00.000Z"');
    expect(text).toContain('from: "2026-11-21T00:00:00.000Z", to: "2026-11-28T00:00:00.000Z"');
    // The settled example: the whole UTC day before.
    expect(text).toContain('from: "2026-11-26T00:00:00.000Z", to: "2026-11-27T00:00:00.000Z"');
  });
});

describe('docs/api.md "Richer questions" examples', () => {
  const blocks = graphqlBlocks(docSection('Richer questions'));

  it('has examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  it('each validate against the schema', () => {
    const problems = blocks.flatMap((block) =>
      validate(schema, parse(block)).map((error) => `${error.message}\n  in: ${block.split('\n')[0]}`),
    );
    expect(problems).toEqual([]);
  });

  it('show every argument, operator, interval and field of the richer questions', () => {
    const used = new Set(blocks.flatMap((block) => [...usedNames(parse(block))]));
    expect(RICHER_QUESTIONS.filter((name) => !used.has(name))).toEqual([]);
  });
});

describe('docs/api.md "Live aggregates" examples', () => {
  const blocks = graphqlBlocks(docSection('Live aggregates'));

  it('each validate against the schema', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const problems = blocks.flatMap((block) =>
      validate(schema, parse(block)).map((error) => `${error.message}\n  in: ${block.split('\n')[0]}`),
    );
    expect(problems).toEqual([]);
  });

  it('show every argument and field of the live aggregates in a subscription', () => {
    const used = new Set(blocks.flatMap((block) => [...usedNames(subscriptionsOf(parse(block)))]));
    expect(LIVE_AGGREGATES.filter((name) => !used.has(name))).toEqual([]);
  });
});
