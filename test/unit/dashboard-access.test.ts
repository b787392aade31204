/**
 * The embedding example's pure parts: the dashboard's reading of a token link's fragment and of a
 * token's payload (checked against tokens minted by src/auth/access-tokens.ts itself, so a change
 * of the token format breaks this test rather than the page), and the demo's token input and link.
 */
import { describe, expect, it } from 'vitest';
import { encodeToken, signingKeys, type TokenClaims } from '../../src/auth/access-tokens.ts';
import {
  describeTokenView,
  fragmentWithoutToken,
  isAccessToken,
  readTokenView,
  timeUntil,
  tokenFromFragment,
} from '../../src/dashboard/access.ts';
import { createEventSource, customerTokenInput, dashboardLinkFor, DEMO_CUSTOMERS } from '../../scripts/demo.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';

const KEYS = signingKeys([{ kid: 'k1', secret: 's'.repeat(43) }]);
const EXPIRES_AT = Date.parse('2026-12-02T05:00:00.000Z');

function mint(overrides: Partial<TokenClaims> = {}): string {
  return encodeToken(
    {
      id: 'A'.repeat(22),
      tenant: 'partner',
      keyId: 'B'.repeat(16),
      scopes: ['READ'],
      issuedAt: EXPIRES_AT - 3_600_000,
      expiresAt: EXPIRES_AT,
      types: ['click', 'page_view', 'purchase'],
      where: [{ key: 'customer', operator: 'eq', value: 'acme' }],
      queriesPerSecond: null,
      eventsPerSecond: null,
      ...overrides,
    },
    KEYS,
  );
}

describe('a token link', () => {
  it('carries the token in its fragment, which the page reads and then drops', () => {
    const link = dashboardLinkFor('http://127.0.0.1:4000/graphql', 'slt_abc.def-_');
    expect(link).toBe('http://127.0.0.1:4000/dashboard#token=slt_abc.def-_');
    const { hash, search } = new URL(link);
    expect(search).toBe('');
    expect(tokenFromFragment(hash)).toBe('slt_abc.def-_');
    expect(fragmentWithoutToken(hash)).toBe('');
  });

  it('keeps the other parameters of a fragment, and finds no token where there is none', () => {
    expect(tokenFromFragment('#panel=top&token=slt_x.y')).toBe('slt_x.y');
    expect(fragmentWithoutToken('#panel=top&token=slt_x.y')).toBe('#panel=top');
    expect(tokenFromFragment('')).toBeNull();
    expect(tokenFromFragment('#')).toBeNull();
    expect(tokenFromFragment('#token=')).toBeNull();
    expect(tokenFromFragment('#tokens=slt_x.y')).toBeNull();
    for (const name of PROTOTYPE_MEMBERS) expect(tokenFromFragment(`#${name}=slt_x.y`)).toBeNull();
  });

  it('tells a token from an API key by its prefix', () => {
    expect(isAccessToken(mint())).toBe(true);
    expect(isAccessToken(`sl_${'a'.repeat(16)}_${'b'.repeat(43)}`)).toBe(false);
    expect(isAccessToken('dashboard-admin-key-0123456789abcdefghijkl')).toBe(false);
  });
});

describe("a token's view, as the page shows it", () => {
  it('reads whose view and until when from a minted token', () => {
    const view = readTokenView(mint())!;
    expect(view).toEqual({
      tenant: 'partner',
      types: ['click', 'page_view', 'purchase'],
      conditions: ['customer is acme'],
      expiresAt: EXPIRES_AT,
    });
    expect(describeTokenView(view)).toBe('customer is acme (click, page_view, purchase)');
  });

  it('words every kind of condition, and a token without a slice', () => {
    const view = readTokenView(
      mint({
        types: null,
        where: [
          { key: 'customer', operator: 'in', values: new Set(['globex', 'acme']) },
          { key: 'plan', operator: 'neq', value: 'free' },
          { key: 'country', operator: 'notIn', values: new Set(['US']) },
          { key: 'device', operator: 'exists', exists: true },
          { key: 'coupon', operator: 'exists', exists: false },
        ],
      }),
    )!;
    expect(describeTokenView(view)).toBe(
      'customer is one of acme, globex and plan is not free and country is none of US and device is present and coupon is absent',
    );
    expect(describeTokenView(readTokenView(mint({ types: null, where: [] }))!)).toBe('all of partner');
  });

  it('reads a value in any script, and nothing out of what is not a readable token', () => {
    expect(readTokenView(mint({ where: [{ key: 'customer', operator: 'eq', value: 'Zürich 東京 🚀' }] }))!.conditions).toEqual([
      'customer is Zürich 東京 🚀',
    ]);
    const token = mint();
    const [payload, signature] = token.slice('slt_'.length).split('.') as [string, string];
    for (const unreadable of [
      '',
      'slt_',
      `sl_${'a'.repeat(16)}_${'b'.repeat(43)}`,
      `slt_!!!.${signature}`,
      `slt_${Buffer.from('not json').toString('base64url')}.${signature}`,
      `slt_${Buffer.from('null').toString('base64url')}.${signature}`,
      `slt_${Buffer.from('{"ten":"t","exp":1,"typ":null,"whr":[["k","like","x"]]}').toString('base64url')}.${signature}`,
      `slt_${Buffer.from([0xff, 0xfe, 0x22]).toString('base64url')}.${signature}`,
      `slt_${payload.slice(0, -3)}`,
      ...PROTOTYPE_MEMBERS.map(
        (member) =>
          `slt_${Buffer.from(JSON.stringify({ ten: 't', exp: 1, typ: null, whr: [['k', member, 'x']] })).toString('base64url')}.x`,
      ),
    ]) {
      expect(readTokenView(unreadable), unreadable).toBeNull();
    }
  });
});

describe('how long until a token expires', () => {
  it('is said in the largest unit that fits, rounded down', () => {
    const now = EXPIRES_AT - 3_600_000;
    expect(timeUntil(EXPIRES_AT, now)).toBe('in 60 min');
    expect(timeUntil(EXPIRES_AT, EXPIRES_AT - 59_999)).toBe('in 59 s');
    expect(timeUntil(EXPIRES_AT, EXPIRES_AT - 999)).toBe('now');
    expect(timeUntil(EXPIRES_AT, EXPIRES_AT + 1)).toBe('now');
    expect(timeUntil(EXPIRES_AT, EXPIRES_AT - 3 * 3_600_000 - 61_000)).toBe('in 3 h 1 min');
  });
});

describe('the demo for embedding', () => {
  it('gives every event a customer of the five whose tokens --tokens mints', () => {
    let seed = 1;
    // A fixed pseudo-random sequence (Park–Miller), so the test is the same on every run.
    const random = () => ((seed = (seed * 48_271) % 2_147_483_647) - 1) / 2_147_483_646;
    const nextEvent = createEventSource(random);
    const customers = new Set(Array.from({ length: 2_000 }, () => nextEvent().dimensions.customer));
    expect([...customers].sort()).toEqual([...DEMO_CUSTOMERS].sort());
  });

  it("asks for a read-only token of one customer's events of the demo's types", () => {
    expect(customerTokenInput('acme', '1h')).toEqual({
      scopes: ['READ'],
      expiresIn: '1h',
      types: ['click', 'page_view', 'purchase'],
      where: [{ key: 'customer', eq: 'acme' }],
    });
  });
});
