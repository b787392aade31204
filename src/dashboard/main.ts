/**
 * The live dashboard page. The flow for one selection (type, value, measure, interval, time
 * zone, one or two group-by dimensions, a filter), with no polling anywhere:
 *   1. the chart is one `series` subscription with `from` (the chart's window): it first sends
 *      every existing point of the window, then each change as the bucket's new total;
 *   2. the top table is one `top` subscription over a sliding window: a first ranking at once,
 *      then a new one whenever it changes (at most one a second);
 *   3. the feed reads the latest events with the stream position they were read at, then
 *      subscribes to `events` after that position;
 *   4. the page keeps the last cursor of the chart and of the feed. After a reconnect, graphql-ws
 *      subscribes again by itself, with `after` set to those cursors (api.ts reads the variables
 *      at each re-subscription): the server sends what changed meanwhile, nothing is re-read.
 *      A cursor the server no longer takes (CURSOR_EXPIRED) starts that panel over.
 * The catalog of types and keys is read at start-up, after a reconnect and when the type picker
 * is opened; keys that appear in live events are added as they come.
 * With an access token (an end user's view: access.ts), the header says whose view it is and
 * when it expires; when the server says it has expired, the page stops and asks for a fresh one,
 * and a fresh one pasted while the old one is still valid is taken in place (api.refresh).
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { INTERVAL_MS } from '../domain/interval.ts';
import {
  DashboardEventTypesDocument,
  DashboardLatestEventsDocument,
  DashboardLiveEventsDocument,
  DashboardLiveSeriesDocument,
  DashboardLiveTopDocument,
  type DashboardEventTypesQuery,
} from './generated/operations.ts';
import {
  describeTokenView,
  fragmentWithoutToken,
  isAccessToken,
  loadCredential,
  readTokenView,
  saveCredential,
  timeUntil,
  tokenFromFragment,
  type TokenView,
} from './access.ts';
import { createApi, CURSOR_EXPIRED, SUBSCRIBER_TOO_SLOW, type Api, type ApiError, type ConnectionState } from './api.ts';
import { createChart } from './chart.ts';
import { FEED_LENGTH, mergeIntoFeed, renderFeed, type FeedEvent } from './feed.ts';
import { formatAge, formatTime } from './format.ts';
import {
  DISTINCT_KEY,
  FILTER_OPERATORS,
  groupingOf,
  measureNeedsValue,
  selectionFromUrl,
  selectionToUrl,
  whereOf,
  TOP_WINDOW,
  WINDOW_LABEL,
  WINDOW_MS,
  type FilterOperator,
  type Selection,
} from './selection.ts';
import { applyLiveUpdate, chartData, dropBucketsBefore, type Measure, type SeriesByGroup } from './series-data.ts';
import type { DashboardSnapshot } from './snapshot.ts';
import { browserTimeZone, isKnownTimeZone, timeZoneChoices } from './time-zone.ts';
import { renderTopTable, type TopRanking, type TopRow } from './top-table.ts';

type CatalogEntry = DashboardEventTypesQuery['eventTypes'][number];

const TOP_LIMIT = 10;
const BROWSER_TIME_ZONE = browserTimeZone();
const MAX_CHART_LINES = 10;

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

const view = {
  type: byId<HTMLSelectElement>('type'),
  value: byId<HTMLSelectElement>('value'),
  measure: byId<HTMLSelectElement>('measure'),
  interval: byId<HTMLSelectElement>('interval'),
  groupBy: byId<HTMLSelectElement>('group-by'),
  secondGroupBy: byId<HTMLSelectElement>('group-by-2'),
  timeZone: byId<HTMLSelectElement>('time-zone'),
  controls: byId<HTMLFormElement>('controls'),
  filterKey: byId<HTMLSelectElement>('filter-key'),
  filterOperator: byId<HTMLSelectElement>('filter-operator'),
  filterValue: byId<HTMLInputElement>('filter-value'),
  apiKeyForm: byId<HTMLFormElement>('api-key-form'),
  apiKey: byId<HTMLInputElement>('api-key'),
  access: byId<HTMLElement>('access'),
  connection: byId<HTMLElement>('connection'),
  connectionText: byId<HTMLElement>('connection-text'),
  watermark: byId<HTMLElement>('watermark'),
  problem: byId<HTMLElement>('problem'),
  chartTitle: byId<HTMLElement>('chart-title'),
  chartWindow: byId<HTMLElement>('chart-window'),
  chart: byId<HTMLElement>('chart'),
  chartEmpty: byId<HTMLElement>('chart-empty'),
  chartNote: byId<HTMLElement>('chart-note'),
  topTitle: byId<HTMLElement>('top-title'),
  topWindow: byId<HTMLElement>('top-window'),
  topKeyHead: byId<HTMLElement>('top-key-head'),
  topSumHead: byId<HTMLElement>('top-sum-head'),
  topBody: byId<HTMLTableSectionElement>('top-body'),
  topEmpty: byId<HTMLElement>('top-empty'),
  feed: byId<HTMLOListElement>('feed'),
  feedEmpty: byId<HTMLElement>('feed-empty'),
};

// A token in the link's fragment is this tab's credential from now on; the address bar drops it,
// so it is not bookmarked, shared or left in the history by accident.
const linkedToken = tokenFromFragment(location.hash);
if (linkedToken) {
  saveCredential(linkedToken);
  history.replaceState(null, '', `${location.pathname}${location.search}${fragmentWithoutToken(location.hash)}`);
}

/** What the page knows of its access token, when it signs in with one. */
interface TokenAccess {
  /** What its payload says (null: unreadable; the page then only says "access token"). */
  view: TokenView | null;
  /** Ms since the epoch: the payload's, then what the server's refresh `pong` said. */
  expiresAt: number | null;
  /** The server said so: the page stopped and waits for a fresh token. */
  expired: boolean;
}

