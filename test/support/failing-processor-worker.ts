/**
 * The processor's worker thread, made to die: it runs the real one (src/processor-worker.ts),
 * and throws an uncaught error where it would answer the main thread's first question for its
 * counters (a streamStatus query), so that question is never answered by it. A stand-in for a
 * bug in the processor's thread, at a moment the test chooses.
 */
import { parentPort } from 'node:worker_threads';
import '../../src/processor-worker.ts';

const port = parentPort!;
const post = port.postMessage.bind(port);
port.postMessage = (message: { kind?: string }) => {
  if (message.kind === 'status') throw new Error('the processor thread fails on purpose');
  post(message);
};
