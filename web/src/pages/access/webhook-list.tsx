// The app's webhooks, and a form to add one (its signing secret shown once).
import { useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { allPages, api, must, type Schemas } from "../../api/client";
import { StatusBadge } from "../../components/badges";
import { Async, ErrorBox } from "../../components/states";
import { useAction, useAsync } from "../../lib/async";
import { when } from "../../lib/format";
import { SecretOnce } from "./secret";
import { WebhookFields } from "./webhook-fields";
import { createBody, eventsText, NEW_WEBHOOK, type FormErrors, type WebhookForm } from "./webhooks";

export function WebhookList({ appId }: { appId: string }) {
  const hooks = useAsync(
    () =>
      allPages((cursor) =>
        must(api.GET("/v1/apps/{appId}/webhooks", { params: { path: { appId }, query: { limit: 100, cursor } } })),
      ),
    [appId],
  );
  const [created, setCreated] = useState<Schemas["WebhookCreated"] | null>(null);
  return (
    <>
      <h1>Webhooks</h1>
      <p class="muted">
        Alert transitions of this app's connectors (<code>alert.pending</code>, <code>alert.firing</code>,{" "}
        <code>alert.resolved</code>) are POSTed to each enabled webhook. An app has at most 20 webhooks.
      </p>
      {created && (
        <SecretOnce title="Webhook added" what="signing secret" secret={created.secret} onDismiss={() => setCreated(null)}>
          <p>
            Events go to <span class="mono">{created.url}</span>. Verify their <code>webhook-signature</code> with this secret.{" "}
            <Link href={`/apps/${appId}/webhooks/${created.id}`}>Open the new webhook</Link>.
          </p>
        </SecretOnce>
      )}
      <Async state={hooks} what="webhooks" isEmpty={(l) => l.length === 0} empty="No webhooks yet: add one below.">
        {(list) => (
          <table>
            <caption class="sr-only">Webhooks</caption>
            <thead>
              <tr>
                <th scope="col">Endpoint URL</th>
                <th scope="col">Description</th>
                <th scope="col">Events</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.id}>
                  <td class="mono">
                    <Link href={`/apps/${appId}/webhooks/${w.id}`}>{w.url}</Link>
                  </td>
                  <td>{w.description}</td>
                  <td>{eventsText(w.eventTypes)}</td>
                  <td>
                    <StatusBadge status={w.enabled ? "enabled" : "disabled"} />
                  </td>
                  <td>{when(w.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
      <AddWebhook
        appId={appId}
        onCreated={(w) => {
          setCreated(w);
          void hooks.reload();
        }}
      />
    </>
  );
}

function AddWebhook(props: { appId: string; onCreated: (w: Schemas["WebhookCreated"]) => void }) {
  const [form, setForm] = useState<WebhookForm>(NEW_WEBHOOK);
  const [errors, setErrors] = useState<FormErrors>({});
  const create = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const built = createBody(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    const w = await create.run(() =>
      must(api.POST("/v1/apps/{appId}/webhooks", { params: { path: { appId: props.appId } }, body: built.body })),
    );
    if (w) {
      setForm(NEW_WEBHOOK);
      props.onCreated(w);
    }
  };
  return (
    <form class="card" onSubmit={submit} noValidate>
      <h2>Add a webhook</h2>
      <WebhookFields id="new-webhook" form={form} onChange={setForm} errors={errors} problem={create.error} />
      {create.error && <ErrorBox error={create.error} title="Could not add the webhook" />}
      <button type="submit" class="primary" disabled={create.busy}>
        {create.busy ? "Adding…" : "Add webhook"}
      </button>
    </form>
  );
}
