/**
 * The time-series chart: a thin wrapper around uPlot that redraws from ChartData and rebuilds
 * the plot only when the set of lines changes (uPlot fixes its series at creation).
 */
import uPlot from 'uplot';
import type { ChartData } from './series-data.ts';

/** Okabe–Ito-based colours: distinguishable with the common colour-vision deficiencies. */
const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#6b6bd6', '#8c6d1f', '#3a3a3a', '#b2182b'];
const HEIGHT = 320;
const AXIS_COLOUR = '#5b6472';
const GRID_COLOUR = '#e7eaf0';

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
const precise = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export interface Chart {
  /** `timeZone`: the zone the time axis reads in (the dashboard's picked zone). */
  draw(data: ChartData, labelOf: (group: string | null) => string, timeZone: string): void;
}

export function createChart(container: HTMLElement): Chart {
  let plot: uPlot | null = null;
  let drawnLabels = '';

  const widthOf = () => Math.max(container.clientWidth, 280);
  new ResizeObserver(() => plot?.setSize({ width: widthOf(), height: HEIGHT })).observe(container);

  function build(data: ChartData, labels: string[], timeZone: string): uPlot {
    const single = labels.length === 1;
    const options: uPlot.Options = {
      width: widthOf(),
      // The axis reads in the picked zone, so a day bucket's tick says the day it is in that zone.
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone),
      height: HEIGHT,
      // Labels only: values under a moving cursor make a live legend jitter.
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: AXIS_COLOUR, grid: { stroke: GRID_COLOUR }, ticks: { stroke: GRID_COLOUR } },
        {
          stroke: AXIS_COLOUR,
          grid: { stroke: GRID_COLOUR },
          ticks: { stroke: GRID_COLOUR },
          size: 56,
          values: (_u, splits) => splits.map((value) => compact.format(value)),
        },
      ],
      series: [
        { label: 'Time' },
        ...labels.map((label, index) => {
          const colour = PALETTE[index % PALETTE.length]!;
          return {
            label,
            stroke: colour,
            width: 2,
            // One line gets a soft area under it; several would hide each other.
            fill: single ? `${colour}1f` : undefined,
            points: { show: false },
            value: (_u: uPlot, value: number | null) => (value === null ? '–' : precise.format(value)),
          };
        }),
      ],
    };
    return new uPlot(options, toAligned(data), container);
  }

  return {
    draw(data, labelOf, timeZone) {
      const labels = data.series.map((series) => labelOf(series.group));
      const key = [timeZone, ...labels].join('\u0000');
      if (!plot || key !== drawnLabels) {
        plot?.destroy();
        plot = build(data, labels, timeZone);
        drawnLabels = key;
      } else {
        plot.setData(toAligned(data));
      }
    },
  };
}

function toAligned(data: ChartData): uPlot.AlignedData {
  return [data.times, ...data.series.map((series) => series.values)];
}
