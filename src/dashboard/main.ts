/**
 * The live dashboard page. The flow for one selection (type, value, interval, groupBy):
 *   1. subscribe to `series` and `events` first, so nothing processed from now on is missed;
 *   2. then read the history (`series`, `top`, the latest `events`) and merge it in;
 *   3. on every series update, replace that bucket's total and re-read `top` (at most once a
 *      second: there is no top subscription);
 *   4. after a reconnect, graphql-ws re-subscribes by itself and the page repeats step 2 to
 *      fill what it missed while the connection was down.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { INTERVAL_MS } from '../domain/interval.ts';
import {
  DashboardEventTypesDocument,
  DashboardLatestEventsDocument,
  DashboardLiveEventsDocument,
  DashboardLiveSeriesDocument,
  DashboardSeriesDocument,
  DashboardTopDocument,
  type DashboardEventTypesQuery,
} from './generated/operations.ts';
import { createApi, type Api, type ConnectionState } from './api.ts';
import { createChart } from './chart.ts';
import { FEED_LENGTH, mergeIntoFeed, renderFeed, type FeedEvent } from './feed.ts';
import { formatAge, formatTime } from './format.ts';
import { loadApiKey, saveApiKey, selectionFromUrl, selectionToUrl, WINDOW_LABEL, WINDOW_MS, type Selection } from './selection.ts';
import { applyLiveUpdate, applyQueriedPoint, chartData, dropBucketsBefore, type Measure, type SeriesByGroup } from './series-data.ts';
import type { DashboardSnapshot } from './snapshot.ts';
import { renderTopTable, type TopRow } from './top-table.ts';

type CatalogEntry = DashboardEventTypesQuery['eventTypes'][number];

const TOP_LIMIT = 10;
const TOP_REFRESH_MS = 1_000;
const MAX_CHART_LINES = 10;
/** After a reconnect, the re-read waits until the re-sent subscriptions are surely live. */
const REFILL_DELAY_MS = 1_000;

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
  apiKeyForm: byId<HTMLFormElement>('api-key-form'),
  apiKey: byId<HTMLInputElement>('api-key'),
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
  topKeyHead: byId<HTMLElement>('top-key-head'),
  topSumHead: byId<HTMLElement>('top-sum-head'),
  topBody: byId<HTMLTableSectionElement>('top-body'),
  topEmpty: byId<HTMLElement>('top-empty'),
  feed: byId<HTMLOListElement>('feed'),
  feedEmpty: byId<HTMLElement>('feed-empty'),
};

const state = {
  selection: selectionFromUrl(location.search),
  catalog: [] as CatalogEntry[],
  connection: 'connecting' as ConnectionState,
  series: new Map() as SeriesByGroup,
  watermark: null as number | null,
  top: [] as TopRow[],
  feed: [] as FeedEvent[],
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
    apiKey: loadApiKey(),
    onConnectionState(connection, detail) {
      state.connection = connection;
      renderConnection(detail);
      if (connection === 'resumed') {
        const resumedGeneration = generation;
        setTimeout(() => {
          if (resumedGeneration === generation) void readHistory(resumedGeneration);
        }, REFILL_DELAY_MS);
        void loadCatalog();
      }
    },
  });
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  resumed: 'resumed',
  disconnected: 'disconnected',
};

function renderConnection(detail?: string): void {
  view.connection.dataset.state = state.connection;
  view.connectionText.textContent = CONNECTION_TEXT[state.connection];
  view.connection.title = state.connection === 'resumed' ? 'Live again; the data missed while disconnected was re-read.' : (detail ?? '');
  if (state.connection === 'disconnected') showProblem(`Live connection closed: ${detail ?? 'unknown reason'}.`);
}

function showProblem(message: string | null): void {
  view.problem.hidden = message === null;
  view.problem.textContent = message ?? '';
}

// ---- the catalog and the pickers -----------------------------------------------------------

let catalogTimer: ReturnType<typeof setTimeout> | undefined;

