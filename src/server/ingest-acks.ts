/**
 * A cheaper completion of an `ingest` answer's acks. graphql-js (@graphql-tools/executor)
 * completes every ack of a batch field by field: for 100 events some 500 field executions, each
 * with its resolver, its path and its type checks. Executing the `ingest` document of the bench
 * took ~0.25 ms per request for the acks alone, about 10% of an ingest request's time on the main
 * thread (P2, bench/analysis.md).
 *
 * For a document whose selection of the acks is plain (fields of EventAck and IngestError, aliases
 * and __typename allowed; no fragments, directives or repeated names), the standard executor still
 * runs the whole operation, so every plugin, the complexity limit, every resolver error and every
 * other field are as before; only the `acks` list reaches it empty, and the acks the resolver
 * returned are completed here into the same values graphql-js would give them (ackValue). Any
 * other document runs the standard path untouched.
 */
import { Kind, type FieldNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { perOperation } from './per-operation-cache.ts';
import type { EventAck, IngestResult } from '../ingest/ingest-service.ts';

const ACKS_COMPLETED_LATER = Symbol('acks completed by the ingest ack path');

/** Where the `ingest` resolver leaves its result for the ack path; in the operation's root value. */
export interface AckHolder {
  result: IngestResult | null;
}

/**
 * What the `ingest` resolver answers: its result as it is, or, when the ack path runs for this
 * operation (its root value holds an AckHolder), the result with no acks and the acks kept aside.
 */
export function withAcksCompletedLater(root: unknown, result: IngestResult): IngestResult {
  if (typeof root !== 'object' || root === null) return result;
  const holder = (root as { [ACKS_COMPLETED_LATER]?: AckHolder })[ACKS_COMPLETED_LATER];
  if (!holder) return result;
  holder.result = result;
  return { ...result, acks: [] };
}

/** The root value of an operation the ack path runs: the original one plus the holder. */
export function rootValueWithHolder(root: unknown, holder: AckHolder): object {
  const original = typeof root === 'object' && root !== null ? root : {};
  return { ...original, [ACKS_COMPLETED_LATER]: holder };
}

type ErrorFieldName = 'code' | 'message' | 'path' | '__typename';
type AckFieldName = 'index' | 'id' | 'status' | '__typename';

export type AckField =
  | { key: string; name: AckFieldName }
  | { key: string; name: 'error'; fields: { key: string; name: ErrorFieldName }[] };

/** How the answer holds the acks: under which keys, and each ack's fields in order. */
export interface AckPlan {
  /** The response key of the `ingest` field in `data`. */
  ingestKey: string;
  /** The response key of `acks` in the `ingest` object. */
  acksKey: string;
  fields: AckField[];
}

const ACK_FIELDS = new Set<string>(['index', 'id', 'status', '__typename', 'error']);
const ERROR_FIELDS = new Set<string>(['code', 'message', 'path', '__typename']);

function responseKey(field: FieldNode): string {
  return field.alias?.value ?? field.name.value;
}

/**
 * The fields of a selection set when each is a plain field: no fragment, no directive, no
 * argument, named in `allowed`, under a response key used once; null otherwise. A key such as
 * __proto__ (an alias) would need care in the object it keys, so only __typename itself may
 * start with two underscores.
 */
function plainFields(selectionSet: SelectionSetNode | undefined, allowed: ReadonlySet<string>): FieldNode[] | null {
  if (!selectionSet) return null;
  const keys = new Set<string>();
  const fields: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) return null;
    if ((selection.directives?.length ?? 0) > 0 || (selection.arguments?.length ?? 0) > 0) return null;
    if (!allowed.has(selection.name.value)) return null;
    const key = responseKey(selection);
    if (keys.has(key) || (key.startsWith('__') && (key !== '__typename' || selection.name.value !== '__typename'))) return null;
    keys.add(key);
    fields.push(selection);
  }
  return fields;
}

/**
 * The ack plan of an operation that is one `ingest` field without directives, whose `acks` are
 * selected once, plainly (plainFields), beside other fields of IngestResult without fragments or
 * directives; null for any other operation (it then runs the standard path).
 */
