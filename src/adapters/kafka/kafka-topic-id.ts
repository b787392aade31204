/**
 * Reads a topic's id: the UUID Kafka gives a topic when it creates it (KIP-516, Kafka 2.8 and
 * later), and never gives again, so a topic deleted and created under the same name has a new one.
 * It is the event log's identity on Kafka (see EventLog.identity).
 *
 * kafkajs (2.2.4, in maintenance) speaks Metadata up to version 6, and the id is in version 10
 * and later: kafkajs has no way to read it. So this file asks a broker itself, with one Metadata
 * v10 request on a connection of its own. Version 10 is the first to carry topic ids, and every
 * broker from 2.8 to 4.x serves it (4.0 dropped only versions 0 to 3). It is a "flexible" version
 * (KIP-482): compact strings and arrays, lengths as unsigned varints plus one, and a tagged-field
 * section after each structure, empty here.
 *
 * The alternatives were weaker: a marker record the service writes in the topic is deleted by
 * the topic's retention, and an end-offset check (no partition's end below the stored progress)
 * misses a recreated topic that has already received more records than the old one held.
 */
import { connect, type Socket } from 'node:net';

/** Metadata is API key 3; version 10 is the first with topic ids. */
const METADATA_API_KEY = 3;
const METADATA_VERSION = 10;
/** Kafka's UNKNOWN_TOPIC_OR_PARTITION error code. */
const UNKNOWN_TOPIC_OR_PARTITION = 3;
/** A broker answers a metadata request in milliseconds; past this it counts as not answering. */
const REQUEST_TIMEOUT_MS = 4_000;
/** Larger answers are not a metadata answer for one topic: refuse rather than buffer without bound. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * The id of `topic` as Kafka's own tools print it (URL-safe base64 of its 16 bytes, unpadded),
 * asked of each broker in turn until one answers.
 */
export async function readTopicId(brokers: readonly string[], topic: string, clientId: string): Promise<string> {
  const failures: string[] = [];
  for (const broker of brokers) {
    try {
      return await askBroker(broker, topic, clientId);
    } catch (error) {
      failures.push(`${broker}: ${(error as Error).message}`);
    }
  }
  throw new Error(`could not read the id of the Kafka topic ${topic} (${failures.join('; ')})`);
}

async function askBroker(broker: string, topic: string, clientId: string): Promise<string> {
  const separator = broker.lastIndexOf(':');
  const host = broker.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(broker.slice(separator + 1));
  const response = await exchange(host, port, metadataRequest(topic, clientId));
  return topicIdOf(response, topic);
}

/** The request, size prefix included. Request header v2: api key, version, correlation id, client id, tags. */
export function metadataRequest(topic: string, clientId: string): Buffer {
  const writer = new Writer();
  writer.int16(METADATA_API_KEY);
  writer.int16(METADATA_VERSION);
  writer.int32(1); // correlation id: one request per connection
  writer.legacyString(clientId); // the header's client id keeps the old INT16-length form
  writer.emptyTags();
  // Body: topics (one: an all-zero id, asked by name), allow_auto_topic_creation,
  // include_cluster_authorized_operations, include_topic_authorized_operations, tags.
  writer.unsignedVarint(1 + 1);
  writer.bytes(Buffer.alloc(16));
  writer.compactString(topic);
  writer.emptyTags();
  writer.boolean(false);
  writer.boolean(false);
  writer.boolean(false);
  writer.emptyTags();
  const body = writer.done();
  const sized = Buffer.alloc(4 + body.length);
  sized.writeInt32BE(body.length, 0);
  body.copy(sized, 4);
  return sized;
}

/**
 * The topic's id from a Metadata v10 response (without its size prefix): response header v1
 * (correlation id, tags), then throttle time, brokers, cluster id, controller id, topics.
 */
