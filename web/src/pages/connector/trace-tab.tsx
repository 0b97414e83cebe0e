// The trace tab: the last sync steps of one document, both ways; and debug mode, which reports
// each change read and each write to MongoDB as a debug event for some minutes.
import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { Field, nameOptions, SelectField } from "../../components/fields";
import { Empty, ErrorBox, Loading } from "../../components/states";
import { useAction } from "../../lib/async";
import { ago, count, when } from "../../lib/format";
import type { TabProps } from "./page";
import { documentIdParam } from "./docid";
import { describeDetail, directionLabel, stepLabel } from "./trace";

export function TraceTab(props: TabProps) {
  return (
    <>
      <DocumentTrace {...props} />
      <DebugMode {...props} />
    </>
  );
}

function DocumentTrace({ appId, connectorId, connector }: TabProps) {
  const collections = Object.keys(connector.collections).sort();
  const [collection, setCollection] = useState(collections[0] ?? "");
  const [id, setId] = useState("");
  const [trace, setTrace] = useState<Schemas["DocumentTrace"] | null>(null);
  const load = useAction();
  return (
    <>
      <h2>Document trace</h2>
      <p class="muted">The last sync steps of one document, both ways, newest first.</p>
      <form
        class="toolbar"
        aria-label="Find a document's trace"
        onSubmit={async (e) => {
          e.preventDefault();
          const documentId = documentIdParam(id);
          if (!collection || !documentId) return;
          setTrace(null);
          const t = await load.run(() =>
            must(
              api.GET("/v1/apps/{appId}/connectors/{connectorId}/trace", {
                params: { path: { appId, connectorId }, query: { collection, documentId, limit: 200 } },
              }),
            ),
          );
          if (t) setTrace(t);
        }}
      >
        <SelectField
          id="trace-collection"
          label="Collection"
          value={collection}
          options={nameOptions(collections)}
          onValue={setCollection}
          required
        />
        <Field id="trace-document" label="Document id">
          <input
            id="trace-document"
            value={id}
            required
            placeholder='p01 or {"sku":"a"}'
            aria-describedby="trace-document-hint"
            onInput={(e) => setId(e.currentTarget.value)}
          />
        </Field>
        <button type="submit" class="primary" disabled={load.busy || !collection || id.trim() === ""}>
          Show trace
        </button>
        <p id="trace-document-hint" class="muted small">
          The id as the edge holds it: the plain text for a string id, else its JSON.
        </p>
      </form>
      {load.error && <ErrorBox error={load.error} title="Could not load the trace" />}
      {load.busy && <Loading what="the trace" />}
      {trace && <TraceSteps trace={trace} />}
    </>
  );
}

function TraceSteps({ trace }: { trace: Schemas["DocumentTrace"] }) {
  return (
    <section aria-labelledby="trace-title">
      <h3 id="trace-title">
        Steps of <span class="mono">{trace.documentId}</span> in {trace.collection}
      </h3>
      <p class="muted small">
        The connector keeps its newest {count(trace.retentionSteps)} steps, all documents together.
        {trace.dropped > 0 && ` Under heavy load its workers left out ${count(trace.dropped)} steps, so some may be missing.`}
      </p>
      {trace.steps.length === 0 ? (
        <Empty>No steps: the document has not synced lately (copies are not traced), or the id or collection is not right.</Empty>
      ) : (
        <table class="trace">
          <caption class="sr-only">Sync steps, newest first</caption>
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">Direction</th>
              <th scope="col">Step</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {trace.steps.map((s, i) => {
              const details = describeDetail(s.detail);
              return (
                <tr key={`${s.at}-${i}`} class={s.step === "refused" || s.step === "edge_refused" ? "step-refused" : undefined}>
                  <td class="nowrap">
                    <time dateTime={s.at}>{when(s.at)}</time>
                  </td>
                  <td>{directionLabel(s.direction)}</td>
                  <td>
                    {stepLabel(s.step)}
                    <div class="muted small">
                      <code>{s.step}</code>
                    </div>
                  </td>
                  <td>
                    {details.length === 0 ? (
                      <span class="muted">—</span>
                    ) : (
                      <dl class="facts small">
                        {details.map((d) => (
                          <Fragment key={d.key}>
                            <dt>{d.label}</dt>
                            <dd class={d.key === "resumeToken" || d.key === "session" ? "mono break" : undefined}>{d.value}</dd>
                          </Fragment>
                        ))}
                      </dl>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function DebugMode({ appId, connectorId }: TabProps) {
  const [minutes, setMinutes] = useState("10");
  const [state, setState] = useState<Schemas["DebugState"] | null>(null);
  const action = useAction();
  const path = { appId, connectorId };
  const n = Number(minutes);
  const valid = Number.isInteger(n) && n >= 1 && n <= 60;
  const on = !!state?.debugUntil && Date.parse(state.debugUntil) > Date.now();
  return (
    <section class="card" aria-labelledby="debug-title">
      <h2 id="debug-title">Debug mode</h2>
      <p class="muted small">
        For some minutes the worker reports each MongoDB change it reads and each write it makes to MongoDB as a debug event
        (see Events with the level “Debug and above”). It takes effect with the worker's next report.
      </p>
      <form
        class="toolbar"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!valid) return;
          const s = await action.run(() =>
            must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/debug", { params: { path }, body: { minutes: n } })),
          );
          if (s) setState(s);
        }}
      >
        <div class="field">
          <label for="debug-minutes">Minutes</label>
          <input
            id="debug-minutes"
            type="number"
            min={1}
            max={60}
            step={1}
            value={minutes}
            aria-invalid={valid ? undefined : "true"}
            aria-describedby={valid ? undefined : "debug-minutes-error"}
            onInput={(e) => setMinutes(e.currentTarget.value)}
          />
          {!valid && (
            <span class="field-error" id="debug-minutes-error">
              1 to 60 minutes.
            </span>
          )}
        </div>
        <button type="submit" class="primary" disabled={action.busy || !valid}>
          Start debug mode
        </button>
        <button
          type="button"
          class="secondary"
          disabled={action.busy}
          onClick={async () => {
            const s = await action.run(() => must(api.DELETE("/v1/apps/{appId}/connectors/{connectorId}/debug", { params: { path } })));
            if (s) setState(s);
          }}
        >
          Stop debug mode
        </button>
      </form>
      {action.error && <ErrorBox error={action.error} title="Could not change debug mode" />}
      <div role="status" aria-live="polite">
        {state && (
          <p>
            {on ? (
              <>
                <strong>Debug mode is on</strong> until {when(state.debugUntil)} ({ago(state.debugUntil)}).
              </>
            ) : (
              <strong>Debug mode is off.</strong>
            )}{" "}
            <span class="muted small">At most {count(state.debugEventsPerMinute)} debug events are stored per minute.</span>
          </p>
        )}
      </div>
    </section>
  );
}