async function loadCatalog(): Promise<void> {
  clearTimeout(catalogTimer);
  try {
    state.catalog = (await api.query(DashboardEventTypesDocument, {})).eventTypes;
    if (!state.selection.type && state.catalog.length > 0) {
      // Start on the busiest type: the one most likely to show something moving.
      const busiest = state.catalog.reduce((a, b) => (b.count > a.count ? b : a));
      state.selection = { ...state.selection, type: busiest.type };
      fillPickers();
      startLive();
    } else {
      fillPickers();
      // The top table ranks a dimension the catalog names: it can be read now.
      refreshTopSoon(generation);
    }
  } catch (error) {
    if (state.connection !== 'reconnecting') showProblem(`Could not read the event types: ${(error as Error).message}`);
  }
  // New types and keys appear as events arrive; an empty catalog is re-read sooner.
  catalogTimer = setTimeout(() => void loadCatalog(), state.catalog.length === 0 ? 3_000 : 30_000);
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
  // A type named in the URL is kept even before its first event, so a link works on a new server.
  if (selection.type && !types.includes(selection.type)) types.push(selection.type);
  fillSelect(view.type, types.length > 0 ? types.map((type) => [type, type]) : [['', 'no events yet']], selection.type ?? '');
  view.type.disabled = types.length === 0;

  const entry = catalog.find((candidate) => candidate.type === selection.type);
  const values = [...(entry?.values ?? [])];
  if (selection.value && !values.includes(selection.value)) values.push(selection.value);
  fillSelect(view.value, [['', 'none (count events)'], ...values.map((value): [string, string] => [value, value])], selection.value ?? '');

  const dimensions = [...(entry?.dimensions ?? [])];
  if (selection.groupBy && !dimensions.includes(selection.groupBy)) dimensions.push(selection.groupBy);
  fillSelect(view.groupBy, [['', 'nothing'], ...dimensions.map((key): [string, string] => [key, key])], selection.groupBy ?? '');

  for (const option of view.measure.options) option.disabled = option.value !== 'count' && !selection.value;
  view.measure.value = selection.measure;
  view.interval.value = selection.interval;
}

function readPickers(): Selection {
  const value = view.value.value || null;
  const measure = view.measure.value as Measure;
  const type = view.type.value || null;
  const typeChanged = type !== state.selection.type;
  return {
    type,
    // A value or groupBy of another type would match nothing.
    value: typeChanged ? null : value,
    measure: value && !typeChanged ? measure : 'count',
    interval: view.interval.value as Selection['interval'],
    groupBy: typeChanged ? null : view.groupBy.value || null,
  };
}

function onPickerChange(): void {
  const previous = state.selection;
  state.selection = readPickers();
  history.replaceState(null, '', selectionToUrl(state.selection));
  fillPickers();
  const { type, value, interval, groupBy } = state.selection;
  const onlyMeasureChanged =
    type === previous.type && value === previous.value && interval === previous.interval && groupBy === previous.groupBy;
  if (onlyMeasureChanged) scheduleRender();
  else startLive();
}

for (const select of [view.type, view.value, view.measure, view.interval, view.groupBy]) {
  select.addEventListener('change', onPickerChange);
}

view.apiKey.value = loadApiKey() ?? '';
view.apiKeyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  saveApiKey(view.apiKey.value.trim() || null);
  showProblem(null);
  stopLive();
  api.dispose();
  state.connection = 'connecting';
  renderConnection();
  api = connect();
  void loadCatalog();
  startLive();
});

// ---- live data ---------------------------------------------------------------------------

/** The dimension the top table ranks: the groupBy, else the type's first dimension. */
function topDimension(): string | null {
  const entry = state.catalog.find((candidate) => candidate.type === state.selection.type);
  return state.selection.groupBy ?? entry?.dimensions[0] ?? null;
}

function startLive(): void {
  stopLive();
  generation += 1;
  const current = generation;
  state.series = new Map();
  state.top = [];
  state.feed = [];
  state.watermark = null;
  scheduleRender();
  const { type, value, interval, groupBy } = state.selection;
  if (!type) {
    stopLive = () => {};
    return;
  }

  const stopSeries = api.subscribe(
    DashboardLiveSeriesDocument,
    { query: { type, value, interval, groupBy } },
    ({ series: update }) => {
      if (current !== generation) return;
      applyLiveUpdate(state.series, update.group ?? null, update.point);
      noteWatermark(update.watermark);
      scheduleRender();
      refreshTopSoon(current);
    },
    (message) => showProblem(`Live series stopped: ${message}`),
  );
  const stopEvents = api.subscribe(
    DashboardLiveEventsDocument,
    { filter: { types: [type] } },
    ({ events: edge }) => {
      if (current !== generation) return;
      state.feed = mergeIntoFeed(state.feed, [edge.node]);
      scheduleRender();
    },
    (message) => showProblem(`Live events stopped: ${message}`),
  );
  stopLive = () => {
    stopSeries();
    stopEvents();
  };
  void readHistory(current);
}

/** The chart's time window: from WINDOW_MS ago up to and including the current bucket. */
function chartWindow(now = Date.now()): { from: number; to: number } {
  const interval = state.selection.interval;
  return { from: now - WINDOW_MS[interval], to: now + INTERVAL_MS[interval] };
}

