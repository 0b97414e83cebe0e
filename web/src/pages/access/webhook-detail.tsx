// One webhook: its settings (edited with a merge patch, If-Match its ETag), a test event, secret
// rotation, deletion, and its deliveries.
import { useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { api, etagOf, must, type Schemas } from "../../api/client";
import type { ApiProblem } from "../../api/problem";
import { StatusBadge } from "../../components/badges";
import { ConfirmButton } from "../../components/confirm";
import { Async, Outcome } from "../../components/states";
import { useAction, useAsync } from "../../lib/async";
import { when } from "../../lib/format";
import { Deliveries } from "./deliveries";
import { SecretOnce } from "./secret";
import { WebhookFields } from "./webhook-fields";
import { eventsText, formOf, patchOf, testOutcome, type FormErrors, type Webhook, type WebhookForm } from "./webhooks";

interface Loaded {
  webhook: Webhook;
  etag: string | null;
}

/** Runs a call and keeps its answer's ETag. */
async function withEtag<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<{ data: T; etag: string | null }> {
  let etag: string | null = null;
  const data = await must(
    call.then((r) => {
      etag = etagOf(r.response);
      return r;
    }),
  );
  return { data, etag };
}

export function WebhookDetail({ appId, webhookId }: { appId: string; webhookId: string }) {
  const path = { appId, webhookId };
  const loaded = useAsync<Loaded>(async () => {
    const { data, etag } = await withEtag(api.GET("/v1/apps/{appId}/webhooks/{webhookId}", { params: { path } }));
    return { webhook: data, etag };
  }, [appId, webhookId]);
  const [secret, setSecret] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const action = useAction();
  const [, navigate] = useLocation();
  const list = `/apps/${appId}/webhooks`;

  const patch = async (current: Loaded, body: Schemas["WebhookPatch"]) => {
    const out = await action.run(() =>
      withEtag(
        api.PATCH("/v1/apps/{appId}/webhooks/{webhookId}", {
          params: { path, header: current.etag ? { "If-Match": current.etag } : undefined },
          body,
        }),
      ),
    );
    if (out) await loaded.reload();
    return out !== undefined;
  };
  const sendTest = async () => {
    setOutcome(null);
    const d = await action.run(() => must(api.POST("/v1/apps/{appId}/webhooks/{webhookId}/test", { params: { path } })));
    if (d) setOutcome(testOutcome(d));
    setTick((t) => t + 1);
  };
  const rotate = async () => {
    const w = await action.run(() => must(api.POST("/v1/apps/{appId}/webhooks/{webhookId}/rotate-secret", { params: { path } })));
    if (w) {
      setSecret(w.secret);
      await loaded.reload();
    }
  };
  const remove = async () => {
    const done = await action.run(async () => {
      await must(api.DELETE("/v1/apps/{appId}/webhooks/{webhookId}", { params: { path } }));
      return true;
    });
    if (done) navigate(list);
  };

  return (
    <>
      <p>
        <Link href={list}>All webhooks</Link>
      </p>
      <h1>Webhook</h1>
      <Async state={loaded} what="the webhook">
        {(current) => {
          const w = current.webhook;
          return (
            <>
              <p class="mono">{w.url}</p>
              {secret && (
                <SecretOnce title="New signing secret" what="signing secret" secret={secret} onDismiss={() => setSecret(null)}>
                  <p>Attempts from now on, retries of earlier messages included, are signed with this secret.</p>
                </SecretOnce>
              )}
              <div class="toolbar">
                <button type="button" class="secondary" disabled={action.busy} onClick={sendTest}>
                  Send test
                </button>
                <button type="button" class="secondary" disabled={action.busy} onClick={() => patch(current, { enabled: !w.enabled })}>
                  {w.enabled ? "Disable" : "Enable"}
                </button>
                <ConfirmButton
                  label="Rotate secret"
                  title="Rotate the signing secret?"
                  confirmLabel="Rotate"
                  disabled={action.busy}
                  onConfirm={rotate}
                >
                  <p>
                    A new secret replaces the current one at once: receivers verifying with the old one reject the next
                    events until they have the new one, which is shown once.
                  </p>
                </ConfirmButton>
                <ConfirmButton label="Delete" title="Delete this webhook?" confirmLabel="Delete webhook" danger disabled={action.busy} onConfirm={remove}>
                  <p>
                    <span class="mono">{w.url}</span> gets no more events; its deliveries and their log are removed.
                  </p>
                </ConfirmButton>
              </div>
              <Outcome done={outcome} error={action.error} />
              <dl class="facts">
                <dt>State</dt>
                <dd>
                  <StatusBadge status={w.enabled ? "enabled" : "disabled"} />
                </dd>
                <dt>Description</dt>
                <dd>{w.description || "—"}</dd>
                <dt>Events</dt>
                <dd>{eventsText(w.eventTypes)}</dd>
                <dt>Version</dt>
                <dd>{w.version}</dd>
                <dt>Created</dt>
                <dd>{when(w.createdAt)}</dd>
                <dt>Updated</dt>
                <dd>{when(w.updatedAt)}</dd>
              </dl>
              <Settings key={w.version} webhook={w} onSave={(body) => patch(current, body)} problem={action.error} busy={action.busy} />
            </>
          );
        }}
      </Async>
      {loaded.data && <Deliveries appId={appId} webhookId={webhookId} tick={tick} />}
    </>
  );
}

function Settings(props: {
  webhook: Webhook;
  onSave: (patch: Schemas["WebhookPatch"]) => Promise<boolean>;
  problem: ApiProblem | null;
  busy: boolean;
}) {
  const [form, setForm] = useState<WebhookForm>(() => formOf(props.webhook));
  const [errors, setErrors] = useState<FormErrors>({});
  const [note, setNote] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setNote(null);
    const built = patchOf(props.webhook, form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    if (Object.keys(built.body).length === 0) {
      setNote("Nothing changed.");
      return;
    }
    await props.onSave(built.body);
  };
  return (
    <form class="card" onSubmit={submit} noValidate>
      <h2>Settings</h2>
      <WebhookFields id="edit-webhook" form={form} onChange={setForm} errors={errors} problem={props.problem} />
      <div class="row">
        <button type="submit" class="primary" disabled={props.busy}>
          Save changes
        </button>
        <span role="status" class="muted small">
          {note}
        </span>
      </div>
    </form>
  );
}