function tokenAccessOf(credential: string | null): TokenAccess | null {
  if (!credential || !isAccessToken(credential)) return null;
  const view = readTokenView(credential);
  return { view, expiresAt: view?.expiresAt ?? null, expired: false };
}

const state = {
  selection: selectionFromUrl(location.search, BROWSER_TIME_ZONE, isKnownTimeZone),
  token: tokenAccessOf(loadCredential()),
  catalog: [] as CatalogEntry[],
  connection: 'connecting' as ConnectionState,
  series: new Map() as SeriesByGroup,
  /** What the chart's legend calls each group: its values, "no plan" where a dimension is absent. */
  groupLabels: new Map<string | null, string>(),
  watermark: null as number | null,
  top: [] as TopRow[],
  /** The top table's window as the last `top` update said: MINUTE-aligned, ms since the epoch. */
  topWindow: null as { from: number; to: number } | null,
  feed: [] as FeedEvent[],
  /** The last cursors received: what a re-subscription after a reconnect resumes from. */
  cursors: { series: null as string | null, events: null as string | null },
};

const chart = createChart(view.chart);
/** Made at start-up (at the end of this file), once everything its callbacks use exists. */
let api: Api;
/** Ends the current selection's subscriptions. */
let stopLive = () => {};
/** Bumped whenever the selection or the connection changes: answers to older requests are dropped. */
let generation = 0;

// ---- connection -------------------------------------------------------------------------

function connect(): Api {
  return createApi({
    credential: loadCredential(),
    onTokenExpired,
    onConnectionState(connection, detail) {
      if (state.token?.expired) return;
      state.connection = connection;
      renderConnection(detail);
      // The subscriptions resume by themselves (from their cursors); types and keys that appeared
      // meanwhile are read once.
      if (connection === 'resumed') void loadCatalog();
    },
  });
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  resumed: 'resumed',
  disconnected: 'disconnected',
  expired: 'token expired',
};

function renderConnection(detail?: string): void {
  view.connection.dataset.state = state.connection;
  view.connectionText.textContent = CONNECTION_TEXT[state.connection];
  view.connection.title =
    state.connection === 'resumed' ? 'Live again; what changed while disconnected was sent again from the last cursors.' : (detail ?? '');
  if (state.connection === 'disconnected') showProblem(`Live connection closed: ${detail ?? 'unknown reason'}.`);
}

/**
 * The server said the token has expired (a request, a subscription or the connection): stop
 * everything that would keep failing, keep what the page shows, and say plainly what to do.
 */
function onTokenExpired(): void {
  if (!state.token || state.token.expired) return;
  state.token.expired = true;
  clearTimeout(expiryCheck);
  stopLive();
  stopLive = () => {};
  generation += 1;
  api.dispose();
  state.connection = 'expired';
  renderConnection();
  renderAccess();
  const when = state.token.expiresAt === null ? '' : ` at ${formatTime(state.token.expiresAt)}`;
  showProblem(
    `Your access token expired${when}, so this view has stopped updating. ` +
      'Ask for a fresh one (reload the page that gave you this link, or open a new link), or paste a fresh token in the “API key or token” field.',
  );
}

