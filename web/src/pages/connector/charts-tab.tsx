// The charts tab: lag and throughput both ways (and pending writes, errors and unsynced
// documents) over the last hour, day or week, refreshed every 30 s.
import { useMemo, useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { TimeChart, type Series } from "../../components/chart";
import { Async } from "../../components/states";
import { useAsync } from "../../lib/async";
import { compact, duration, rate, when } from "../../lib/format";
import type { TabProps } from "./page";
import { metricsQuery, rangeById, RANGES, toColumns, type Columns } from "./metrics";

const BLUE = "#0b5cad";
const ORANGE = "#a34700";

const countText = (v: number) => compact(v);

export function ChartsTab({ appId, connectorId }: TabProps) {
  const [rangeId, setRangeId] = useState(RANGES[0].id);
  const range = rangeById(rangeId);
  const state = useAsync(
    () =>
      must(
        api.GET("/v1/apps/{appId}/connectors/{connectorId}/metrics", {
          params: { path: { appId, connectorId }, query: metricsQuery(range, Date.now()) },
        }),
      ),
    [appId, connectorId, rangeId],
    30_000,
  );
  const cols = useMemo(() => (state.data ? toColumns(state.data) : null), [state.data]);
  return (
    <>
      <h2>Charts</h2>
      <div class="toolbar">
        <div class="field">
          <label for="metrics-range">Range</label>
          <select id="metrics-range" value={rangeId} onChange={(e) => setRangeId(e.currentTarget.value)}>
            {RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        {state.data && (
          <p class="muted small">
            One point per {duration(state.data.stepSecs * 1000)}, {when(state.data.from)} to {when(state.data.to)}; refreshed every
            30 s.
          </p>
        )}
      </div>
      <Async state={{ ...state, data: cols ?? undefined }} what="metrics" isEmpty={(c) => c.times.length === 0} empty="No metrics in this range yet.">
        {(c) => <Charts cols={c} />}
      </Async>
    </>
  );
}

function Charts({ cols }: { cols: Columns }) {
  const s = useMemo(() => {
    const one = (label: string, values: (number | null)[], color = BLUE): Series[] => [{ label, values, color }];
    return {
      lagIn: one("Lag, MongoDB → edge", cols.lagMongoToEdge),
      lagOut: one("Lag, edge → MongoDB", cols.lagEdgeToMongo, ORANGE),
      inRate: one("Documents per second, MongoDB → edge", cols.mongoToEdge),
      outRate: one("Documents per second, edge → MongoDB", cols.edgeToMongo, ORANGE),
      pending: one("Pending writes", cols.pendingWrites, ORANGE),
      problems: [
        { label: "Errors", values: cols.errors, color: BLUE },
        { label: "Unsynced documents", values: cols.unsynced, color: ORANGE },
      ],
    };
  }, [cols]);
  return (
    <div class="charts">
      <TimeChart title="Lag, MongoDB → edge" times={cols.times} series={s.lagIn} format={duration} floor={1000} />
      <TimeChart title="Lag, edge → MongoDB" times={cols.times} series={s.lagOut} format={duration} floor={1000} />
      <TimeChart title="Throughput, MongoDB → edge" times={cols.times} series={s.inRate} format={rate} floor={1} />
      <TimeChart title="Throughput, edge → MongoDB" times={cols.times} series={s.outRate} format={rate} floor={1} />
      <TimeChart title="Pending writes, edge → MongoDB" times={cols.times} series={s.pending} format={countText} floor={4} integer />
      <TimeChart title="Errors and unsynced documents" times={cols.times} series={s.problems} format={countText} floor={4} integer />
    </div>
  );
}
