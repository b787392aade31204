/**
 * `npm run demo`: sends a realistic stream of events into a running Streamlens, so the
 * dashboard (http://127.0.0.1:4000/dashboard) has something to show.
 *
 *   npm run demo -- [--rate 50] [--url http://127.0.0.1:4000/graphql] [--api-key KEY] [--backfill 15m]
 *                   [--tokens [--token-expires 1h]]
 *
 * The stream: page views (most), clicks, and purchases (rare), with customer, country, plan and
 * device dimensions and the visitor's id as a distinct key (`distinct: { user }`, for the dashboard's
 * unique-users measure); page views carry duration_ms and purchases an amount. The customer is the
 * partner's customer the event belongs to (a few big ones, a tail of small ones), a few countries
 * dominate, amounts and durations are log-normal (most small, a long tail), and the rate breathes
 * slowly around --rate so the chart has a shape. --backfill first sends that much history (event
 * times in the past), so a chart is full at once. Stops on Ctrl-C.
 *
 * --tokens is the embedding example of docs/api.md ("Embedding analytics for your users"): once the
 * history is sent, the demo mints one access token per customer with its --api-key (READ only, the
 * demo's event types, `customer eq <name>`), and prints for each a dashboard link that shows that
 * customer's events only. The token travels in the link's fragment (`#token=…`), which browsers
 * never send to a server: it stays out of access logs and Referer headers.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

export interface DemoEvent {
  id: string;
  type: 'page_view' | 'click' | 'purchase';
  timestamp?: string;
  dimensions: { customer: string; country: string; plan: string; device: string };
  values: Record<string, number>;
  /** Who the event is about: counted by `distinct: "user"` without being a dimension. */
  distinct: { user: string };
}

type Weighted<T> = readonly (readonly [T, number])[];

const TYPES: Weighted<DemoEvent['type']> = [
  ['page_view', 78],
  ['click', 19],
  ['purchase', 3],
];
/**
 * The partner's customers: whose data an event is. A few large ones and a tail, as real
 * customer bases look; `--tokens` mints one dashboard token per name.
 */
const CUSTOMERS: Weighted<string> = [
  ['acme', 40],
  ['globex', 25],
  ['initech', 18],
  ['umbrella', 12],
  ['hooli', 5],
];
export const DEMO_CUSTOMERS: readonly string[] = CUSTOMERS.map(([name]) => name);
export const DEMO_TYPES: readonly DemoEvent['type'][] = TYPES.map(([type]) => type);

const COUNTRIES: Weighted<string> = [
  ['US', 31],
  ['DE', 14],
  ['GB', 11],
  ['IN', 9],
  ['FR', 8],
  ['NL', 6],
  ['BR', 6],
  ['JP', 5],
  ['CA', 5],
  ['ES', 3],
  ['SE', 2],
];
const PLANS: Weighted<string> = [
  ['free', 70],
  ['pro', 25],
  ['enterprise', 5],
];
/** Buyers are mostly on paid plans. */
const PURCHASE_PLANS: Weighted<string> = [
  ['free', 20],
  ['pro', 60],
  ['enterprise', 20],
];
const DEVICES: Weighted<string> = [
  ['desktop', 55],
  ['mobile', 40],
  ['tablet', 5],
];

function pick<T>(choices: Weighted<T>, random: () => number): T {
  const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [choice, weight] of choices) {
    roll -= weight;
    if (roll < 0) return choice;
  }
  return choices[choices.length - 1]![0];
}

/**
 * Visitors: a pool this size, some far more active than others (squaring a uniform draw favours
 * the low ids), so at 50 events/s the unique users of a minute are well below its events.
 */
const USERS = 5_000;

function pickUser(random: () => number): string {
  return `u-${Math.floor(random() ** 2 * USERS)}`;
}

/** A log-normal draw: most values near the median, a long tail of large ones. */
function logNormal(median: number, spread: number, random: () => number): number {
  // Box–Muller: two uniform draws make one standard normal draw.
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(spread * normal);
}