/** How long past its expiry the page asks the server about the token: the server's clock may lag this one a little. */
const EXPIRY_CHECK_MARGIN_MS = 1_000;
/** How often it asks again while the server still takes the token (its clock is behind). */
const EXPIRY_RECHECK_MS = 5_000;
let expiryCheck: ReturnType<typeof setTimeout> | undefined;

/**
 * When the token's time is up, the page asks the server rather than trust this browser's clock:
 * a read then answers TOKEN_EXPIRED (and api.ts calls onTokenExpired), even on a page with
 * nothing live that would end. Tokens live at most 24 hours, within what setTimeout can wait.
 */
function watchExpiry(): void {
  clearTimeout(expiryCheck);
  const token = state.token;
  if (!token || token.expired || token.expiresAt === null) return;
  const askServer = async () => {
    try {
      await api.query(DashboardEventTypesDocument, {});
    } catch {
      // Any other failure is shown by the page's own reads.
    }
    // Only for the same token: a refreshed or replaced one has its own watch.
    if (state.token === token && !token.expired) expiryCheck = setTimeout(askServer, EXPIRY_RECHECK_MS);
  };
  expiryCheck = setTimeout(askServer, Math.max(0, token.expiresAt - Date.now() + EXPIRY_CHECK_MARGIN_MS));
}

/** The header's line about the credential: whose view a token shows, and until when. */
function renderAccess(now = Date.now()): void {
  const token = state.token;
  view.access.hidden = token === null;
  if (!token) return;
  view.access.dataset.expired = String(token.expired);
  const whose = token.view ? `Viewing ${describeTokenView(token.view)}` : 'Viewing with an access token';
  const until =
    token.expiresAt === null
      ? ''
      : token.expired
        ? ` · token expired at ${formatTime(token.expiresAt)}`
        : ` · token expires at ${formatTime(token.expiresAt)} (${timeUntil(token.expiresAt, now)})`;
  view.access.textContent = `${whose}${until}`;
}

/** Whether the token, as far as the page can tell, may read this type: the page offers no others. */
function tokenAllowsType(type: string): boolean {
  const types = state.token?.view?.types;
  return !types || types.includes(type);
}

function showProblem(message: string | null): void {
  view.problem.hidden = message === null;
  view.problem.textContent = message ?? '';
}

// ---- the catalog and the pickers -----------------------------------------------------------

/**
 * Reads the event types with their keys. Not on a timer: at start-up, after a reconnect, when the
 * type picker gets the focus (someone about to choose), and on the first event of a server that
 * had none. Keys that appear later in the chosen type's live events are added by noteKeysOf.
 */
async function loadCatalog(): Promise<void> {
  try {
    const catalog = (await api.query(DashboardEventTypesDocument, {})).eventTypes;
    // Rebuilding the pickers while one is open would close it: only when a type or key is new.
    const keysOf = (entries: CatalogEntry[]) => JSON.stringify(entries.map(({ type, dimensions, values }) => [type, dimensions, values]));
    const unchanged = keysOf(catalog) === keysOf(state.catalog);
    state.catalog = catalog;
    if (unchanged && state.selection.type) return;
    if (!state.selection.type && state.catalog.length > 0) {
      // Start on the busiest type: the one most likely to show something moving.
      const busiest = state.catalog.reduce((a, b) => (b.count > a.count ? b : a));
      state.selection = { ...state.selection, type: busiest.type };
      fillPickers();
      startLive();
    } else {
      fillPickers();
      // The top table ranks the groupBy, else the type's first dimension, which the catalog names.
      startTopIfItsDimensionChanged();
    }
  } catch (error) {
    if (state.token?.expired) return;
    if (state.connection !== 'reconnecting') showProblem(`Could not read the event types: ${(error as Error).message}`);
  }
}

/** A live event of the chosen type with a dimension or value key the catalog does not list yet: offer it. */
function noteKeysOf(event: FeedEvent): void {
  const entry = state.catalog.find((candidate) => candidate.type === event.type);
  if (!entry) return;
  const newDimensions = Object.keys(event.dimensions).filter((key) => !entry.dimensions.includes(key));
  const newValues = Object.keys(event.values).filter((key) => !entry.values.includes(key));
  if (newDimensions.length === 0 && newValues.length === 0) return;
  const known = { ...entry, dimensions: [...entry.dimensions, ...newDimensions], values: [...entry.values, ...newValues] };
  state.catalog = state.catalog.map((candidate) => (candidate === entry ? known : candidate));
  fillPickers();
  startTopIfItsDimensionChanged();
}

