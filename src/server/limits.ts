/**
 * Request-shape limits, enforced before any resolver runs, so that no single request can make
 * the server buffer, parse or validate without bound:
 *
 * - the request body: at most `maxRequestBytes`, counted while it is read (a lying or absent
 *   Content-Length changes nothing), and valid UTF-8 (a replacement character silently stored
 *   in a dimension would alter what the client sent). PAYLOAD_TOO_LARGE (HTTP 413) or
 *   BAD_REQUEST (400);
 * - the query text: at most `maxQueryBytes`, and brackets nested only as deep as a legitimate
 *   query can need, checked with graphql's lexer before the parser (which recurses per level
 *   and overflows the stack at a few thousand) sees the text;
 * - per operation, with fragments expanded: depth, fields, aliases and directives (fields,
 *   aliases and directives also per fragment definition, so an unused fragment bomb is refused). Measured with one memoised pass over the document, so a fragment bomb (each
 *   fragment spreading the previous one twice) costs its text size, not its expansion; and
 *   checked before graphql-js's own validation rules, some of which cost quadratic time.
 *
 * The query limits answer QUERY_TOO_COMPLEX with `extensions.limit` and `extensions.measure`.
 * They run inside yoga's envelop pipeline, so graphql-ws operations (yoga.getEnveloped) get them
 * too; the WebSocket server bounds a message's size itself (maxPayload).
 */
import { Kind, Lexer, Source, TokenKind, type DocumentNode, type GraphQLError, type SelectionSetNode } from 'graphql';
import { codedGraphQLError } from './errors.ts';
import type { Plugin } from 'graphql-yoga';
import type { RequestLimits } from '../config.ts';

/**
 * How much deeper than the field depth brackets may nest in the query text: room for argument
 * literals, up to a `properties` object at its deepest (32 levels) inside an ingest call.
 */
const LITERAL_NESTING_ALLOWANCE = 40;

export type QueryMeasure = 'bytes' | 'nesting' | 'depth' | 'fields' | 'aliases' | 'directives';

function queryTooComplex(message: string, measure: QueryMeasure, limit: number): GraphQLError {
  // spec: true follows GraphQL over HTTP, as yoga does for validation errors: 400 for
  // application/graphql-response+json clients, 200 for those that accept only application/json.
  return codedGraphQLError('QUERY_TOO_COMPLEX', message, { details: { measure, limit }, http: { status: 400, spec: true } });
}

function payloadTooLarge(limit: number): GraphQLError {
  return codedGraphQLError('PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes`, {
    details: { limit },
    http: { status: 413 },
  });
}

function badRequest(message: string): GraphQLError {
  // The code yoga gives every other malformed body (invalid JSON, a body that is not an object).
  return codedGraphQLError('BAD_REQUEST', message, { http: { status: 400 } });
}

/**
 * The body as a stream that fails once it has passed `limit` bytes or stops being UTF-8, so
 * the parser downstream never holds more than the limit.
 */
function limitedBody(
  request: Request,
  limit: number,
  fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream },
): Request {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let bytesRead = 0;
  // A native body needs the native TransformStream, a ponyfill body the ponyfill's
  // (the same workaround as yoga's own body limit: graphql-yoga issue #4583).
  const TransformStreamClass = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const checked = request.body!.pipeThrough(
    new TransformStreamClass<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytesRead += chunk.byteLength;
        if (bytesRead > limit) return controller.error(payloadTooLarge(limit));
        try {
          utf8.decode(chunk, { stream: true });
        } catch {
          return controller.error(badRequest('the request body is not valid UTF-8'));
        }
        controller.enqueue(chunk);
      },
      flush(controller) {
        try {
          utf8.decode(); // a multi-byte sequence cut off at the end
        } catch {
          controller.error(badRequest('the request body is not valid UTF-8'));
        }
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: checked,
    duplex: 'half',
  } as RequestInit);
}

/** The deepest bracket nesting of a query text, stopping as soon as it passes `limit`. */
export function bracketNesting(text: string, limit: number): number {
  const lexer = new Lexer(new Source(text));
  let depth = 0;
  let deepest = 0;
  for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
    if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.BRACKET_L || token.kind === TokenKind.PAREN_L) {
      depth += 1;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) break;
    } else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.BRACKET_R || token.kind === TokenKind.PAREN_R) {
      depth -= 1;
    }
  }
  return deepest;
}

export interface QueryShape {
  depth: number;
  fields: number;
  aliases: number;
  directives: number;
}

const EMPTY: QueryShape = { depth: 0, fields: 0, aliases: 0, directives: 0 };

/**
 * The shape of every operation and fragment of a document, fragments expanded. Each fragment is
 * measured once; a cyclic or unknown spread counts as empty (graphql-js's own rules report it).
 */
