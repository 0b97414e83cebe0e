// The organization's API keys: list, create (the secret shown once) and revoke.
import { useState } from "preact/hooks";
import { allPages, api, must, type Schemas } from "../api/client";
import type { ApiProblem } from "../api/problem";
import { session } from "../api/session";
import { ConfirmButton } from "../components/confirm";
import { Async, ErrorBox, Outcome } from "../components/states";
import { ActionsHeader, AgoCell } from "../components/table";
import { useAction, useAsync } from "../lib/async";
import { when } from "../lib/format";
import { expired, isOwnKey, keyBody, ROLE_HELP, ROLES, type FieldErrors, type KeyForm } from "./access/keys";
import { SecretOnce } from "./access/secret";

type Revoked = Schemas["ApiKeyRevocation"] & { name: string };

export function KeysPage(_props: object) {
  const keys = useAsync(
    () => allPages((cursor) => must(api.GET("/v1/api-keys", { params: { query: { limit: 100, cursor } } }))),
    [],
  );
  const apps = useAsync(
    () => allPages((cursor) => must(api.GET("/v1/apps", { params: { query: { limit: 100, cursor } } }))),
    [],
  );
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const [revoked, setRevoked] = useState<Revoked | null>(null);
  const revoke = useAction();
  const appName = (id: string | null | undefined) =>
    !id ? "All apps" : (apps.data?.find((a) => a.id === id)?.name ?? id);
  const ownKey = session.get()?.apiKey ?? null;

  const onRevoke = async (key: Schemas["ApiKeyOut"]) => {
    setRevoked(null);
    const out = await revoke.run(() => must(api.DELETE("/v1/api-keys/{keyId}", { params: { path: { keyId: key.id } } })));
    if (out) setRevoked({ ...out, name: key.name });
    await keys.reload();
  };

  return (
    <>
      <h1>API keys</h1>
      {created && (
        <SecretOnce title={`Key “${created.name}” created`} what="key" secret={created.key} onDismiss={() => setCreated(null)}>
          <p>
            Role {created.role}, {appName(created.appId)}
            {created.expiresAt ? `, expires ${when(created.expiresAt)}` : ", does not expire"}. Use it as{" "}
            <code>Authorization: Bearer &lt;key&gt;</code>.
          </p>
        </SecretOnce>
      )}
      <Outcome
        done={
          revoked && (
            <>
              Revoked “{revoked.name}”
              {revoked.revokedCount > 1 && ` and ${revoked.revokedCount - 1} key(s) created with it`}.
            </>
          )
        }
        error={revoke.error}
        errorTitle="Could not revoke the key"
      />
      <Async state={keys} what="API keys" isEmpty={(k) => k.length === 0} empty="No API keys yet: create one below.">
        {(list) => (
          <table>
            <caption class="sr-only">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">App</th>
                <th scope="col">Key</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Created</th>
                <ActionsHeader />
              </tr>
            </thead>
            <tbody>
              {list.map((k) => {
                const own = isOwnKey(k.display, ownKey);
                return (
                  <tr key={k.id}>
                    <td>
                      {k.name}
                      {own && <span class="muted small"> (this session's key)</span>}
                    </td>
                    <td>{k.role}</td>
                    <td>{appName(k.appId)}</td>
                    <td class="mono">{k.display}</td>
                    <AgoCell at={k.lastUsedAt} />
                    <td>{k.expiresAt ? `${when(k.expiresAt)}${expired(k.expiresAt) ? " (expired)" : ""}` : "Never"}</td>
                    <td>{when(k.createdAt)}</td>
                    <td>
                      <ConfirmButton
                        label="Revoke"
                        ariaLabel={`Revoke ${k.name}`}
                        title={`Revoke the key “${k.name}”?`}
                        confirmLabel="Revoke key"
                        danger
                        disabled={revoke.busy}
                        onConfirm={() => onRevoke(k)}
                      >
                        <p>
                          It stops working at once, also for access tokens obtained with it, and so do the keys created with
                          it.
                        </p>
                        {own && <p>This is the key you signed in with: the dashboard will sign you out.</p>}
                      </ConfirmButton>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Async>
      <CreateKey
        apps={apps.data ?? []}
        appsError={apps.error}
        onCreated={(k) => {
          setCreated(k);
          setRevoked(null);
          void keys.reload();
        }}
      />
    </>
  );
}

const EMPTY: KeyForm = { name: "", role: "viewer", appId: "", expires: "" };

function CreateKey(props: { apps: Schemas["AppOut"][]; appsError: ApiProblem | null; onCreated: (k: Schemas["ApiKeyCreated"]) => void }) {
  const [form, setForm] = useState<KeyForm>(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const create = useAction();
  const set = <K extends keyof KeyForm>(k: K, v: KeyForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const serverError = (pointer: string) => create.error?.errorsAt(pointer).map((v) => v.message).join(" ") || undefined;
  const nameError = errors.name ?? serverError("/name");
  const expiresError = errors.expires ?? serverError("/expiresAt");
  const roleError = serverError("/role");
  const appError = serverError("/appId");

  const submit = async (e: Event) => {
    e.preventDefault();
    const built = keyBody(form);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    const key = await create.run(() => must(api.POST("/v1/api-keys", { body: built.body })));
    if (key) {
      setForm(EMPTY);
      props.onCreated(key);
    }
  };

  return (
    <form class="card" onSubmit={submit} noValidate>
      <h2>Create a key</h2>
      <div class="field">
        <label for="key-name">Key name</label>
        <input
          id="key-name"
          value={form.name}
          maxLength={100}
          required
          aria-invalid={nameError ? "true" : undefined}
          aria-describedby={nameError ? "key-name-error" : undefined}
          onInput={(e) => set("name", e.currentTarget.value)}
        />
        {nameError && (
          <span id="key-name-error" class="field-error">
            {nameError}
          </span>
        )}
      </div>
      <div class="field">
        <label for="key-role">Role</label>
        <select
          id="key-role"
          value={form.role}
          aria-invalid={roleError ? "true" : undefined}
          aria-describedby="key-role-help"
          onChange={(e) => set("role", e.currentTarget.value as KeyForm["role"])}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <span id="key-role-help" class="muted small">
          {form.role}: {ROLE_HELP[form.role]}. At most your own role.
        </span>
        {roleError && <span class="field-error">{roleError}</span>}
      </div>
      <div class="field">
        <label for="key-app">App</label>
        <select id="key-app" value={form.appId} aria-invalid={appError ? "true" : undefined} onChange={(e) => set("appId", e.currentTarget.value)}>
          <option value="">All apps</option>
          {props.apps.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
        {appError && <span class="field-error">{appError}</span>}
        {props.appsError && <ErrorBox error={props.appsError} title="Could not list the apps" />}
      </div>
      <div class="field">
        <label for="key-expires">Expires</label>
        <input
          id="key-expires"
          type="datetime-local"
          value={form.expires}
          aria-invalid={expiresError ? "true" : undefined}
          aria-describedby={expiresError ? "key-expires-error key-expires-help" : "key-expires-help"}
          onInput={(e) => set("expires", e.currentTarget.value)}
        />
        <span id="key-expires-help" class="muted small">
          Optional, in your local time. Left empty: never, or when your own key expires if it does.
        </span>
        {expiresError && (
          <span id="key-expires-error" class="field-error">
            {expiresError}
          </span>
        )}
      </div>
      {create.error && <ErrorBox error={create.error} title="Could not create the key" />}
      <button type="submit" class="primary" disabled={create.busy}>
        {create.busy ? "Creating…" : "Create key"}
      </button>
    </form>
  );
}