export function topicIdOf(response: Buffer, topic: string): string {
  const reader = new Reader(response);
  reader.int32(); // correlation id
  reader.skipTags();
  reader.int32(); // throttle time
  const brokerCount = reader.unsignedVarint() - 1;
  for (let i = 0; i < brokerCount; i++) {
    reader.int32(); // node id
    reader.compactString(); // host
    reader.int32(); // port
    reader.compactString(); // rack
    reader.skipTags();
  }
  reader.compactString(); // cluster id
  reader.int32(); // controller id
  const topicCount = reader.unsignedVarint() - 1;
  if (topicCount < 1) throw new Error(`the broker answered no topic for ${topic}`);
  // One topic was asked for, so the answer's first topic is it; its id precedes its partitions.
  const errorCode = reader.int16();
  const name = reader.compactString();
  const id = reader.bytes(16);
  if (errorCode === UNKNOWN_TOPIC_OR_PARTITION) throw new Error(`the topic ${topic} does not exist`);
  if (errorCode !== 0) throw new Error(`the broker answered error code ${errorCode} for the topic ${topic}`);
  if (name !== topic) throw new Error(`the broker answered for the topic ${name}, not ${topic}`);
  if (id.every((byte) => byte === 0)) throw new Error(`the topic ${topic} has no id (a broker older than Kafka 2.8?)`);
  return id.toString('base64url');
}

/** Sends one sized request on a new connection and resolves with the response, its size prefix removed. */
function exchange(host: string, port: number, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port });
    let received = Buffer.alloc(0);
    const finish = (error: Error | null, response?: Buffer) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(response!);
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => finish(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    socket.on('error', (error) => finish(error));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (size < 0 || size > MAX_RESPONSE_BYTES) return finish(new Error(`an answer of ${size} bytes is not a metadata answer`));
      if (received.length >= 4 + size) finish(null, received.subarray(4, 4 + size));
    });
    socket.on('end', () => finish(new Error('the broker closed the connection (does it serve Metadata v10, Kafka 2.8 or later?)')));
  });
}

class Writer {
  #parts: Buffer[] = [];
  int16(value: number): void {
    const buffer = Buffer.alloc(2);
    buffer.writeInt16BE(value, 0);
    this.#parts.push(buffer);
  }
  int32(value: number): void {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32BE(value, 0);
    this.#parts.push(buffer);
  }
  boolean(value: boolean): void {
    this.#parts.push(Buffer.from([value ? 1 : 0]));
  }
  bytes(value: Buffer): void {
    this.#parts.push(value);
  }
  unsignedVarint(value: number): void {
    const bytes: number[] = [];
    let rest = value;
    while (rest >= 0x80) {
      bytes.push((rest & 0x7f) | 0x80);
      rest >>>= 7;
    }
    bytes.push(rest);
    this.#parts.push(Buffer.from(bytes));
  }
  legacyString(value: string): void {
    const encoded = Buffer.from(value, 'utf8');
    this.int16(encoded.length);
    this.#parts.push(encoded);
  }
  compactString(value: string): void {
    const encoded = Buffer.from(value, 'utf8');
    this.unsignedVarint(encoded.length + 1);
    this.#parts.push(encoded);
  }
  emptyTags(): void {
    this.unsignedVarint(0);
  }
  done(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

class Reader {
  #buffer: Buffer;
  #at = 0;
  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }
  #take(length: number): Buffer {
    if (this.#at + length > this.#buffer.length) throw new Error('the metadata answer ended early');
    const slice = this.#buffer.subarray(this.#at, this.#at + length);
    this.#at += length;
    return slice;
  }
  int16(): number {
    return this.#take(2).readInt16BE(0);
  }
  int32(): number {
    return this.#take(4).readInt32BE(0);
  }
  bytes(length: number): Buffer {
    return this.#take(length);
  }
  unsignedVarint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.#take(1)[0]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error('a varint of the metadata answer is too long');
  }
  /** A compact (nullable) string: length + 1 as a varint, 0 for null. */
  compactString(): string | null {
    const lengthPlusOne = this.unsignedVarint();
    if (lengthPlusOne === 0) return null;
    return this.#take(lengthPlusOne - 1).toString('utf8');
  }
  skipTags(): void {
    const count = this.unsignedVarint();
    for (let i = 0; i < count; i++) {
      this.unsignedVarint(); // tag
      this.#take(this.unsignedVarint());
    }
  }
}
