// The connector editor: the saved connector as a form or as JSON (switching keeps the edits both
// ways), validated as the user types, then reviewed (a dry run shows the plan) and saved with
// If-Match so that nobody's change is lost.
import { useMemo, useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { api, etagOf, type Connector } from "../../api/client";
import { asProblem, problemFrom, type Violation } from "../../api/problem";
import { ErrorBox, Loading } from "../../components/states";
import { useAsync } from "../../lib/async";
import { CollectionsEditor } from "./collections-editor";
import { ConnectionFields } from "./connection-fields";
import { formToJson, jsonToForm, parseSpecJson, replaceBody, specJson, type Parsed } from "./editor-logic";
import { ReviewPanel } from "./editor-save";
import { JsonEditor, ViewTabs, type View } from "./editor-views";
import { buildSpec, type ConnectorForm } from "./form";
import { placeViolations } from "./pointers";
import { formFromConnector } from "./reverse";
import { useValidation } from "./use-validation";

interface Loaded {
  connector: Connector;
  etag: string | null;
}

/** The connector and its ETag (the version If-Match sends back). */
async function loadConnector(appId: string, connectorId: string): Promise<Loaded> {
  let result;
  try {
    result = await api.GET("/v1/apps/{appId}/connectors/{connectorId}", { params: { path: { appId, connectorId } } });
  } catch (e) {
    throw asProblem(e);
  }
  if (!result.response.ok || !result.data) throw await problemFrom(result.response);
  return { connector: result.data, etag: etagOf(result.response) };
}

export function EditorPage({ appId, connectorId }: { appId: string; connectorId: string }) {
  const loaded = useAsync(() => loadConnector(appId, connectorId), [appId, connectorId]);
  if (!loaded.data) {
    return (
      <>
        <h1>Edit connector</h1>
        {loaded.error ? <ErrorBox error={loaded.error} title="Could not load the connector" /> : <Loading what="the connector" />}
        <p>
          <Link href={`/apps/${appId}/connectors/${connectorId}`}>Back to the connector</Link>
        </p>
      </>
    );
  }
  return <EditorBody key={`${appId}/${connectorId}`} appId={appId} connectorId={connectorId} initial={loaded.data} />;
}

function EditorBody(props: { appId: string; connectorId: string; initial: Loaded }) {
  const { appId, connectorId } = props;
  const [base, setBase] = useState<Loaded>(props.initial);
  const [form, setFormState] = useState<ConnectorForm>(() => formFromConnector(props.initial.connector));
  const [view, setView] = useState<View>("form");
  const [jsonText, setJsonTextState] = useState("");
  const [switchProblems, setSwitchProblems] = useState<string[]>([]);
  const [serverErrors, setServerErrors] = useState<Violation[]>([]);

  const built = useMemo(() => buildSpec(form), [form]);
  const body: Parsed = useMemo(
    () => (view === "form" ? { ok: true, value: built.spec as Record<string, unknown> } : parseSpecJson(jsonText)),
    [view, built.spec, jsonText],
  );
  // Validated as a replacement of this connector, as saving sends it (a blank connection string
  // left out: the stored one stays).
  const validation = useValidation(appId, body.ok ? replaceBody(body.value) : null, base.connector.id);
  const violations = useMemo(() => {
    if (!body.ok) return [];
    const all = [...(validation.report?.errors ?? []), ...serverErrors];
    const unique = all.filter((v, i) => all.findIndex((w) => w.path === v.path && w.message === v.message) === i);
    return unique;
  }, [body, validation.report, serverErrors]);
  const placed = useMemo(() => placeViolations(violations, form, built.problems), [violations, form, built.problems]);
  const errs = (field: string) => placed.byField[field];

  const setForm = (patch: Partial<ConnectorForm>) => {
    setFormState((f) => ({ ...f, ...patch }));
    setServerErrors([]);
  };
  const setJsonText = (text: string) => {
    setJsonTextState(text);
    setServerErrors([]);
  };
  const switchTo = (to: View) => {
    if (to === view) return;
    const r = to === "json" ? formToJson(form) : jsonToForm(jsonText);
    if (!r.ok) return setSwitchProblems(r.problems);
    setSwitchProblems([]);
    if ("text" in r) setJsonTextState(r.text);
    else setFormState(r.form);
    setView(to);
  };

  const reloadTheirs = async () => {
    const fresh = await loadConnector(appId, connectorId);
    const next = formFromConnector(fresh.connector);
    setBase(fresh);
    setFormState(next);
    const json = formToJson(next);
    setJsonTextState(json.ok ? json.text : specJson(buildSpec(next).spec));
    setServerErrors([]);
    setSwitchProblems([]);
  };
  const refreshVersion = async () => {
    const fresh = await loadConnector(appId, connectorId);
    setBase(fresh);
    return fresh.etag;
  };

  const c = base.connector;
  return (
    <>
      <h1>
        Edit connector <span class="mono">{props.initial.connector.name}</span>
      </h1>
      <p class="muted">
        Editing version {c.version}, as saved. Changes take effect when you save them; the review first says what they do
        to each collection. <Link href={`/apps/${appId}/connectors/${connectorId}`}>Cancel and go back to the connector</Link>
      </p>
      <p class="muted small">{validationLine(body.ok, validation.checking, validation.report !== null, violations.length + built.problems.length)}</p>
      {validation.error && <ErrorBox error={validation.error} title="Could not check the spec" />}
      <ViewTabs view={view} onSwitch={switchTo}>
        {switchProblems.length > 0 && (
          <div class="error-box" role="alert">
            <p>
              <strong>{view === "form" ? "The JSON view cannot show the form yet:" : "The form cannot show this JSON yet:"}</strong>
            </p>
            <ul class="violations">
              {switchProblems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </div>
        )}
        {view === "form" ? (
          <>
            {placed.unmapped.length > 0 && (
              <div class="error-box">
                <p>
                  <strong>To fix:</strong>
                </p>
                <ul class="violations">
                  {placed.unmapped.map((v) => (
                    <li key={v.path + v.message}>
                      <code>{v.path || "/"}</code> {v.message}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            <h2>Connection</h2>
            <ConnectionFields form={form} onChange={setForm} errs={errs} stored={c.connectionString} />
            <h2>Collections</h2>
            <CollectionsEditor form={form} onChange={setForm} errs={errs} />
          </>
        ) : (
          <JsonEditor text={jsonText} onText={setJsonText} parseError={body.ok ? null : body.message} violations={violations} />
        )}
      </ViewTabs>
      <h2>Review and save</h2>
      <ReviewPanel
        appId={appId}
        connectorId={connectorId}
        etag={base.etag}
        body={body}
        blockers={view === "form" ? built.problems.map((p) => p.message) : []}
        onViolations={setServerErrors}
        reloadTheirs={reloadTheirs}
        refreshVersion={refreshVersion}
      />
    </>
  );
}

function validationLine(parsed: boolean, checking: boolean, checked: boolean, problems: number): string {
  if (!parsed) return "";
  if (checking) return "Checking the spec…";
  if (!checked) return "";
  return problems === 0 ? "The spec is valid." : `${problems} ${problems === 1 ? "problem" : "problems"} to fix.`;
}