export function measureDocument(document: DocumentNode): { name: string; isOperation: boolean; shape: QueryShape }[] {
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const measured = new Map<string, QueryShape>();
  const measuring = new Set<string>();

  function fragmentShape(name: string): QueryShape {
    const known = measured.get(name);
    if (known) return known;
    const selectionSet = fragments.get(name);
    if (!selectionSet || measuring.has(name)) return EMPTY;
    measuring.add(name);
    const shape = selectionSetShape(selectionSet);
    measuring.delete(name);
    measured.set(name, shape);
    return shape;
  }

  function selectionSetShape(selectionSet: SelectionSetNode): QueryShape {
    const total = { depth: 0, fields: 0, aliases: 0, directives: 0 };
    for (const selection of selectionSet.selections) {
      total.directives += selection.directives?.length ?? 0;
      let inner: QueryShape;
      let levels = 0;
      if (selection.kind === Kind.FIELD) {
        total.fields += 1;
        if (selection.alias) total.aliases += 1;
        levels = 1;
        // Introspection's depth is bounded by graphql-js (MaxIntrospectionDepthRule); GraphiQL's
        // schema query is deeper than any data query needs, so it does not count here.
        const introspection = selection.name.value === '__schema' || selection.name.value === '__type';
        const child = selection.selectionSet ? selectionSetShape(selection.selectionSet) : EMPTY;
        inner = introspection ? { ...child, depth: 0 } : child;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = selectionSetShape(selection.selectionSet);
      } else {
        inner = fragmentShape(selection.name.value);
      }
      total.depth = Math.max(total.depth, levels + inner.depth);
      total.fields += inner.fields;
      total.aliases += inner.aliases;
      total.directives += inner.directives;
    }
    return total;
  }

  const shapes: { name: string; isOperation: boolean; shape: QueryShape }[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      const shape = selectionSetShape(definition.selectionSet);
      shape.directives += definition.directives?.length ?? 0;
      shapes.push({ name: definition.name ? `operation ${definition.name.value}` : 'the operation', isOperation: true, shape });
    } else if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      const shape = fragmentShape(definition.name.value);
      shapes.push({
        name: `fragment ${definition.name.value}`,
        isOperation: false,
        shape: { ...shape, directives: shape.directives + (definition.directives?.length ?? 0) },
      });
    }
  }
  return shapes;
}

/** The first limit the document breaks, as the error to answer, or null. */
export function checkQueryShape(document: DocumentNode, limits: RequestLimits): GraphQLError | null {
  for (const { name, isOperation, shape } of measureDocument(document)) {
    // A fragment's depth only matters where it is spread (which the operation's depth counts):
    // on its own it may be deep legitimately, as GraphiQL's introspection fragments are.
    if (isOperation && shape.depth > limits.maxQueryDepth) {
      return queryTooComplex(`${name} is ${shape.depth} levels deep; the limit is ${limits.maxQueryDepth}`, 'depth', limits.maxQueryDepth);
    }
    if (shape.fields > limits.maxQueryFields) {
      return queryTooComplex(
        `${name} selects ${shape.fields} fields with its fragments expanded; the limit is ${limits.maxQueryFields}`,
        'fields',
        limits.maxQueryFields,
      );
    }
    if (shape.aliases > limits.maxQueryAliases) {
      return queryTooComplex(
        `${name} uses ${shape.aliases} aliases with its fragments expanded; the limit is ${limits.maxQueryAliases}`,
        'aliases',
        limits.maxQueryAliases,
      );
    }
    if (shape.directives > limits.maxQueryDirectives) {
      return queryTooComplex(
        `${name} uses ${shape.directives} directives with its fragments expanded; the limit is ${limits.maxQueryDirectives}`,
        'directives',
        limits.maxQueryDirectives,
      );
    }
  }
  return null;
}

/** Checks a query text before it is parsed; throws QUERY_TOO_COMPLEX. */
export function checkQueryText(text: string, limits: RequestLimits): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > limits.maxQueryBytes) {
    throw queryTooComplex(
      `the query text is ${bytes} bytes; the limit is ${limits.maxQueryBytes} (send large inputs as variables)`,
      'bytes',
      limits.maxQueryBytes,
    );
  }
  const maxNesting = limits.maxQueryDepth + LITERAL_NESTING_ALLOWANCE;
  // Nesting needs a bracket per level: a text shorter than the limit cannot break it.
  if (text.length > maxNesting && bracketNesting(text, maxNesting) > maxNesting) {
    throw queryTooComplex(`the query nests brackets more than ${maxNesting} levels deep`, 'nesting', maxNesting);
  }
}

export function useRequestLimits(limits: RequestLimits): Plugin {
  return {
    // Runs after yoga's own parsers chose one, so it wraps whichever reads the body.
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength !== null) {
        if (!/^\d+$/.test(contentLength)) throw badRequest('the Content-Length header is not a byte count');
        // Refused before a byte of the body is read.
        if (Number(contentLength) > limits.maxRequestBytes) throw payloadTooLarge(limits.maxRequestBytes);
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser((incoming) => parse(limitedBody(incoming, limits.maxRequestBytes, fetchAPI)));
    },
    onParse({ params }) {
      checkQueryText(typeof params.source === 'string' ? params.source : params.source.body, limits);
    },
    onValidate({ params, setResult }) {
      const error = checkQueryShape(params.documentAST, limits);
      // Answering here skips graphql-js's rules, so an oversized document never reaches them.
      if (error) setResult([error]);
    },
  };
}