function fillSelect(select: HTMLSelectElement, options: [value: string, label: string][], chosen: string): void {
  select.replaceChildren(
    ...options.map(([value, label]) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
  select.value = chosen;
}

function fillPickers(): void {
  const { selection, catalog } = state;
  const types = catalog.map((entry) => entry.type);
  // A type named in the URL is kept even before its first event, so a link works on a new server
  // (unless the access token may not read it: then it is not offered).
  if (selection.type && !types.includes(selection.type) && tokenAllowsType(selection.type)) types.push(selection.type);
  fillSelect(view.type, types.length > 0 ? types.map((type) => [type, type]) : [['', 'no events yet']], selection.type ?? '');
  view.type.disabled = types.length === 0;

  const entry = catalog.find((candidate) => candidate.type === selection.type);
  const values = [...(entry?.values ?? [])];
  if (selection.value && !values.includes(selection.value)) values.push(selection.value);
  fillSelect(view.value, [['', 'none (count events)'], ...values.map((value): [string, string] => [value, value])], selection.value ?? '');

  const dimensions = [...(entry?.dimensions ?? [])];
  for (const named of [selection.groupBy, selection.secondGroupBy, selection.filter?.key]) {
    if (named && !dimensions.includes(named)) dimensions.push(named);
  }
  const dimensionOptions = dimensions.map((key): [string, string] => [key, key]);
  fillSelect(view.groupBy, [['', 'nothing'], ...dimensionOptions], selection.groupBy ?? '');
  // The second dimension groups within the first: offered once there is a first, never the same one.
  fillSelect(
    view.secondGroupBy,
    [['', 'nothing'], ...dimensionOptions.filter(([key]) => key !== selection.groupBy)],
    selection.secondGroupBy ?? '',
  );
  view.secondGroupBy.disabled = !selection.groupBy;

  fillSelect(view.filterKey, [['', 'no filter'], ...dimensionOptions], selection.filter?.key ?? '');
  view.filterOperator.value = selection.filter?.operator ?? 'eq';
  view.filterValue.value = selection.filter?.text ?? '';
  const comparesValues = !!selection.filter && selection.filter.operator !== 'exists' && selection.filter.operator !== 'absent';
  view.filterOperator.disabled = !selection.filter;
  view.filterValue.disabled = !comparesValues;

  const zones = timeZoneChoices(BROWSER_TIME_ZONE);
  if (!zones.includes(selection.timeZone)) zones.push(selection.timeZone);
  if (view.timeZone.options.length !== zones.length) {
    fillSelect(
      view.timeZone,
      zones.map((zone): [string, string] => [zone, zone === BROWSER_TIME_ZONE ? `${zone} (this browser)` : zone]),
      selection.timeZone,
    );
  }
  view.timeZone.value = selection.timeZone;

  for (const option of view.measure.options) option.disabled = measureNeedsValue(option.value as Measure) && !selection.value;
  view.measure.value = selection.measure;
  view.interval.value = selection.interval;
}

function readPickers(): Selection {
  const value = view.value.value || null;
  const measure = view.measure.value as Measure;
  const type = view.type.value || null;
  const typeChanged = type !== state.selection.type;
  // A value or dimension of another type would match nothing.
  const keep = <T>(chosen: T): T | null => (typeChanged ? null : chosen);
  const groupBy = keep(view.groupBy.value || null);
  const secondGroupBy = groupBy ? keep(view.secondGroupBy.value || null) : null;
  const filterKey = keep(view.filterKey.value || null);
  const operator = view.filterOperator.value as FilterOperator;
  return {
    type,
    value: keep(value),
    measure: measureNeedsValue(measure) && (!value || typeChanged) ? 'count' : measure,
    interval: view.interval.value as Selection['interval'],
    groupBy,
    secondGroupBy: secondGroupBy === groupBy ? null : secondGroupBy,
    filter: filterKey
      ? { key: filterKey, operator: FILTER_OPERATORS.includes(operator) ? operator : 'eq', text: view.filterValue.value }
      : null,
    timeZone: view.timeZone.value || BROWSER_TIME_ZONE,
  };
}

/** What the queries ask; a change to anything else (the measure between count, sum and average) is only a redraw. */
function queryShape(selection: Selection): string {
  const { type, value, interval, groupBy, secondGroupBy, filter, timeZone, measure } = selection;
  return JSON.stringify([type, value, interval, groupBy, secondGroupBy, whereOf(filter), timeZone, measure === 'distinct']);
}

function onPickerChange(): void {
  const previous = state.selection;
  state.selection = readPickers();
  history.replaceState(null, '', selectionToUrl(state.selection, BROWSER_TIME_ZONE));
  fillPickers();
  if (queryShape(state.selection) === queryShape(previous)) scheduleRender();
  else startLive();
}

for (const select of [
  view.type,
  view.value,
  view.measure,
  view.interval,
  view.timeZone,
  view.groupBy,
  view.secondGroupBy,
  view.filterKey,
  view.filterOperator,
]) {
  select.addEventListener('change', onPickerChange);
}
// Someone about to choose a type sees the types that appeared since the page read them.
view.type.addEventListener('focus', () => void loadCatalog());
// The value field applies when it is left or Enter is pressed (Enter submits the form: keep the page).
view.filterValue.addEventListener('change', onPickerChange);
view.controls.addEventListener('submit', (event) => {
  event.preventDefault();
  onPickerChange();
});

view.apiKey.value = loadCredential() ?? '';
view.apiKeyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const credential = view.apiKey.value.trim() || null;
  const refreshesInPlace = state.token !== null && !state.token.expired && credential !== null && isAccessToken(credential);
  saveCredential(credential);
  if (refreshesInPlace) void refreshToken(credential);
  else reconnect();
});