/** Makes demo events with ids `<runId>-<n>`: unique per run, and safe to resend after a failure. */
export function createEventSource(random: () => number = Math.random) {
  const runId = `demo-${randomUUID().slice(0, 8)}`;
  let sequence = 0;
  return function nextEvent(timestamp?: number): DemoEvent {
    const type = pick(TYPES, random);
    const device = pick(DEVICES, random);
    const dimensions = {
      customer: pick(CUSTOMERS, random),
      country: pick(COUNTRIES, random),
      plan: pick(type === 'purchase' ? PURCHASE_PLANS : PLANS, random),
      device,
    };
    const values: Record<string, number> = {};
    if (type === 'page_view') {
      // Mobile pages take longer to load and read.
      values.duration_ms = Math.round(logNormal(device === 'mobile' ? 2_300 : 1_600, 0.7, random));
    } else if (type === 'purchase') {
      const planFactor = dimensions.plan === 'enterprise' ? 6 : dimensions.plan === 'pro' ? 1.5 : 1;
      values.amount = Math.round(logNormal(29 * planFactor, 0.8, random) * 100) / 100;
    }
    sequence += 1;
    return {
      id: `${runId}-${sequence}`,
      type,
      ...(timestamp === undefined ? {} : { timestamp: new Date(timestamp).toISOString() }),
      dimensions,
      values,
      distinct: { user: pickUser(random) },
    };
  };
}

const INGEST = `mutation DemoIngest($events: [EventInput!]!) { ingest(events: $events) { accepted rejected acks { status error { code message } } } }`;

export class ServiceUnreachableError extends Error {}

/** Sends one batch; throws ServiceUnreachableError when nothing answers at the URL. */
export async function sendBatch(
  url: string,
  events: DemoEvent[],
  apiKey?: string,
): Promise<{ accepted: number; rejected: number; firstError?: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query: INGEST, variables: { events } }) });
  } catch (error) {
    throw new ServiceUnreachableError(
      `nothing answers at ${url} (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`,
    );
  }
  const body = (await response.json().catch(() => null)) as {
    data?: { ingest: { accepted: number; rejected: number; acks: { status: string; error: { code: string; message: string } | null }[] } };
    errors?: { message: string }[];
  } | null;
  if (!body?.data) {
    throw new Error(`ingest failed (HTTP ${response.status}): ${body?.errors?.map((e) => e.message).join('; ') ?? 'no GraphQL answer'}`);
  }
  const { accepted, rejected, acks } = body.data.ingest;
  const firstError = acks.find((ack) => ack.error)?.error;
  return { accepted, rejected, ...(firstError ? { firstError: `${firstError.code}: ${firstError.message}` } : {}) };
}

const CREATE_ACCESS_TOKEN = `mutation DemoCustomerToken($input: AccessTokenInput!) { createAccessToken(input: $input) { token expiresAt } }`;

/** One customer's dashboard: what --tokens prints. */
export interface CustomerDashboard {
  customer: string;
  expiresAt: string;
  link: string;
}

/**
 * What a partner's backend asks for one of its customers: read-only, the demo's event types,
 * and only the events whose `customer` dimension is that customer's name.
 */
export function customerTokenInput(customer: string, expiresIn: string) {
  return {
    scopes: ['READ'],
    expiresIn,
    types: [...DEMO_TYPES].sort(),
    where: [{ key: 'customer', eq: customer }],
  };
}

/**
 * The dashboard link for a token. The token goes in the fragment (`#token=…`): browsers never
 * send a fragment to the server, so it stays out of access logs, proxies and Referer headers.
 */
export function dashboardLinkFor(graphqlUrl: string, token: string): string {
  const link = new URL('/dashboard', graphqlUrl);
  link.hash = new URLSearchParams({ token }).toString();
  return link.href;
}

