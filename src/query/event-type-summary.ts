/** What the type catalog says of one event type, for the whole tenant or for a token's slice. */
export interface EventTypeSummary {
  type: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  dimensions: string[];
  values: string[];
  /** Keys left out of `dimensions` / `values` because a catalog row was full (see MAX_CATALOG_KEYS). */
  droppedDimensionKeys: number;
  droppedValueKeys: number;
}