/** Starts over with the credential saved: a new connection, the catalog and the live view. */
function reconnect(): void {
  state.token = tokenAccessOf(loadCredential());
  showProblem(null);
  stopLive();
  api.dispose();
  state.connection = 'connecting';
  renderConnection();
  renderAccess();
  api = connect();
  watchExpiry();
  void loadCatalog();
  startLive();
}

/**
 * A fresh token while the current one still works: the open connection takes it through a
 * `ping` and its subscriptions go on; the `pong` says the new expiry. Without an open connection,
 * or from a server that does not refresh that way, the page reconnects with it instead.
 */
async function refreshToken(token: string): Promise<void> {
  const expiresAt = await api.refresh(token);
  if (expiresAt === null) {
    reconnect();
    return;
  }
  const before = state.token?.view ? describeTokenView(state.token.view) : null;
  state.token = { ...tokenAccessOf(token)!, expiresAt };
  showProblem(null);
  renderAccess();
  watchExpiry();
  if (state.token.view && describeTokenView(state.token.view) === before) return;
  // Another view (another customer, other types): the server ends the subscriptions the new token
  // does not allow, so the page starts over on what it may read, on the same connection.
  if (state.selection.type && !tokenAllowsType(state.selection.type)) state.selection = { ...state.selection, type: null };
  fillPickers();
  void loadCatalog();
  startLive();
}

// ---- live data ---------------------------------------------------------------------------

/** The dimension the top table ranks: the groupBy, else the type's first dimension. */
function topDimension(): string | null {
  const entry = state.catalog.find((candidate) => candidate.type === state.selection.type);
  return state.selection.groupBy ?? entry?.dimensions[0] ?? null;
}

/** The series arguments of the current selection. */
function seriesArguments() {
  const { type, value, interval, filter } = state.selection;
  return { type: type!, value, interval, ...groupingOf(state.selection), where: whereOf(filter) };
}

const NOTHING = () => {};
/** Ends each live panel of the current selection; a panel that starts over replaces its own. */
const stopPanel = { chart: NOTHING, top: NOTHING, feed: NOTHING };
/** The dimension the open top subscription ranks; null when none is open. */
let topSubscribedBy: string | null = null;

function startLive(): void {
  stopLive();
  generation += 1;
  const current = generation;
  state.series = new Map();
  state.groupLabels = new Map();
  state.top = [];
  state.topWindow = null;
  state.feed = [];
  state.watermark = null;
  state.cursors = { series: null, events: null };
  stopLive = () => {
    stopPanel.chart();
    stopPanel.top();
    stopPanel.feed();
    stopPanel.chart = stopPanel.top = stopPanel.feed = NOTHING;
    topSubscribedBy = null;
  };
  scheduleRender();
  if (!state.selection.type) {
    waitForFirstEvent(current);
    return;
  }
  startChart(current);
  startTop(current);
  void startFeed(current);
}

/**
 * What a live panel does when the server ends its subscription with an error:
 * - resume: it fell behind (SUBSCRIBER_TOO_SLOW), and the server says to subscribe again from the
 *   last cursor received (docs/api.md, "Backpressure");
 * - start over: it resumed from a cursor the server no longer takes (CURSOR_EXPIRED: too old;
 *   BAD_USER_INPUT: not one it can read, say from a server that was replaced);
 * - stop: anything else, which the page shows.
 */
