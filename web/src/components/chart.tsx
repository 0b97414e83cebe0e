// A time-series chart (uPlot): one or more series over time, sized to its container, with a
// table fallback for screen readers.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

export function TimeChart(props: {
  title: string;
  /** Unix seconds. */
  times: number[];
  series: Series[];
  format: (v: number) => string;
  height?: number;
  /** The y axis reaches at least this high (so an idle series reads "0 s … 1 s", not "0 … 1 ms"). */
  floor?: number;
  /** Whole-number ticks only (counts). */
  integer?: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth),
      height: props.height ?? 180,
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : props.format(v)),
        })),
      ],
      axes: [
        {},
        {
          values: (_u, ticks) => ticks.map((t) => props.format(t)),
          size: 70,
          ...(props.integer ? { incrs: INTEGER_STEPS } : {}),
        },
      ],
      scales: { y: { range: (_u, min, max) => [Math.min(0, min), Math.max(max * 1.1, props.floor ?? 1)] } },
      legend: { live: true },
    };
    const plot = new uPlot(opts, [props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: opts.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.times, props.series, props.format, props.height, props.floor, props.integer]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={host} role="img" aria-label={`${props.title}: ${summary(props)}`} />
    </figure>
  );
}

function summary(props: { series: Series[]; format: (v: number) => string }): string {
  return props.series
    .map((s) => {
      const vs = s.values.filter((v): v is number => v !== null);
      if (vs.length === 0) return `${s.label}: no data`;
      return `${s.label}: latest ${props.format(vs[vs.length - 1])}, highest ${props.format(Math.max(...vs))}`;
    })
    .join("; ");
}
