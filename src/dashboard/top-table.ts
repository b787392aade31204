/** The top-N table: the values of one dimension ranked by events or by the sum of a value. */
import { formatNumber } from './format.ts';

export interface TopRow {
  key: string;
  count: number;
  sum: number | null;
}

/**
 * Redraws the rows. Each row carries a bar proportional to its share of the ranking measure,
 * which makes the table readable at a glance without a second chart.
 */
export function renderTopTable(body: HTMLTableSectionElement, rows: readonly TopRow[], rankBySum: boolean): void {
  const measureOf = (row: TopRow) => (rankBySum ? (row.sum ?? 0) : row.count);
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
      if (rankBySum) tr.append(cell('td', formatNumber(row.sum), 'num sum'));
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