function recoveryFrom(error: ApiError, cursor: string | null): 'resume' | 'start over' | 'stop' {
  if (error.code === SUBSCRIBER_TOO_SLOW) return 'resume';
  if (cursor !== null && (error.code === CURSOR_EXPIRED || error.code === 'BAD_USER_INPUT')) return 'start over';
  return 'stop';
}

/**
 * The chart: a `series` subscription from the start of the chart's window. Its snapshot and its
 * live updates are all bucket totals, applied as they come; each carries the cursor a
 * re-subscription after a reconnect resumes from (`after`), so only what changed comes again.
 */
function startChart(forGeneration: number): void {
  const { measure, timeZone } = state.selection;
  // Fixed for the subscription's life: a cursor resumes the very query it came from.
  const query = {
    ...seriesArguments(),
    distinct: measure === 'distinct' ? DISTINCT_KEY : null,
    timeZone,
    from: new Date(chartWindow().from).toISOString(),
  };
  stopPanel.chart = api.subscribe(
    DashboardLiveSeriesDocument,
    () => ({ query, after: state.cursors.series }),
    ({ series: update }) => {
      if (forGeneration !== generation) return;
      state.cursors.series = update.cursor;
      noteWatermark(update.watermark);
      noteGroupLabel(update.group ?? null, update.groupKey);
      applyLiveUpdate(state.series, update.group ?? null, update.point);
      scheduleRender();
    },
    (error) => {
      if (forGeneration !== generation) return;
      const recovery = recoveryFrom(error, state.cursors.series);
      if (recovery === 'stop') return liveStopped('series', error);
      if (recovery === 'start over') {
        state.cursors.series = null;
        state.series = new Map();
        state.groupLabels = new Map();
      }
      startChart(forGeneration);
    },
  );
}

/** The top table: a `top` subscription over a sliding window; each update is the whole ranking. */
function startTop(forGeneration: number): void {
  stopPanel.top();
  stopPanel.top = NOTHING;
  state.top = [];
  state.topWindow = null;
  scheduleRender();
  const { type, value, filter, interval } = state.selection;
  const by = topDimension();
  topSubscribedBy = by;
  if (!type || !by) return;
  const ranking = topRanking();
  stopPanel.top = api.subscribe(
    DashboardLiveTopDocument,
    {
      query: {
        type,
        by,
        value,
        where: whereOf(filter),
        distinct: ranking === 'distinct' ? DISTINCT_KEY : null,
        rankBy: RANK_BY[ranking],
        limit: TOP_LIMIT,
        window: TOP_WINDOW[interval].window,
      },
    },
    ({ top: update }) => {
      if (forGeneration !== generation) return;
      state.top = update.entries;
      state.topWindow = { from: Date.parse(update.from), to: Date.parse(update.to) };
      noteWatermark(update.watermark);
      scheduleRender();
    },
    (error) => {
      if (forGeneration !== generation) return;
      // A ranking has no cursor: subscribing again brings the whole of it at once.
      if (recoveryFrom(error, null) === 'resume') startTop(forGeneration);
      else liveStopped('top', error);
    },
  );
}

/** The catalog named the top table's dimension, or another one: rank that one. */
function startTopIfItsDimensionChanged(): void {
  if (state.selection.type && topDimension() !== topSubscribedBy) startTop(generation);
}

/**
 * The feed: the latest events and the stream position they were read at, then every event
 * after that position (with no gap, and none twice), resumed from the last cursor after a reconnect.
 */
async function startFeed(forGeneration: number): Promise<void> {
  const { type, filter } = state.selection;
  const eventFilter = { types: [type!], where: whereOf(filter) };
  try {
    const { events } = await api.query(DashboardLatestEventsDocument, { filter: eventFilter, first: FEED_LENGTH });
    if (forGeneration !== generation) return;
    state.feed = mergeIntoFeed(
      state.feed,
      events.edges.map((edge) => edge.node),
    );
    state.cursors.events = events.streamCursor;
    showProblem(null);
    scheduleRender();
  } catch (error) {
    if (forGeneration !== generation) return;
    // Without the latest events, the feed still shows every event from now on.
    if (state.connection !== 'reconnecting' && !state.token?.expired) {
      showProblem(`Could not read the latest events: ${(error as Error).message}`);
    }
  }
  subscribeFeed(forGeneration, eventFilter);
}

