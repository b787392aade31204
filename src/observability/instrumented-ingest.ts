/**
 * Counts what becomes of ingested events, around the ingest service: accepted and rejected
 * from each call's acknowledgements, and every event of a call that failed as a whole as
 * refused (the client is told to retry; on Kafka part of them may be in the log all the same).
 */
import type { Counter } from 'prom-client';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { IngestEventResult } from './metrics.ts';

export function instrumentIngest(ingest: IngestService, events: Counter<'result'>): IngestService {
  const count = (result: IngestEventResult, value: number) => {
    if (value > 0) events.inc({ result }, value);
  };
  return {
    async ingest(access, batch, sentAt, idempotencyKey) {
      try {
        const result = await ingest.ingest(access, batch, sentAt, idempotencyKey);
        count('accepted', result.accepted);
        count('rejected', result.rejected);
        return result;
      } catch (error) {
        count('refused', batch.length);
        throw error;
      }
    },
    drain: () => ingest.drain(),
  };
}
