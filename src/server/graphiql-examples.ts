const DAY_MS = 86_400_000;

/**
 * The operations GraphiQL opens with: one working example of every operation, then one of each
 * richer question (`where` with every operator, `groupByDimensions` and `groupKey`, `distinct`
 * and `rankBy`, the calendar intervals and `timeZone`), then the live aggregates (`series` with
 * `from`, `to`, `after` and `cursor`; the live `top`). Ranges cover the UTC day the service
 * started in, so the examples show what was just ingested. test/unit/graphiql-examples.test.ts
 * validates every operation against the schema and checks that each new argument is shown.
 */
export function graphiqlExamples(now: number = Date.now()): string {
  const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
  const from = new Date(dayStart).toISOString();
  const to = new Date(dayStart + DAY_MS).toISOString();
  // The calendar examples look back a week, so a WEEK or a New York day has something to merge.
  const weekAgo = new Date(dayStart - 6 * DAY_MS).toISOString();
  // The settled example: the UTC day before, final once the watermark is ALLOWED_LATENESS past it.
  const yesterday = new Date(dayStart - DAY_MS).toISOString();
  return `# Welcome to Streamlens. Run any operation below with the ▶ button.
# Subscriptions stream here too (over SSE); open a second tab to ingest while one listens.

mutation IngestExample {
  ingest(events: [
    { type: "page_view", dimensions: { country: "NL", plan: "pro", device: "mobile" }, values: { duration_ms: 1250 }, distinct: { user: "u-1" } }
    { id: "order-1001", type: "purchase", dimensions: { country: "DE", plan: "free" }, values: { amount: 49.5 }, distinct: { user: "u-2" } }
  ]) {
    accepted
    rejected
    acks { index id status error { code message path } }
  }
}

query LatestEvents {
  events(filter: { types: ["page_view", "purchase"] }, first: 10) {
    edges { cursor node { id type timestamp receivedAt dimensions values } }
    pageInfo { hasNextPage endCursor }
  }
}

query PageViewsPerMinuteByCountry {
  series(query: {
    type: "page_view", value: "duration_ms", interval: MINUTE, groupBy: "country"
    from: "${from}", to: "${to}"
  }) {
    group
    watermark
    points { start count sum avg p50 p99 final }
  }
}

query TopCountriesByRevenue {
  top(query: {
    type: "purchase", by: "country", value: "amount", limit: 5
    from: "${from}", to: "${to}"
  }) { key count sum }
}

query Catalog {
  eventTypes { type count firstSeen lastSeen dimensions values }
  streamStatus { lag watermark }
}

subscription LiveEvents {
  events(filter: { types: ["purchase"] }) { cursor node { id type timestamp dimensions values } }
}

subscription LivePageViewsPerSecond {
  series(query: { type: "page_view", value: "duration_ms", interval: SECOND, groupBy: "device" }) {
    group
    watermark
    point { start count avg p99 final }
  }
}

# ---- Richer questions ------------------------------------------------------------------------
# \`where\` takes conditions on dimensions, ANDed: eq, neq, in, notIn or exists (one operator each).
# neq and notIn also match events without the dimension. See docs/api.md, "Richer questions".

query RevenueByCountryAndPlanExceptFree {
  series(query: {
    type: "purchase", value: "amount", interval: HOUR
    groupByDimensions: ["country", "plan"]
    where: [{ key: "plan", neq: "free" }]
    from: "${from}", to: "${to}"
  }) {
    group
    groupKey
    points { start count sum final }
  }
}

query MobilePageViewsInTheBenelux {
  events(filter: {
    types: ["page_view"]
    where: [{ key: "country", in: ["NL", "BE", "LU"] }, { key: "device", eq: "mobile" }]
  }, first: 10) {
    edges { node { id timestamp dimensions distinct } }
  }
}

query PurchasesWithAPlanOutsideGermany {
  events(filter: {
    types: ["purchase"]
    where: [{ key: "country", notIn: ["DE"] }, { key: "plan", exists: true }]
  }, first: 10) {
    edges { node { id dimensions values } }
  }
}

# \`distinct\` counts the different values of one key of EventInput.distinct (approximate, merged by
# union: a day's unique users are not the sum of its hours). \`timeZone\` sets where days start.
query UniqueUsersPerNewYorkDay {
  series(query: {
    type: "page_view", interval: DAY, timeZone: "America/New_York", distinct: "user"
    from: "${weekAgo}", to: "${to}"
  }) {
    points { start count distinct final }
  }
}

query TopCountriesByUniqueUsers {
  top(query: {
    type: "page_view", by: "country", distinct: "user", rankBy: DISTINCT, limit: 5
    from: "${from}", to: "${to}"
  }) { key count distinct }
}

# Calendar intervals, merged at query time from the stored rollups: FIVE_MINUTES and
# FIFTEEN_MINUTES align to the hour, WEEK starts on Monday, MONTH is the calendar month.
query CalendarIntervals {
  perFiveMinutes: series(query: { type: "page_view", interval: FIVE_MINUTES, from: "${from}", to: "${to}" }) {
    points { start count }
  }
  perFifteenMinutes: series(query: { type: "page_view", interval: FIFTEEN_MINUTES, from: "${from}", to: "${to}" }) {
    points { start count }
  }
  perAmsterdamWeek: series(query: {
    type: "page_view", interval: WEEK, timeZone: "Europe/Amsterdam", distinct: "user"
    from: "${weekAgo}", to: "${to}"
  }) {
    points { start count distinct final }
  }
  perMonth: series(query: { type: "purchase", value: "amount", interval: MONTH, from: "${weekAgo}", to: "${to}" }) {
    points { start count sum }
  }
}

subscription LivePaidPurchasesByCountryAndPlan {
  series(query: {
    type: "purchase", value: "amount", interval: MINUTE
    groupByDimensions: ["country", "plan"]
    where: [{ key: "plan", neq: "free" }]
  }) {
    group
    watermark
    point { start count sum final }
  }
}

# ---- Live aggregates ---------------------------------------------------------------------------
# With \`from\`, a series subscription first sends every existing point of [from, to) (or up to now),
# ordered by start within each group, then live updates. Every update is the bucket's total and
# carries a \`cursor\`; a bucket is sent once more with final: true when it becomes final. With
# \`to\`, the subscription completes once every bucket of the range is final and was sent so:
# yesterday, exactly, once it is settled. See docs/api.md, "Live aggregates".

subscription SettledRevenuePerQuarterHourYesterday {
  series(query: {
    type: "purchase", value: "amount", interval: FIFTEEN_MINUTES, groupBy: "country"
    from: "${yesterday}", to: "${from}"
  }) {
    group
    point { start count sum final }
  }
}

# The client recipe: subscribe with \`from\`, keep the \`cursor\` of the last update, and after a
# reconnect subscribe again with the same query and \`after\` set to it (variables:
# { "after": "<the last cursor>" }): every point that changed meanwhile comes again, then live.
subscription UniqueUsersPerNewYorkDayResumable($after: String) {
  series(query: {
    type: "page_view", interval: DAY, timeZone: "America/New_York", distinct: "user"
    groupByDimensions: ["country"], from: "${weekAgo}"
  }, after: $after) {
    groupKey
    cursor
    point { start count distinct final }
  }
}

# A live ranking over a sliding window of MINUTE buckets ("15m", "24h"): the first update at once,
# then at most one a second whenever it changes; \`from\` and \`to\` are the window's bounds.
subscription TopPaidCountriesByRevenueLive {
  top(query: {
    type: "purchase", by: "country", value: "amount", rankBy: SUM, limit: 5, window: "15m"
    where: [{ key: "plan", neq: "free" }]
  }) {
    from
    to
    watermark
    entries { key count sum }
  }
}

subscription TopCountriesByUniqueMobileUsersLive {
  top(query: {
    type: "page_view", by: "country", distinct: "user", rankBy: DISTINCT
    dimensions: { device: "mobile" }, window: "24h"
  }) {
    from
    to
    entries { key count distinct }
  }
}
`;
}