/** The feed's `events` subscription, after the cursor the page holds (null: from now). */
function subscribeFeed(forGeneration: number, eventFilter: { types: string[]; where: ReturnType<typeof whereOf> }): void {
  stopPanel.feed = api.subscribe(
    DashboardLiveEventsDocument,
    () => ({ filter: eventFilter, after: state.cursors.events }),
    ({ events: edge }) => {
      if (forGeneration !== generation) return;
      state.cursors.events = edge.cursor;
      state.feed = mergeIntoFeed(state.feed, [edge.node]);
      noteKeysOf(edge.node);
      scheduleRender();
    },
    (error) => {
      if (forGeneration !== generation) return;
      const recovery = recoveryFrom(error, state.cursors.events);
      if (recovery === 'stop') return liveStopped('events', error);
      if (recovery === 'resume') return subscribeFeed(forGeneration, eventFilter);
      state.cursors.events = null;
      void startFeed(forGeneration);
    },
  );
}

/**
 * A server with no events yet: the first event of any type the credential may read is the
 * moment to read the catalog again (which then picks the busiest type and starts the panels).
 */
function waitForFirstEvent(forGeneration: number): void {
  let reading = false;
  stopPanel.feed = api.subscribe(
    DashboardLiveEventsDocument,
    { filter: null, after: null },
    () => {
      if (forGeneration !== generation || reading) return;
      reading = true;
      void loadCatalog().finally(() => {
        reading = false;
      });
    },
    (error) => {
      if (forGeneration === generation) liveStopped('events', error);
    },
  );
}

function liveStopped(what: 'series' | 'top' | 'events', error: ApiError): void {
  // An expired token, or a connection refused for good, has its own message (onTokenExpired,
  // renderConnection), shown once for everything that stopped.
  if (state.token?.expired || state.connection === 'disconnected') return;
  showProblem(`Live ${what} stopped: ${error.message}`);
}

/** The chart's time window: from WINDOW_MS ago up to and including the current bucket. */
function chartWindow(now = Date.now()): { from: number; to: number } {
  const interval = state.selection.interval;
  return { from: now - WINDOW_MS[interval], to: now + INTERVAL_MS[interval] };
}

/**
 * `group` joins the values with ", " and shows an absent one as nothing ("FR, "); the legend
 * names it instead ("FR, no plan"), from `groupKey`, which holds each value or null.
 */
function noteGroupLabel(group: string | null, groupKey: Record<string, unknown>): void {
  const entries = Object.entries(groupKey);
  if (entries.length === 0) return;
  state.groupLabels.set(group, entries.map(([key, value]) => (value === null ? `no ${key}` : String(value))).join(', '));
}

function noteWatermark(watermark: string | null): void {
  if (watermark === null) return;
  const time = Date.parse(watermark);
  if (state.watermark === null || time > state.watermark) state.watermark = time;
}

/** What the top table ranks by: the chosen measure's, where `top` can rank by it. */
function topRanking(): TopRanking {
  const { measure, value } = state.selection;
  if (measure === 'distinct') return 'distinct';
  return value ? 'sum' : 'count';
}

const RANK_BY: Record<TopRanking, 'COUNT' | 'SUM' | 'DISTINCT'> = { count: 'COUNT', sum: 'SUM', distinct: 'DISTINCT' };

// ---- rendering ---------------------------------------------------------------------------

let renderPending = false;