export function ackPlanOf(operation: OperationDefinitionNode): AckPlan | null {
  if (operation.operation !== 'mutation' || operation.selectionSet.selections.length !== 1) return null;
  const ingest = operation.selectionSet.selections[0]!;
  if (ingest.kind !== Kind.FIELD || ingest.name.value !== 'ingest' || (ingest.directives?.length ?? 0) > 0) return null;
  const resultFields = ingest.selectionSet?.selections ?? [];
  let acks: FieldNode | null = null;
  const keys = new Set<string>();
  for (const selection of resultFields) {
    if (selection.kind !== Kind.FIELD || (selection.directives?.length ?? 0) > 0) return null;
    const key = responseKey(selection);
    if (keys.has(key)) return null;
    keys.add(key);
    if (selection.name.value === 'acks') {
      if (acks) return null;
      acks = selection;
    }
  }
  if (!acks || (acks.arguments?.length ?? 0) > 0) return null;
  const ackFields = plainFields(acks.selectionSet, ACK_FIELDS);
  if (!ackFields) return null;
  const fields: AckField[] = [];
  for (const field of ackFields) {
    const key = responseKey(field);
    const name = field.name.value;
    if (name !== 'error') {
      fields.push({ key, name: name as AckFieldName });
      continue;
    }
    const errorFields = plainFields(field.selectionSet, ERROR_FIELDS);
    if (!errorFields) return null;
    fields.push({
      key,
      name,
      fields: errorFields.map((errorField) => ({ key: responseKey(errorField), name: errorField.name.value as ErrorFieldName })),
    });
  }
  return { ingestKey: responseKey(ingest), acksKey: responseKey(acks), fields };
}

/**
 * One ack as graphql-js completes it for the plan's fields: Int, ID and String values pass as
 * they are (an index is a small integer, an id a string or null), the status is its enum value's
 * name, an absent error or path is null, and __typename names the type.
 */
export function ackValue(ack: EventAck, fields: readonly AckField[]): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  for (const field of fields) {
    switch (field.name) {
      case 'index':
        value[field.key] = ack.index;
        break;
      case 'id':
        value[field.key] = ack.id ?? null;
        break;
      case 'status':
        value[field.key] = ack.status;
        break;
      case '__typename':
        value[field.key] = 'EventAck';
        break;
      case 'error': {
        const error = ack.error;
        if (error == null) {
          value[field.key] = null;
          break;
        }
        const completed: Record<string, unknown> = {};
        for (const errorField of field.fields) {
          if (errorField.name === '__typename') completed[errorField.key] = 'IngestError';
          else completed[errorField.key] = error[errorField.name] ?? null;
        }
        value[field.key] = completed;
        break;
      }
    }
  }
  return value;
}

/**
 * Puts the acks the resolver kept aside into the executed answer, where the executor left the
 * empty list. Leaves the answer alone when the resolver did not answer (an error), or `ingest`
 * is null in it.
 */
export function withAcks<Result>(result: Result, plan: AckPlan, holder: AckHolder): Result {
  if (holder.result === null) return result;
  const data = (result as { data?: Record<string, unknown> | null }).data;
  const ingest = data?.[plan.ingestKey] as Record<string, unknown> | null | undefined;
  if (!ingest || !Array.isArray(ingest[plan.acksKey])) return result;
  const acks = holder.result.acks;
  const completed = new Array<Record<string, unknown>>(acks.length);
  for (let index = 0; index < acks.length; index++) completed[index] = ackValue(acks[index]!, plan.fields);
  ingest[plan.acksKey] = completed;
  return result;
}

export function useIngestAckCompletion(): Plugin {
  const planOf = perOperation(ackPlanOf);

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const plan = planOf(args.document, args.operationName);
      if (plan === null) return;
      setExecuteFn((execution) => {
        const holder: AckHolder = { result: null };
        const result = executeFn({ ...execution, rootValue: rootValueWithHolder(execution.rootValue, holder) });
        return isPromiseLike(result) ? result.then((settled) => withAcks(settled, plan, holder)) : withAcks(result, plan, holder);
      });
    },
  };
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
