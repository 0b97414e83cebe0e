// Sign in with an API key (exchanged for an access token kept in memory) or, for operators, the
// operator token.
import { useState } from "preact/hooks";
import { exchangeKey, operatorSession } from "../api/client";
import { session } from "../api/session";
import { useAction } from "../lib/async";
import { ErrorBox } from "../components/states";

export function SignIn() {
  const [kind, setKind] = useState<"key" | "operator">("key");
  const [secret, setSecret] = useState("");
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const value = secret.trim();
    const s = await action.run(() => (kind === "key" ? exchangeKey(value) : operatorSession(value)));
    if (s) {
      setSecret("");
      session.set(s);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to Edgebridge</h1>
      <form onSubmit={submit} class="card">
        <fieldset>
          <legend>Sign in with</legend>
          <label class="inline">
            <input type="radio" name="kind" checked={kind === "key"} onChange={() => setKind("key")} /> An API key
          </label>
          <label class="inline">
            <input type="radio" name="kind" checked={kind === "operator"} onChange={() => setKind("operator")} /> The
            operator token
          </label>
        </fieldset>
        <label for="secret">{kind === "key" ? "API key" : "Operator token"}</label>
        <input
          id="secret"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={secret}
          placeholder={kind === "key" ? "ebk_…" : ""}
          onInput={(e) => setSecret(e.currentTarget.value)}
          aria-describedby="secret-help"
        />
        <p id="secret-help" class="muted small">
          {kind === "key"
            ? "The key is exchanged for an access token that lives in this tab's memory only: reloading the page signs you out."
            : "EDGEBRIDGE_OPERATOR_TOKEN of the api: shows the worker fleet."}
        </p>
        {action.error && <ErrorBox error={action.error} title="Could not sign in" />}
        <button type="submit" class="primary" disabled={action.busy || secret.trim() === ""}>
          {action.busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
