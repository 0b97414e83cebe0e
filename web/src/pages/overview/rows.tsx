// The overview's table. Rows are plain markup (no per-row state), so 1,000 render in one pass.
import { Link } from "wouter-preact";
import type { Connector } from "../../api/client";
import { HealthBadge, StatusBadge } from "../../components/badges";
import { ago, duration, rate } from "../../lib/format";

export function ConnectorRows({ appId, items }: { appId: string; items: Connector[] }) {
  return (
    <table class="overview">
      <caption class="sr-only">Connectors of this app</caption>
      <thead>
        <tr>
          <th scope="col">Connector</th>
          <th scope="col">Status</th>
          <th scope="col">Health</th>
          <th scope="col" class="num">
            Lag MongoDB → edge
          </th>
          <th scope="col" class="num">
            Lag edge → MongoDB
          </th>
          <th scope="col" class="num">
            Throughput (in / out)
          </th>
          <th scope="col">Last sync</th>
          <th scope="col">Worker</th>
        </tr>
      </thead>
      <tbody>
        {items.map((c) => (
          <tr key={c.id} data-connector={c.name}>
            <th scope="row">
              <Link href={`/apps/${appId}/connectors/${c.id}`}>{c.name}</Link>
              <div class="muted small">
                {c.database} · {Object.keys(c.collections).length} collection
                {Object.keys(c.collections).length === 1 ? "" : "s"}
              </div>
            </th>
            <td>
              <StatusBadge status={c.status} />
            </td>
            <td>
              <HealthBadge health={c.health} />
              {c.health.state !== "green" && <div class="small">{c.health.reason}</div>}
            </td>
            <td class="num">{duration(c.lag.mongoToEdgeMs)}</td>
            <td class="num">
              {duration(c.lag.edgeToMongoMs)}
              {(c.lag.pendingWrites ?? 0) > 0 && <div class="muted small">{c.lag.pendingWrites} pending</div>}
            </td>
            <td class="num">
              {rate(c.throughput.mongoToEdgePerSec)} / {rate(c.throughput.edgeToMongoPerSec)}
            </td>
            <td>{ago(c.lastSyncedAt)}</td>
            <td>{c.assignedWorker?.name ?? <span class="muted">none</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
