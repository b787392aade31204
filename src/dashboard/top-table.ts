/** The top-N table: the values of one dimension ranked by events, by the sum of a value, or by unique users. */
import { formatNumber } from './format.ts';

export interface TopRow {
  key: string;
  count: number;
  sum: number | null;
  /** Unique users; null unless the query named a distinct key. */
  distinct: number | null;
}

/** What the rows are ranked by, and so which extra column the table shows. */
export type TopRanking = 'count' | 'sum' | 'distinct';

/**
 * Redraws the rows. Each row carries a bar proportional to its share of the ranking measure,
 * which makes the table readable at a glance without a second chart.
 */
export function renderTopTable(body: HTMLTableSectionElement, rows: readonly TopRow[], ranking: TopRanking): void {
  const measureOf = (row: TopRow) => (ranking === 'sum' ? (row.sum ?? 0) : ranking === 'distinct' ? (row.distinct ?? 0) : row.count);
  const largest = Math.max(...rows.map(measureOf), 0);
  body.replaceChildren(
    ...rows.map((row, index) => {
      const tr = document.createElement('tr');
      tr.dataset.key = row.key;
      const rank = cell('td', String(index + 1), 'rank');
      const key = cell('th', row.key, 'key');
      key.scope = 'row';
      const bar = document.createElement('span');
      bar.className = 'share';
      bar.style.width = `${largest > 0 ? (measureOf(row) / largest) * 100 : 0}%`;
      bar.setAttribute('aria-hidden', 'true');
      key.prepend(bar);
      tr.append(rank, key, cell('td', formatNumber(row.count), 'num count'));
      if (ranking === 'sum') tr.append(cell('td', formatNumber(row.sum), 'num sum'));
      if (ranking === 'distinct') tr.append(cell('td', formatNumber(row.distinct), 'num distinct'));
      return tr;
    }),
  );
}

function cell<K extends 'td' | 'th'>(tag: K, text: string, className: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  const label = document.createElement('span');
  label.textContent = text;
  element.append(label);
  return element;
}
