/** Reading the live service's subscriptions in unit tests: one value at a time, and expected failures. */

export async function nextValue<T>(iterator: AsyncIterator<T>): Promise<T> {
  const step = await iterator.next();
  if (step.done) throw new Error('the subscription ended');
  return step.value;
}

/**
 * An expected error's code: a StreamlensError carries it as `code`, a GraphQLError in its
 * extensions (the live engine still throws some of those; either says the same to a client).
 */
export function codeOf(error: unknown): unknown {
  const { code, extensions } = error as { code?: unknown; extensions?: { code?: unknown } };
  return code ?? extensions?.code;
}

export async function rejectionOf(promise: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: codeOf(error), message: (error as Error).message };
  }
  throw new Error('expected a rejection');
}
