/**
 * Well-formed Unicode. A JavaScript string may hold a lone surrogate (half of a UTF-16 pair),
 * which no UTF-8 encoding can carry: SQLite, MongoDB, Kafka and every client would turn it into
 * U+FFFD, so two different ids would be stored as one. Such strings are refused wherever they
 * would be stored or compared with stored ones. Pure.
 */

/** The first lone surrogate of `text` as `U+D800`, or null when the text is well-formed. */
export function loneSurrogateOf(text: string): string | null {
  if (text.isWellFormed()) return null;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a proper pair
        continue;
      }
      return `U+${unit.toString(16).toUpperCase()}`;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return `U+${unit.toString(16).toUpperCase()}`;
  }
  return null;
}

/** The error message for an ill-formed `text` found at `what` (a field or path). */
export function illFormedMessage(what: string, text: string): string {
  return `${what} must be well-formed Unicode: it holds a lone surrogate (${loneSurrogateOf(text) ?? 'none'})`;
}

/** A key as it may appear in a path or message: lone surrogates shown as U+FFFD. */
export function printableKey(key: string): string {
  return key.toWellFormed();
}

/**
 * Where in a JSON value the first ill-formed string is (an object key or a string at any
 * depth), as a path under `path` (`properties.a.b[2]`), with the offending text; null when
 * every string is well-formed. A value nested deeper than `maxDepth` is reported at its path
 * (with no text): the walk never recurses further, so hostile nesting cannot overflow the stack.
 */
export function findIllFormedString(value: unknown, path: string, maxDepth: number): { path: string; text: string | null } | null {
  if (typeof value === 'string') return value.isWellFormed() ? null : { path, text: value };
  if (typeof value !== 'object' || value === null) return null;
  if (maxDepth <= 0) return { path, text: null };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findIllFormedString(value[i], `${path}[${i}]`, maxDepth - 1);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const keyPath = `${path}.${printableKey(key)}`;
    if (!key.isWellFormed()) return { path: keyPath, text: key };
    const found = findIllFormedString((value as Record<string, unknown>)[key], keyPath, maxDepth - 1);
    if (found) return found;
  }
  return null;
}
