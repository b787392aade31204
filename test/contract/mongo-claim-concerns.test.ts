/**
 * The MongoDB event store's claims are written and read at pinned concerns, whatever the
 * connection string or the server's defaults say: writes acknowledged by a majority and
 * journaled, the reads that decide ownership at read concern majority. Observed on the wire, in
 * the commands the driver sends to the real server (command monitoring).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent, type Document } from 'mongodb';
import { createMongoEventStore } from '../../src/adapters/mongo/mongo-event-store.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { StoredEvent } from '../../src/domain/event.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');

function stored(id: string, offset: number): StoredEvent {
  return {
    tenant: 'acme',
    id,
    type: 'page_view',
    timestamp: T0,
    receivedAt: T0,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
    position: { partition: 0, offset },
    quarantine: null,
  };
}

const MAJORITY_JOURNALED = { w: 'majority', j: true };
const MAJORITY_READ = { level: 'majority' };

let store: EventStore | null = null;
let database: string | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
  if (database) {
    const client = new MongoClient(requireServerEnv('MONGODB_URL'), { serverSelectionTimeoutMS: 3_000 });
    await client
      .db(database)
      .dropDatabase()
      .catch(() => {});
    await client.close();
    database = null;
  }
});

describe('MongoDB event store: claim concerns', () => {
  it('item 11: claim writes go out with write concern majority and journaled, and ownership reads with read concern majority', async () => {
    const commands: CommandStartedEvent[] = [];
    database = uniqueName('concerns');
    store = await createMongoEventStore({
      url: requireServerEnv('MONGODB_URL'),
      database,
      retentionMs: 86_400_000,
      onCommandStarted: (event) => commands.push(event),
    });
    const claimCommands = () => commands.splice(0).filter((event) => ['insert', 'find', 'delete'].includes(event.commandName));
    const concerns = (event: CommandStartedEvent) => {
      const command = event.command as Document;
      return [event.commandName, command[event.commandName], command.writeConcern ?? null, command.readConcern ?? null];
    };

    // A first claim: one insert, nothing to read back.
    commands.splice(0);
    await store.claim([stored('e1', 1), stored('e2', 2)]);
    expect(claimCommands().map(concerns)).toEqual([['insert', 'events', MAJORITY_JOURNALED, null]]);

    // A replay beside a new event: the insert meets the existing id, and the owners are read back.
    await store.claim([stored('e1', 1), stored('e3', 3)]);
    expect(claimCommands().map(concerns)).toEqual([
      ['insert', 'events', MAJORITY_JOURNALED, null],
      ['find', 'events', null, MAJORITY_READ],
    ]);

    // Setting a record aside keeps its entry, then releases the claim its position made.
    await store.setAside([
      {
        position: { partition: 0, offset: 3 },
        tenant: 'acme',
        eventId: 'e3',
        reason: 'UNPROCESSABLE',
        error: 'Error: refused',
        record: '{}',
        attempts: 4,
        setAsideAt: T0,
      },
    ]);
    expect(claimCommands().map(concerns)).toEqual([
      ['insert', 'set_aside', MAJORITY_JOURNALED, null],
      ['delete', 'events', MAJORITY_JOURNALED, null],
    ]);
  });
});
