/** Builds the executable schema: root types, then every type file, then toSchema(). */
import { builder } from './builder.ts';
import './scalars.ts';
import './event.ts';
import './ingest.ts';
import './series.ts';
import './top.ts';
import './event-types.ts';
import './quarantine.ts';
import './set-aside.ts';
import './stream-status.ts';
import './api-keys.ts';
import './access-tokens.ts';

builder.queryType({ description: 'Read the history: events, series, top lists and the type catalog.' });
builder.mutationType({ description: 'Write events.' });
builder.subscriptionType({ description: 'Live updates, pushed as soon as the processor stores them.' });

export const schema = builder.toSchema();
