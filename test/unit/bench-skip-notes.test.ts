/**
 * The "Not run" notes a partial bench run carries over (bench/harness/skip-notes.ts). Before, a
 * note of the form "P10 on embedded failed: …" named its backend where the filter did not look, so
 * it was carried into every later page; and a scenario's own note ("P5 real N=10000: not run") was
 * dropped by any run on that backend, P5 or not.
 */
import { describe, expect, it } from 'vitest';
import { skipNoteRedone, subjectOfSkipNote } from '../../bench/harness/skip-notes.ts';
import type { BackendName } from '../../bench/harness/cli.ts';

const P5_NOTE = 'P5 real N=10000: not run; with 2 shared cores the N=10000 arms would hold 20k+ sockets';
const FAILED_NOTE = 'P10 on embedded failed: Error: P10 baseline found 30 groups';
const run = (only: string[] | null, backends: BackendName[]) => ({ only: only ? new Set(only) : null, backends });

describe('the skip notes a partial bench run carries over', () => {
  it('reads the scenario and backend of both forms of note', () => {
    expect(subjectOfSkipNote(P5_NOTE)).toEqual({ id: 'P5', backend: 'real' });
    expect(subjectOfSkipNote(FAILED_NOTE)).toEqual({ id: 'P10', backend: 'embedded' });
    expect(subjectOfSkipNote('P10 on real: not measured: the shared Cassandra went down')).toEqual({ id: 'P10', backend: 'real' });
    expect(subjectOfSkipNote('P7 embedded: skipped')).toEqual({ id: 'P7', backend: 'embedded' });
    expect(subjectOfSkipNote('something else entirely')).toBeNull();
    expect(subjectOfSkipNote('')).toBeNull();
  });

  it('drops a note when this run ran its scenario on its backend', () => {
    expect(skipNoteRedone(FAILED_NOTE, run(['P10', 'P11'], ['embedded', 'real']))).toBe(true);
    expect(skipNoteRedone(FAILED_NOTE, run(null, ['embedded']))).toBe(true);
    expect(skipNoteRedone(P5_NOTE, run(['P5'], ['real']))).toBe(true);
  });

  it('keeps a note of a scenario or a backend this run did not run', () => {
    expect(skipNoteRedone(P5_NOTE, run(['P8'], ['real']))).toBe(false);
    expect(skipNoteRedone(P5_NOTE, run(['P5'], ['embedded']))).toBe(false);
    expect(skipNoteRedone(FAILED_NOTE, run(['P10'], ['real']))).toBe(false);
    expect(skipNoteRedone('a note in no known form', run(null, ['embedded', 'real']))).toBe(false);
  });
});