async function readHistory(forGeneration: number): Promise<void> {
  const { type, value, interval, groupBy } = state.selection;
  if (!type) return;
  const { from, to } = chartWindow();
  try {
    const [{ series }, { events }] = await Promise.all([
      api.query(DashboardSeriesDocument, {
        query: { type, value, interval, groupBy, from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      }),
      api.query(DashboardLatestEventsDocument, { filter: { types: [type] }, first: FEED_LENGTH }),
    ]);
    if (forGeneration !== generation) return;
    for (const oneSeries of series) {
      for (const point of oneSeries.points) applyQueriedPoint(state.series, oneSeries.group ?? null, point);
      noteWatermark(oneSeries.watermark);
    }
    state.feed = mergeIntoFeed(
      state.feed,
      events.edges.map((edge) => edge.node),
    );
    showProblem(null);
    scheduleRender();
    await refreshTop(forGeneration);
  } catch (error) {
    // While reconnecting, the re-read after the reconnect will fill this in.
    if (forGeneration === generation && state.connection !== 'reconnecting') {
      showProblem(`Could not read the history: ${(error as Error).message}`);
    }
  }
}

function noteWatermark(watermark: string | null): void {
  if (watermark === null) return;
  const time = Date.parse(watermark);
  if (state.watermark === null || time > state.watermark) state.watermark = time;
}

let topTimer: ReturnType<typeof setTimeout> | undefined;
let lastTopRefresh = 0;

/** Re-reads the top list after series updates, at most once every TOP_REFRESH_MS. */
function refreshTopSoon(forGeneration: number): void {
  if (topTimer !== undefined) return;
  const wait = Math.max(0, lastTopRefresh + TOP_REFRESH_MS - Date.now());
  topTimer = setTimeout(() => {
    topTimer = undefined;
    void refreshTop(forGeneration);
  }, wait);
}

async function refreshTop(forGeneration: number): Promise<void> {
  const { type, value } = state.selection;
  const by = topDimension();
  if (!type || !by) return;
  lastTopRefresh = Date.now();
  const { from, to } = chartWindow();
  try {
    const { top } = await api.query(DashboardTopDocument, {
      query: { type, by, value, limit: TOP_LIMIT, from: new Date(from).toISOString(), to: new Date(to).toISOString() },
    });
    if (forGeneration !== generation) return;
    state.top = top;
    scheduleRender();
  } catch {
    // A missed refresh is harmless: the next series update asks again.
  }
}

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

const MEASURE_LABEL: Record<Measure, string> = { count: 'events', sum: 'sum', avg: 'average' };

function render(): void {
  const { type, value, measure, interval, groupBy } = state.selection;
  const now = Date.now();
  const { from, to } = chartWindow(now);
  dropBucketsBefore(state.series, from - INTERVAL_MS[interval]);

  const what = measure === 'count' ? 'Events' : `${measure === 'sum' ? 'Sum' : 'Average'} of ${value}`;
  view.chartTitle.textContent = type ? `${what} · ${type}${groupBy ? ` by ${groupBy}` : ''}` : 'No events yet';
  view.chartWindow.textContent = WINDOW_LABEL[interval];

  const data = chartData(state.series, { from, to, interval, measure, maxSeries: MAX_CHART_LINES });
  const hasData = data.series.length > 0;
  view.chartEmpty.hidden = hasData;
  view.chartEmpty.textContent = type
    ? `No ${type} events in this window yet. They appear here as they arrive.`
    : 'No events yet. Send some (for example with `npm run demo`) and they appear here.';
  view.chartNote.hidden = data.hiddenGroups === 0;
  view.chartNote.textContent = `Showing the ${MAX_CHART_LINES} busiest groups; ${data.hiddenGroups} more are not drawn.`;
  chart.draw(data, (group) => (groupBy ? (group ?? `no ${groupBy}`) : MEASURE_LABEL[measure]));

  const by = topDimension();
  view.topTitle.textContent = by ? `Top ${by} by ${value ? `sum of ${value}` : 'events'}` : 'Top values';
  view.topKeyHead.textContent = by ?? 'Value';
  // Without a value there is no sum to show.
  view.topSumHead.hidden = value === null;
  view.topSumHead.textContent = `Sum of ${value}`;
  renderTopTable(view.topBody, state.top, value !== null);
  view.topEmpty.hidden = state.top.length > 0;
  view.topEmpty.textContent = by ? 'Nothing to rank in this window yet.' : 'This event type has no dimensions to rank.';

  renderFeed(view.feed, state.feed);
  view.feedEmpty.hidden = state.feed.length > 0;

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
      watermark: state.watermark === null ? null : new Date(state.watermark).toISOString(),
      series: [...state.series].map(([group, buckets]) => ({
        group,
        points: [...buckets.values()]
          .sort((a, b) => a.start - b.start)
          .map((point) => ({ start: new Date(point.start).toISOString(), count: point.count, sum: point.sum })),
      })),
      top: state.top.map(({ key, count, sum }) => ({ key, count, sum })),
      feedIds: state.feed.map((event) => event.id),
    });
  },
};

// The window slides and the watermark's age grows even when no update arrives.
setInterval(scheduleRender, 1_000);
api = connect();
fillPickers();
renderConnection();
void loadCatalog();
startLive();
