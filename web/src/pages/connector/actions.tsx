// The connector's actions: pause, resume, restart, test the connection, edit, delete. Each
// refreshes the connector after; errors show below the buttons.
import { useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { api, must, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/confirm";
import { PreflightView } from "../../components/preflight";
import { ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import type { TabProps } from "./page";

export function Actions({ appId, connectorId, connector: c, reload }: TabProps) {
  const action = useAction();
  const test = useAction();
  const [report, setReport] = useState<Schemas["PreflightReport"] | null>(null);
  const [, navigate] = useLocation();
  const path = { appId, connectorId };

  const run = async (call: () => Promise<unknown>) => {
    await action.run(call);
    await reload();
  };
  const running = c.desiredState === "running";

  return (
    <section class="actions" aria-label="Connector actions">
      <div class="toolbar">
        {running ? (
          <ConfirmButton
            label="Pause"
            title={`Pause ${c.name}?`}
            disabled={action.busy}
            onConfirm={() => run(() => must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/pause", { params: { path } })))}
          >
            <p>The sync stops in both directions and resumes later from where it stopped. Nothing is deleted.</p>
          </ConfirmButton>
        ) : (
          <button
            type="button"
            class="primary"
            disabled={action.busy}
            onClick={() => run(() => must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/resume", { params: { path } })))}
          >
            Resume
          </button>
        )}
        <ConfirmButton
          label="Restart"
          title={`Restart ${c.name}?`}
          disabled={action.busy || !running}
          onConfirm={() => run(() => must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/restart", { params: { path } })))}
        >
          <p>
            Its run on the worker stops and starts again; it shows as pending until the worker reports. Use it after fixing
            something outside Edgebridge (e.g. enabling pre- and post-images).
          </p>
        </ConfirmButton>
        <button
          type="button"
          class="secondary"
          disabled={test.busy}
          aria-describedby={test.busy ? "test-running" : undefined}
          onClick={async () => {
            setReport(null);
            const r = await test.run(() =>
              must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/test", { params: { path } })),
            );
            if (r) setReport(r);
            await reload();
          }}
        >
          Test connection
        </button>
        <Link href={`/apps/${appId}/connectors/${connectorId}/edit`} class="button-link">
          Edit
        </Link>
        <ConfirmButton
          label="Delete"
          title={`Delete ${c.name}?`}
          danger
          disabled={action.busy}
          onConfirm={async () => {
            const done = await action.run(async () => {
              await must(api.DELETE("/v1/apps/{appId}/connectors/{connectorId}", { params: { path } }));
              return true;
            });
            if (done) navigate(`/apps/${appId}`);
            else await reload();
          }}
        >
          <p>
            The sync stops and the connector's configuration and stored connection string are removed. The data in MongoDB
            and in the edge store is kept.
          </p>
        </ConfirmButton>
      </div>
      <div role="status" aria-live="polite" class="small muted" id="test-running">
        {test.busy ? "Testing the connection…" : ""}
      </div>
      {action.error && <ErrorBox error={action.error} title="The action did not go through" />}
      {test.error && <ErrorBox error={test.error} title="Could not test the connection" />}
      {report && <TestReport report={report} onClose={() => setReport(null)} />}
    </section>
  );
}

function TestReport({ report, onClose }: { report: Schemas["PreflightReport"]; onClose: () => void }) {
  return (
    <section class="card" aria-labelledby="test-report-title">
      <div class="spread">
        <h2 id="test-report-title">Connection test</h2>
        <button type="button" class="secondary" onClick={onClose}>
          Hide test results
        </button>
      </div>
      <PreflightView report={report} caption="Each check's result" />
    </section>
  );
}
