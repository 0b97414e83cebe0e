// The alerts tab: the connector's active alerts and their history, and the alert rules that apply
// to it (its own, the app's, the built-in ones), with its own rules created, changed, deleted.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { StatusBadge } from "../../components/badges";
import { ConfirmButton } from "../../components/confirm";
import { Async, ErrorBox } from "../../components/states";
import { ActionsHeader, AgoCell } from "../../components/table";
import { useAction, useAsync } from "../../lib/async";
import type { TabProps } from "./page";
import { EditRuleForm, NewRuleForm } from "./rule-form";
import { applicableRules, kindInfo, measureText, type AlertRule, type RuleRow } from "./rules";
import { secs } from "./words";

export function AlertsTab({ appId, connectorId }: TabProps) {
  const path = { appId, connectorId };
  const active = useAsync(
    () => must(api.GET("/v1/apps/{appId}/connectors/{connectorId}/alerts", { params: { path } })),
    [appId, connectorId],
    10_000,
  );
  const history = useAsync(
    () => must(api.GET("/v1/apps/{appId}/connectors/{connectorId}/alerts", { params: { path, query: { state: "all", limit: 100 } } })),
    [appId, connectorId],
    30_000,
  );
  return (
    <>
      <h2>Active alerts</h2>
      <Async state={active} what="alerts" isEmpty={(l) => l.items.length === 0} empty="No alert is pending or firing.">
        {(l) => <AlertTable items={l.items} caption="Active alerts, newest first" />}
      </Async>
      <h2>Alert history</h2>
      <Async state={history} what="alert history" isEmpty={(l) => l.items.length === 0} empty="No alert yet.">
        {(l) => <AlertTable items={l.items} caption="All alerts, newest first" />}
      </Async>
      <Rules appId={appId} connectorId={connectorId} />
    </>
  );
}

function AlertTable({ items, caption }: { items: Schemas["Alert"][]; caption: string }) {
  return (
    <table>
      <caption class="sr-only">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Kind</th>
          <th scope="col">State</th>
          <th scope="col">Value</th>
          <th scope="col">Threshold</th>
          <th scope="col">Message</th>
          <th scope="col">Since</th>
          <th scope="col">Fired</th>
          <th scope="col">Resolved</th>
        </tr>
      </thead>
      <tbody>
        {items.map((a) => (
          <tr key={a.id}>
            <td>{kindInfo(a.kind).label}</td>
            <td>
              <StatusBadge kind="alert" status={a.state} />
            </td>
            <td>{measureText(a.kind, a.value)}</td>
            <td>{measureText(a.kind, a.threshold)}</td>
            <td>{a.message}</td>
            <AgoCell at={a.startedAt} />
            <AgoCell at={a.firedAt} none="—" />
            <AgoCell at={a.resolvedAt} none="—" />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const SOURCES = { connector: "This connector", app: "The app's default", builtIn: "Built-in" };

function Rules({ appId, connectorId }: { appId: string; connectorId: string }) {
  const rules = useAsync(() => must(api.GET("/v1/apps/{appId}/alert-rules", { params: { path: { appId } } })), [appId]);
  const [editing, setEditing] = useState<AlertRule | null>(null);
  const del = useAction();
  return (
    <>
      <h2>Alert rules</h2>
      <p class="muted small">
        Per kind, the rule that applies to this connector: its own, else the app's default, else the built-in one.
      </p>
      {del.error && <ErrorBox error={del.error} title="Could not delete the rule" />}
      <Async state={rules} what="alert rules">
        {(list) => (
          <RuleTable
            rows={applicableRules(list, connectorId)}
            busy={del.busy}
            onEdit={setEditing}
            onDelete={async (r) => {
              await del.run(() =>
                must(api.DELETE("/v1/apps/{appId}/alert-rules/{ruleId}", { params: { path: { appId, ruleId: r.id } } })),
              );
              if (editing?.id === r.id) setEditing(null);
              await rules.reload();
            }}
          />
        )}
      </Async>
      {editing && (
        <EditRuleForm
          key={editing.id}
          appId={appId}
          rule={editing}
          onCancel={() => setEditing(null)}
          onDone={async () => {
            setEditing(null);
            await rules.reload();
          }}
        />
      )}
      <NewRuleForm appId={appId} connectorId={connectorId} onDone={() => void rules.reload()} />
    </>
  );
}

function RuleTable(props: {
  rows: RuleRow[];
  busy: boolean;
  onEdit: (r: AlertRule) => void;
  onDelete: (r: AlertRule) => Promise<void>;
}) {
  return (
    <table>
      <caption class="sr-only">The alert rules that apply to this connector</caption>
      <thead>
        <tr>
          <th scope="col">Kind</th>
          <th scope="col">Rule</th>
          <th scope="col">Enabled</th>
          <th scope="col">Threshold</th>
          <th scope="col">For</th>
          <th scope="col">Window</th>
          <ActionsHeader />
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => {
          const label = kindInfo(row.kind).label;
          return (
            <tr key={row.kind}>
              <th scope="row">{label}</th>
              <td>
                {SOURCES[row.source]}
                {row.own && row.app && <div class="muted small">overrides the app's default</div>}
              </td>
              <td>{row.enabled ? "yes" : "no"}</td>
              <td>{kindInfo(row.kind).unit ? measureText(row.kind, row.threshold) : "—"}</td>
              <td>{row.forSecs === 0 ? "at once" : secs(row.forSecs)}</td>
              <td>{kindInfo(row.kind).windowed ? secs(row.windowSecs) : "—"}</td>
              <td>
                {row.own && (
                  <div class="row nowrap">
                    <button type="button" class="secondary" aria-label={`Edit rule ${label}`} onClick={() => props.onEdit(row.own!)}>
                      Edit
                    </button>
                    <ConfirmButton
                      label="Delete"
                      ariaLabel={`Delete rule ${label}`}
                      title={`Delete this connector's “${label}” rule?`}
                      danger
                      disabled={props.busy}
                      onConfirm={() => props.onDelete(row.own!)}
                    >
                      <p>The app's rule of this kind (or the built-in one) applies to this connector again.</p>
                    </ConfirmButton>
                  </div>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
