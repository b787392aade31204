/**
 * The operations GraphiQL opens with: one working example of every operation. Ranges cover the
 * UTC day the service started in, so the examples show what was just ingested.
 */
export function graphiqlExamples(now: number = Date.now()): string {
  const dayStart = Math.floor(now / 86_400_000) * 86_400_000;
  const from = new Date(dayStart).toISOString();
  const to = new Date(dayStart + 86_400_000).toISOString();
  return `# Welcome to Streamlens. Run any operation below with the ▶ button.
# Subscriptions stream here too (over SSE); open a second tab to ingest while one listens.

mutation IngestExample {
  ingest(events: [
    { type: "page_view", dimensions: { country: "NL", plan: "pro", device: "mobile" }, values: { duration_ms: 1250 } }
    { id: "order-1001", type: "purchase", dimensions: { country: "DE", plan: "free" }, values: { amount: 49.5 } }
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
`;
}