/** Mints one customer's token with the demo's API key and makes its dashboard link. */
export async function mintCustomerDashboard(url: string, apiKey: string, customer: string, expiresIn: string): Promise<CustomerDashboard> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query: CREATE_ACCESS_TOKEN, variables: { input: customerTokenInput(customer, expiresIn) } }),
  });
  const body = (await response.json().catch(() => null)) as {
    data?: { createAccessToken: { token: string; expiresAt: string } } | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  } | null;
  const minted = body?.data?.createAccessToken;
  if (!minted) {
    const reasons = body?.errors?.map((error) => `${error.extensions?.code ?? 'ERROR'}: ${error.message}`).join('; ');
    throw new Error(`could not mint a token for customer ${customer} (HTTP ${response.status}): ${reasons ?? 'no GraphQL answer'}`);
  }
  return { customer, expiresAt: minted.expiresAt, link: dashboardLinkFor(url, minted.token) };
}

export interface DemoOptions {
  url: string;
  /** Events per second, on average. */
  rate: number;
  apiKey?: string;
  /** How much history to send first, in milliseconds (0: none). */
  backfillMs?: number;
  /** Runs once the history (--backfill) is sent, before the live stream: --tokens prints its links here. */
  afterHistory?: () => Promise<void>;
  /** Stop after this long (default: until the signal aborts). */
  durationMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const TICK_MS = 200;

/**
 * Events per second at a moment: the average rate breathing ±35% over two minutes, with a
 * little noise, like real traffic. It depends on the clock alone, so history and live join up.
 */
function rateAt(time: number, averageRate: number): number {
  return averageRate * (1 + 0.35 * Math.sin((2 * Math.PI * time) / 120_000)) * (0.85 + 0.3 * Math.random());
}
const STATUS_EVERY_MS = 5_000;
const MAX_BATCH = 1_000;

/**
 * Runs the stream until stopped. A failed batch is sent again (same ids, so never counted
 * twice) until it goes through; meanwhile no new events are made.
 */
export async function runDemo(options: DemoOptions): Promise<{ sent: number }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const nextEvent = createEventSource();
  const counts = { page_view: 0, click: 0, purchase: 0 };
  let sent = 0;
  let rejected = 0;
  const send = async (events: DemoEvent[]) => {
    const result = await sendBatch(options.url, events, options.apiKey);
    sent += result.accepted;
    rejected += result.rejected;
    for (const event of events) counts[event.type] += 1;
    if (result.firstError) log(`some events were rejected, for example: ${result.firstError}`);
  };

  if (options.backfillMs) {
    // History shaped like the live stream, oldest first, in the largest batches the API takes.
    // It runs until it has caught up with the clock (it is much faster than real time), so the
    // live stream goes on from where the history ends, with no gap.
    let batch: DemoEvent[] = [];
    for (let second = Date.now() - options.backfillMs; second < Date.now() - 1_000 && !options.signal?.aborted; second += 1_000) {
      const count = Math.round(rateAt(second, options.rate));
      for (let i = 0; i < count; i += 1) batch.push(nextEvent(second + Math.random() * 1_000));
      if (batch.length >= MAX_BATCH - options.rate * 2) {
        await send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch);
    log(`backfilled ${sent} events over the last ${Math.round(options.backfillMs / 60_000)} min`);
  }
  await options.afterHistory?.();

  const started = Date.now();
  let lastStatus = started;
  let sentAtLastStatus = sent;
  let pending: DemoEvent[] = [];
  let failing = false;
  let carry = 0;
  while (!options.signal?.aborted && (options.durationMs === undefined || Date.now() - started < options.durationMs)) {
    const tickStarted = Date.now();
    if (pending.length === 0) {
      carry += (rateAt(tickStarted, options.rate) * TICK_MS) / 1000;
      const size = Math.min(MAX_BATCH, Math.floor(carry));
      carry -= size;
      pending = Array.from({ length: size }, () => nextEvent());
    }
    if (pending.length > 0) {
      try {
        await send(pending);
        pending = [];
        if (failing) log('the service answers again; sending');
        failing = false;
      } catch (error) {
        if (!failing) log(`${(error as Error).message}; retrying every second (Ctrl-C to stop)`);
        failing = true;
        await sleep(1_000, options.signal);
        continue;
      }
    }
    if (Date.now() - lastStatus >= STATUS_EVERY_MS) {
      const perSecond = ((sent - sentAtLastStatus) * 1000) / (Date.now() - lastStatus);
      log(
        `sent ${sent} events (${perSecond.toFixed(0)}/s): ${counts.page_view} page views, ${counts.click} clicks, ` +
          `${counts.purchase} purchases${rejected ? `, ${rejected} rejected` : ''}`,
      );
      lastStatus = Date.now();
      sentAtLastStatus = sent;
    }
    await sleep(Math.max(0, TICK_MS - (Date.now() - tickStarted)), options.signal);
  }
  return { sent };
}

function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/** "90s", "15m", "2h" → milliseconds. */
function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(text);
  if (!match) throw new Error(`--backfill takes a duration like 90s, 15m or 2h, not "${text}"`);
  return Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'];
}

