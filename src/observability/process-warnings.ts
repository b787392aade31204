/**
 * Node's process warnings as log lines. Node prints each warning to stderr as plain text, which
 * breaks a log made of JSON lines; here each becomes one line of the service's logger instead.
 *
 * One warning is known and harmless: kafkajs 2.2.4 schedules its request queue's next check with
 * `throttledUntil - Date.now()` while `throttledUntil` is still 0, a negative delay that Node 24
 * reports as a TimeoutNegativeWarning (and runs after 1 ms, which is what kafkajs means). Upstream:
 * tulios/kafkajs#1751. It is logged at debug, so operators are not asked to act on it.
 */

interface WarningLogger {
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}

/** Whether a warning is kafkajs's negative request-queue delay (see above). */
export function isKnownKafkajsTimeoutWarning(warning: Error): boolean {
  return warning.name === 'TimeoutNegativeWarning' && (warning.stack ?? '').includes('kafkajs');
}

/** Replaces Node's stderr printer of process warnings with the logger; returns the undo. */
export function logProcessWarnings(logger: WarningLogger): () => void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  const log = (warning: Error) => {
    const fields = { warning: warning.name, detail: warning.message };
    if (isKnownKafkajsTimeoutWarning(warning))
      logger.debug(fields, 'kafkajs scheduled a check with a negative delay (harmless, upstream #1751)');
    else logger.warn({ ...fields, stack: warning.stack }, 'process warning');
  };
  process.on('warning', log);
  return () => {
    process.off('warning', log);
    for (const printer of printers) process.on('warning', printer as (warning: Error) => void);
  };
}
