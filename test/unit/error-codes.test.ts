/**
 * docs/api.md documents exactly the error codes clients can see: its error table lists the codes
 * of src/errors.ts, no more and no fewer, and every code its Limits table names is one of them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.ts';

const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

/** The text of a `## ` section, up to the next one. */
function section(title: string): string {
  const start = API_DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/api.md has no "## ${title}" section`);
  const end = API_DOC.indexOf('\n## ', start + 1);
  return API_DOC.slice(start, end < 0 ? undefined : end);
}

/** The cells of a Markdown table's body rows (the header and separator rows left out). */
function tableRows(text: string): string[][] {
  const rows = text
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, line.endsWith('|') ? -1 : undefined)
        .split('|')
        .map((cell) => cell.trim()),
    );
  return rows.slice(2);
}

/** A code as the docs write it: in backticks, upper case words joined by underscores. */
const CODE = /`([A-Z]+(?:_[A-Z]+)+)[`:]/g;

/** Per-event ingest acks (`IngestError.code`) are data in a successful answer, not errors. */
const INGEST_ACK_CODE = /^INVALID_[A-Z]+$/;

describe('the error codes of docs/api.md', () => {
  it('lists in its error table exactly the codes of src/errors.ts, each once', () => {
    const documented = tableRows(section('Errors')).map(([code]) => /^`([A-Z_]+)`$/.exec(code ?? '')?.[1] ?? `not a code: ${code}`);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
  });

  it('names in its Limits table only codes of src/errors.ts (and ingest ack codes)', () => {
    const named = tableRows(section('Limits')).flatMap((cells) => [...(cells.at(-1) ?? '').matchAll(CODE)].map((match) => match[1]!));
    const errorCodes = named.filter((code) => !INGEST_ACK_CODE.test(code));
    expect(errorCodes.length).toBeGreaterThan(0);
    expect(errorCodes.filter((code) => !(ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });
});
