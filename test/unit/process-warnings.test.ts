import { afterEach, describe, expect, it } from 'vitest';
import { isKnownKafkajsTimeoutWarning, logProcessWarnings } from '../../src/observability/process-warnings.ts';

describe('process warnings', () => {
  let undo: (() => void) | null = null;
  afterEach(() => {
    undo?.();
    undo = null;
  });

  function recordingLogger() {
    const lines: { level: 'warn' | 'debug'; fields: Record<string, unknown>; message: string }[] = [];
    return {
      lines,
      warn: (fields: object, message: string) => void lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
      debug: (fields: object, message: string) => void lines.push({ level: 'debug', fields: fields as Record<string, unknown>, message }),
    };
  }

  /** Node delivers a warning on the next tick. */
  const nextTick = () => new Promise((resolve) => setImmediate(resolve));

  it('logs a warning as one line of the logger instead of printing it', async () => {
    const logger = recordingLogger();
    undo = logProcessWarnings(logger);
    process.emitWarning('something odd', 'ExperimentalWarning');
    await nextTick();
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({
      level: 'warn',
      fields: { warning: 'ExperimentalWarning', detail: 'something odd' },
      message: 'process warning',
    });
    expect(process.listeners('warning')).toHaveLength(1);
  });

  it("logs kafkajs's negative request-queue delay at debug, and only that one", async () => {
    const fromKafkajs = Object.assign(new Error('-1796180918459 is a negative number.'), {
      name: 'TimeoutNegativeWarning',
      stack:
        'TimeoutNegativeWarning: -1796180918459 is a negative number.\n    at RequestQueue.scheduleCheckPendingRequests (node_modules/kafkajs/src/network/requestQueue/index.js:317:37)',
    });
    const fromElsewhere = Object.assign(new Error('-5 is a negative number.'), {
      name: 'TimeoutNegativeWarning',
      stack: 'TimeoutNegativeWarning: -5 is a negative number.\n    at ours (src/live/live-series.ts:1:1)',
    });
    expect(isKnownKafkajsTimeoutWarning(fromKafkajs)).toBe(true);
    expect(isKnownKafkajsTimeoutWarning(fromElsewhere)).toBe(false);
    const logger = recordingLogger();
    undo = logProcessWarnings(logger);
    process.emit('warning', fromKafkajs);
    process.emit('warning', fromElsewhere);
    expect(logger.lines.map((line) => line.level)).toEqual(['debug', 'warn']);
  });

  it("gives Node's printer back when undone", () => {
    const before = process.listeners('warning');
    logProcessWarnings(recordingLogger())();
    expect(process.listeners('warning')).toEqual(before);
  });
});
