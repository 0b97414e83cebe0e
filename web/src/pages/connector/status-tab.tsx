// The status tab: each collection's phase, copy progress, lag, throughput and totals (with a
// resync per collection), the resume point, the connector's totals and its configuration.
import { Fragment } from "preact";
import { api, must, type Connector, type Schemas } from "../../api/client";
import { ProgressBar, StatusBadge } from "../../components/badges";
import { ConfirmButton } from "../../components/confirm";
import { Empty, ErrorBox } from "../../components/states";
import { ActionsHeader, AgoCell } from "../../components/table";
import { useAction } from "../../lib/async";
import { ago, count, duration, rate, when } from "../../lib/format";
import type { TabProps } from "./page";
import { ConfigSummary } from "./config-summary";
import { copyText, resumeText, secs } from "./words";

export function StatusTab(props: TabProps) {
  const c = props.connector;
  return (
    <>
      <Collections {...props} />
      <h2>Resume point</h2>
      <ResumePoint r={c.resumePoint} />
      <h2>Totals</h2>
      <p class="muted small">Since the connector was created, all collections together, across restarts and moves.</p>
      <Totals totals={c.totals} />
      {Object.keys(c.counters).length > 0 && (
        <details class="counters">
          <summary>Counters of the current run</summary>
          <dl class="facts">
            {Object.entries(c.counters).map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd>{count(v)}</dd>
              </Fragment>
            ))}
          </dl>
        </details>
      )}
      {c.lastError && <LastError e={c.lastError} />}
      <ConfigSummary connector={c} />
    </>
  );
}

function Collections({ appId, connectorId, connector: c, reload }: TabProps) {
  const resync = useAction();
  const names = Object.keys(c.collectionStatus).sort();
  return (
    <>
      <h2>Collections</h2>
      {resync.error && <ErrorBox error={resync.error} title="Could not resync the collection" />}
      {names.length === 0 ? (
        <Empty>The connector syncs no collection yet.</Empty>
      ) : (
        <div class="table-scroll">
          <table class="collections">
            <caption class="sr-only">Each collection's sync</caption>
            <thead>
              <tr>
                <th scope="col">Collection</th>
                <th scope="col">Phase</th>
                <th scope="col">Copy progress</th>
                <th scope="col">Lag</th>
                <th scope="col">Throughput</th>
                <th scope="col">Totals</th>
                <th scope="col">Last synced</th>
                <ActionsHeader />
              </tr>
            </thead>
            <tbody>
              {names.map((name) => (
                <CollectionRow
                  key={name}
                  name={name}
                  s={c.collectionStatus[name]}
                  busy={resync.busy}
                  onResync={async () => {
                    await resync.run(() =>
                      must(
                        api.POST("/v1/apps/{appId}/connectors/{connectorId}/collections/{collection}/resync", {
                          params: { path: { appId, connectorId, collection: name } },
                        }),
                      ),
                    );
                    await reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CollectionRow(props: { name: string; s: Schemas["CollectionStatus"]; busy: boolean; onResync: () => Promise<void> }) {
  const { name, s } = props;
  return (
    <tr>
      <th scope="row">{name}</th>
      <td>
        <StatusBadge kind="phase" status={s.phase} />
        {s.code && (
          <div>
            <code class="code">{s.code}</code>
          </div>
        )}
      </td>
      <td>{s.initialSync ? <CopyProgress name={name} p={s.initialSync} /> : <span class="muted">no copy running</span>}</td>
      <td>
        <div>MongoDB → edge: {duration(s.lag.mongoToEdgeMs)}</div>
        <div>edge → MongoDB: {duration(s.lag.edgeToMongoMs)}</div>
      </td>
      <td>
        <div>MongoDB → edge: {rate(s.throughput.mongoToEdgePerSec)}</div>
        <div>edge → MongoDB: {rate(s.throughput.edgeToMongoPerSec)}</div>
      </td>
      <td>
        <Totals totals={s.totals} compact />
      </td>
      <AgoCell at={s.lastSyncedAt} />
      <td>
        <ConfirmButton label={`Resync ${name}`} title={`Resync ${name}?`} disabled={props.busy} onConfirm={props.onResync}>
          <p>
            The collection is copied again from MongoDB (a new initial sync, then streaming from where the copy began). A
            running connector restarts for it; a paused one resyncs when resumed.
          </p>
        </ConfirmButton>
      </td>
    </tr>
  );
}

function CopyProgress({ name, p }: { name: string; p: Schemas["CopyProgress"] }) {
  const t = copyText(p);
  return (
    <div class="copy-progress">
      <div class="row">
        <ProgressBar percent={p.percent} label={`Copy progress of ${name}`} />
        <span>{t.percent}</span>
      </div>
      <div class="small">{t.documents} documents</div>
      <div class="small muted">
        {t.speed} · {t.eta}
      </div>
    </div>
  );
}

const TOTALS: [keyof Schemas["SyncTotals"], string][] = [
  ["copied", "Copied"],
  ["applied", "Applied"],
  ["writtenBack", "Written back"],
  ["skipped", "Skipped"],
  ["unsynced", "Unsynced"],
  ["errors", "Errors"],
];

function Totals({ totals, compact }: { totals: Schemas["SyncTotals"]; compact?: boolean }) {
  return (
    <dl class={compact ? "facts small" : "facts"}>
      {TOTALS.map(([k, label]) => (
        <Fragment key={k}>
          <dt>{label}</dt>
          <dd>{count(totals[k] ?? 0)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

function ResumePoint({ r }: { r: Connector["resumePoint"] }) {
  const hasLeft = r.known && r.secondsLeft !== null && r.secondsLeft !== undefined;
  return (
    <dl class="facts">
      <dt>Oplog window known</dt>
      <dd>{r.known ? "yes" : "no"}</dd>
      <dt>Oplog window</dt>
      <dd>{r.known ? secs(r.oplogWindowSecs) : "unknown"}</dd>
      <dt>Time left</dt>
      <dd>{hasLeft ? `${resumeText(r)} (${count(r.secondsLeft)} s)` : "—"}</dd>
      {r.measuredAt && (
        <>
          <dt>Measured</dt>
          <dd>
            {ago(r.measuredAt)} ({when(r.measuredAt)})
          </dd>
        </>
      )}
      {r.reason && (
        <>
          <dt>{r.known ? "Note" : "Why unknown"}</dt>
          <dd>{r.reason}</dd>
        </>
      )}
    </dl>
  );
}

function LastError({ e }: { e: Schemas["ReportedError"] }) {
  return (
    <>
      <h2>Latest error</h2>
      <p class="muted small">The latest error the connector reported, also after it recovered from it.</p>
      <div class="card">
        <p>
          <code class="code">{e.code}</code> <span class="muted">{when(e.at)}</span>
        </p>
        <p>{e.message}</p>
        {e.remediation && (
          <p>
            <strong>What to do:</strong> {e.remediation}
          </p>
        )}
      </div>
    </>
  );
}