/** Coalesces bursts of updates into one redraw per animation frame. */
function scheduleRender(): void {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

const MEASURE_LABEL: Record<Measure, string> = { count: 'events', sum: 'sum', avg: 'average', distinct: 'unique users' };

function chartTitle(): string {
  const { type, value, measure, groupBy, secondGroupBy, filter } = state.selection;
  if (!type) return 'No events yet';
  const what =
    measure === 'count' ? 'Events' : measure === 'distinct' ? 'Unique users' : `${measure === 'sum' ? 'Sum' : 'Average'} of ${value}`;
  const grouped = groupBy ? ` by ${groupBy}${secondGroupBy ? ` and ${secondGroupBy}` : ''}` : '';
  const filtered = whereOf(filter) ? ` · where ${describeFilter()}` : '';
  return `${what} · ${type}${grouped}${filtered}`;
}

const OPERATOR_TEXT: Record<FilterOperator, string> = {
  eq: 'is',
  neq: 'is not',
  in: 'is one of',
  notIn: 'is none of',
  exists: 'is present',
  absent: 'is absent',
};

function describeFilter(): string {
  const filter = state.selection.filter!;
  const compares = filter.operator !== 'exists' && filter.operator !== 'absent';
  return `${filter.key} ${OPERATOR_TEXT[filter.operator]}${compares ? ` ${filter.text.trim()}` : ''}`;
}

function render(): void {
  const { type, value, measure, interval, groupBy, timeZone } = state.selection;
  const now = Date.now();
  const { from, to } = chartWindow(now);
  // Two buckets' margin: a day in another zone can start up to 25 hours before the window does.
  dropBucketsBefore(state.series, from - 2 * INTERVAL_MS[interval]);

  view.chartTitle.textContent = chartTitle();
  view.chartWindow.textContent = `${WINDOW_LABEL[interval]}${interval === 'DAY' ? `, days in ${timeZone}` : ''}`;

  const data = chartData(state.series, { from, to, interval, timeZone, measure, maxSeries: MAX_CHART_LINES });
  const hasData = data.series.length > 0;
  view.chartEmpty.hidden = hasData;
  view.chartEmpty.textContent = type
    ? `No ${type} events in this window yet. They appear here as they arrive.`
    : 'No events yet. Send some (for example with `npm run demo`) and they appear here.';
  view.chartNote.hidden = data.hiddenGroups === 0;
  view.chartNote.textContent = `Showing the ${MAX_CHART_LINES} busiest groups; ${data.hiddenGroups} more are not drawn.`;
  chart.draw(data, (group) => (groupBy ? (state.groupLabels.get(group) ?? group ?? `no ${groupBy}`) : MEASURE_LABEL[measure]), timeZone);

  const by = topDimension();
  const ranking = topRanking();
  const rankedBy = ranking === 'sum' ? `sum of ${value}` : ranking === 'distinct' ? 'unique users' : 'events';
  view.topTitle.textContent = by ? `Top ${by} by ${rankedBy}` : 'Top values';
  view.topWindow.textContent = TOP_WINDOW[interval].label;
  view.topKeyHead.textContent = by ?? 'Value';
  // The third column shows what the rows are ranked by, when that is not the event count.
  view.topSumHead.hidden = ranking === 'count';
  view.topSumHead.textContent = ranking === 'distinct' ? 'Unique users' : `Sum of ${value}`;
  renderTopTable(view.topBody, state.top, ranking);
  view.topEmpty.hidden = state.top.length > 0;
  view.topEmpty.textContent = by ? 'Nothing to rank in this window yet.' : 'This event type has no dimensions to rank.';

  renderFeed(view.feed, state.feed);
  view.feedEmpty.hidden = state.feed.length > 0;

  renderAccess(now);

  view.watermark.textContent =
    state.watermark === null
      ? 'Data complete up to: not known yet'
      : `Data complete up to ${formatTime(state.watermark)} (${formatAge(now - state.watermark)} ago)`;
}

window.__dashboard = {
  snapshot(): DashboardSnapshot {
    return structuredClone({
      connection: state.connection,
      selection: state.selection,
      token: state.token && {
        view: state.token.view && describeTokenView(state.token.view),
        expiresAt: state.token.expiresAt === null ? null : new Date(state.token.expiresAt).toISOString(),
        expired: state.token.expired,
      },
      watermark: state.watermark === null ? null : new Date(state.watermark).toISOString(),
      series: [...state.series].map(([group, buckets]) => ({
        group,
        points: [...buckets.values()]
          .sort((a, b) => a.start - b.start)
          .map((point) => ({ start: new Date(point.start).toISOString(), count: point.count, sum: point.sum, distinct: point.distinct })),
      })),
      top: state.top.map(({ key, count, sum, distinct }) => ({ key, count, sum, distinct })),
      topWindow: state.topWindow && { from: new Date(state.topWindow.from).toISOString(), to: new Date(state.topWindow.to).toISOString() },
      feedIds: state.feed.map((event) => event.id),
      cursors: state.cursors,
    });
  },
};

// The window slides and the watermark's age grows even when no update arrives: a redraw of what
// the page holds, never a re-read (everything it shows comes from its subscriptions).
setInterval(scheduleRender, 1_000);
// A link's type the token may not read would only fail: start on the busiest type it may read.
if (state.selection.type && !tokenAllowsType(state.selection.type)) state.selection = { ...state.selection, type: null };
api = connect();
watchExpiry();
fillPickers();
renderConnection();
renderAccess();
void loadCatalog();
startLive();
