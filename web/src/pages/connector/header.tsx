// The connector's header, on every tab: name, status, health and why, the status detail of a
// failure, its worker, last sync, lag and throughput both ways.
import type { Connector } from "../../api/client";
import { HealthBadge, StatusBadge } from "../../components/badges";
import { ago, count, duration, rate, when } from "../../lib/format";

export function ConnectorHeader({ connector: c }: { connector: Connector }) {
  return (
    <header class="connector-header">
      <div class="row">
        <h1 class="connector-name">{c.name}</h1>
        <StatusBadge status={c.status} />
        <HealthBadge health={c.health} />
      </div>
      {c.description && <p class="muted">{c.description}</p>}
      <p class="health-reason">
        <span class="sr-only">Health: </span>
        {c.health.reason} <code class="code">{c.health.code}</code>
      </p>
      {c.statusDetail && <StatusDetail connector={c} />}
      <dl class="facts header-facts">
        <dt>Worker</dt>
        <dd>
          {c.assignedWorker ? (
            <>
              <span class="mono">{c.assignedWorker.name}</span>{" "}
              <span class="muted small">since {ago(c.assignedWorker.since)}</span>
            </>
          ) : (
            "none assigned"
          )}
        </dd>
        <dt>Last sync</dt>
        <dd title={c.lastSyncedAt ? when(c.lastSyncedAt) : undefined}>{ago(c.lastSyncedAt)}</dd>
        <dt>Lag, MongoDB → edge</dt>
        <dd>{duration(c.lag.mongoToEdgeMs)}</dd>
        <dt>Lag, edge → MongoDB</dt>
        <dd>
          {duration(c.lag.edgeToMongoMs)}
          {c.lag.pendingWrites !== null && c.lag.pendingWrites !== undefined && (
            <span class="muted small"> ({count(c.lag.pendingWrites)} pending writes)</span>
          )}
        </dd>
        <dt>Throughput, MongoDB → edge</dt>
        <dd>{rate(c.throughput.mongoToEdgePerSec)}</dd>
        <dt>Throughput, edge → MongoDB</dt>
        <dd>{rate(c.throughput.edgeToMongoPerSec)}</dd>
      </dl>
    </header>
  );
}

function StatusDetail({ connector: c }: { connector: Connector }) {
  const d = c.statusDetail;
  if (!d) return null;
  const failed = c.status === "failed";
  return (
    <div class={failed ? "error-box status-detail" : "notice status-detail"} role={failed ? "alert" : undefined}>
      <p>
        <strong>{failed ? "The connector failed" : `The connector is ${c.status}`}</strong>
        {d.code && (
          <>
            {" "}
            <code class="code">{d.code}</code>
          </>
        )}
        <span class="small"> since {when(d.since)}</span>
      </p>
      {d.message && <p>{d.message}</p>}
      {d.remediation && (
        <p>
          <strong>What to do:</strong> {d.remediation}
        </p>
      )}
    </div>
  );
}
