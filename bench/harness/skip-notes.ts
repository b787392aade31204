/**
 * Which "Not run" notes of the previous results a partial run carries over. Pure
 * (test/unit/bench-skip-notes.test.ts).
 *
 * A note names its scenario and backend in one of two forms: "P5 real N=10000: not run; …" (a
 * scenario's own skip) or "P10 on embedded failed: …" (bench/run.ts, when a scenario throws). It
 * is redone, and so dropped, when this run ran that scenario on that backend: the run's own notes
 * say what happened this time. A note of a scenario or backend not run this time stays, and so
 * does one whose form names neither (it cannot be told apart from a current one).
 */
import type { BackendName, BenchOptions } from './cli.ts';

const BACKENDS: readonly string[] = ['embedded', 'real'] satisfies BackendName[];

/** A word of a note as a backend name ("real:" included), or null. */
function backendOf(word: string | undefined): BackendName | null {
  const name = word?.replace(/:$/, '');
  return name !== undefined && BACKENDS.includes(name) ? (name as BackendName) : null;
}

/** The id and backend a note names, or null when it names no backend in either form. */
export function subjectOfSkipNote(note: string): { id: string; backend: BackendName } | null {
  const [id, second, third] = note.split(' ');
  if (!id) return null;
  const backend = backendOf(second) ?? (second === 'on' ? backendOf(third) : null);
  return backend === null ? null : { id, backend };
}

export function skipNoteRedone(note: string, options: Pick<BenchOptions, 'only' | 'backends'>): boolean {
  const subject = subjectOfSkipNote(note);
  if (!subject) return false;
  const ranScenario = options.only === null || options.only.has(subject.id);
  return ranScenario && options.backends.includes(subject.backend);
}
