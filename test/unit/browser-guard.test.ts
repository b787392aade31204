import { describe, expect, it } from 'vitest';
import { createBrowserPolicy } from '../../src/server/browser-guard.ts';
import { decodeStreamCursor, encodeStreamCursor, MAX_STREAM_CURSOR_PARTITIONS } from '../../src/query/cursors.ts';

const request = (fields: Partial<Parameters<ReturnType<typeof createBrowserPolicy>['check']>[0]>) => ({
  method: 'GET',
  path: '/graphql',
  host: '127.0.0.1:4000',
  origin: undefined,
  contentType: undefined,
  ...fields,
});

describe('browser policy', () => {
  const loopback = createBrowserPolicy({ corsOrigins: ['https://partner.example'], allowedHosts: null }, '127.0.0.1', '/graphql');

  it('serves IP addresses and localhost on loopback, and refuses other names (DNS rebinding)', () => {
    for (const host of ['127.0.0.1:4000', 'localhost:4000', '[::1]:4000', 'LOCALHOST:4000', '10.0.0.7']) {
      expect(loopback.check(request({ host }))).toBeNull();
    }
    for (const host of ['evil.example:4000', 'localhost.evil.example', undefined, 'a b', 'user@127.0.0.1']) {
      expect(loopback.check(request({ host }))?.code).toBe('HOST_NOT_ALLOWED');
    }
  });

  it('does not check Host on a public address unless ALLOWED_HOSTS says so', () => {
    const publicDefault = createBrowserPolicy({ corsOrigins: [], allowedHosts: null }, '0.0.0.0', '/graphql');
    expect(publicDefault.check(request({ host: 'api.example.com' }))).toBeNull();
    const listed = createBrowserPolicy({ corsOrigins: [], allowedHosts: ['api.example.com'] }, '0.0.0.0', '/graphql');
    expect(listed.check(request({ host: 'api.example.com:443' }))).toBeNull();
    expect(listed.check(request({ host: '10.1.2.3:4000' }))).toBeNull();
    expect(listed.check(request({ host: 'other.example.com' }))?.code).toBe('HOST_NOT_ALLOWED');
  });

  it('serves no Origin, its own origin and listed origins; refuses the rest', () => {
    expect(loopback.check(request({}))).toBeNull();
    expect(loopback.check(request({ origin: 'http://127.0.0.1:4000' }))).toBeNull();
    expect(loopback.check(request({ origin: 'https://partner.example' }))).toBeNull();
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:4001']) {
      expect(loopback.check(request({ origin }))?.code).toBe('ORIGIN_NOT_ALLOWED');
    }
    expect([
      loopback.corsAllows('https://partner.example'),
      loopback.corsAllows('https://evil.example'),
      loopback.corsAllows(null),
    ]).toEqual([true, false, false]);
  });

  it('takes POST /graphql as application/json only', () => {
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      expect(loopback.check(request({ method: 'POST', contentType }))).toBeNull();
    }
    for (const contentType of [
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/graphql',
    ]) {
      expect(loopback.check(request({ method: 'POST', contentType }))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
  });
});

describe('stream cursors', () => {
  it(`name at most ${MAX_STREAM_CURSOR_PARTITIONS} partitions`, () => {
    const position = (count: number) => new Map(Array.from({ length: count }, (_, i) => [i, 1_000_000_000_000] as [number, number]));
    expect(decodeStreamCursor(encodeStreamCursor(position(MAX_STREAM_CURSOR_PARTITIONS), Date.now())).size).toBe(
      MAX_STREAM_CURSOR_PARTITIONS,
    );
    expect(() => decodeStreamCursor(encodeStreamCursor(position(MAX_STREAM_CURSOR_PARTITIONS + 1), Date.now()))).toThrow(
      `at most ${MAX_STREAM_CURSOR_PARTITIONS} partitions`,
    );
    expect(() => decodeStreamCursor('A'.repeat(100_000))).toThrow('too long');
  });
});