const USAGE = `npm run demo -- [options]

Sends a stream of demo events (page views, clicks, purchases of five customers) into a running Streamlens.

  --rate N             events per second, on average (default 50)
  --url URL            the service's GraphQL endpoint (default http://127.0.0.1:4000/graphql)
  --api-key KEY        the API key to send with (needed once keys are on; INGEST, and READ for --tokens)
  --backfill DURATION  send this much history first, e.g. 15m (default none)
  --tokens             embedding example: once the history is sent, mint one access token per customer
                       (READ only, that customer's events only) and print a dashboard link for each;
                       the token is in the link's #fragment, never sent to a server. Needs --api-key.
  --token-expires DURATION
                       how long those tokens last, at most 24h (default 1h)
  --help               this text`;

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      rate: { type: 'string', default: '50' },
      url: { type: 'string', default: 'http://127.0.0.1:4000/graphql' },
      'api-key': { type: 'string' },
      backfill: { type: 'string', default: '0s' },
      tokens: { type: 'boolean', default: false },
      'token-expires': { type: 'string', default: '1h' },
      help: { type: 'boolean', default: false },
    },
  });
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const rate = Number(args.rate);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 20_000) throw new Error(`--rate must be a number of events per second, 1 to 20000`);
  const backfillMs = parseDuration(args.backfill);
  const apiKey = args['api-key'];
  if (args.tokens && !apiKey) {
    throw new Error(
      "--tokens needs --api-key: a tenant's API key mints the tokens (and sends the events), so it needs READ and INGEST.\n" +
        'Create one with: npm run keys -- create --tenant demo --scopes INGEST,READ --name demo',
    );
  }
  const dashboard = new URL('/dashboard', args.url);

  // One empty batch first: the clearest moment to say the service is not there.
  try {
    await sendBatch(args.url, [], apiKey);
  } catch (error) {
    if (error instanceof ServiceUnreachableError) {
      console.error(`demo: ${error.message}.\nStart the service first (npm start), or point --url at it.`);
      process.exit(1);
    }
    throw error;
  }
  console.log(`demo: sending about ${rate} events/s to ${args.url}; watch ${dashboard.href} (Ctrl-C to stop)`);
  const printCustomerDashboards = async () => {
    const dashboards = [];
    for (const customer of DEMO_CUSTOMERS) {
      dashboards.push(await mintCustomerDashboard(args.url, apiKey!, customer, args['token-expires']));
    }
    console.log(
      `demo: one dashboard per customer, each showing only that customer's events (read-only, until ${dashboards[0]!.expiresAt}):`,
    );
    const width = Math.max(...DEMO_CUSTOMERS.map((customer) => customer.length));
    for (const { customer, link } of dashboards) console.log(`  ${customer.padEnd(width)}  ${link}`);
  };
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  const { sent } = await runDemo({
    url: args.url,
    rate,
    apiKey,
    backfillMs,
    signal: stop.signal,
    ...(args.tokens ? { afterHistory: printCustomerDashboards } : {}),
  });
  console.log(`demo: stopped after ${sent} events`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`demo: ${(error as Error).message}`);
    process.exit(1);
  });
}
