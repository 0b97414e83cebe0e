// Loading, empty and error states, the same on every page.
import type { ComponentChildren } from "preact";
import type { ApiProblem } from "../api/problem";

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state empty">{children}</div>;
}

/** An API error: its stable code, what happened and what to do, and each field's problem. */
export function ErrorBox({ error, title }: { error: ApiProblem; title?: string }) {
  return (
    <div class="error-box" role="alert">
      <p class="error-title">
        <strong>{title ?? error.title}</strong> <code class="code">{error.code}</code>
        {error.status > 0 && <span class="muted"> HTTP {error.status}</span>}
      </p>
      <p class="error-detail">{error.detail}</p>
      {error.errors.length > 0 && (
        <ul class="violations">
          {error.errors.map((v) => (
            <li key={v.path + v.message}>
              <code>{v.path || "/"}</code> {v.message}
            </li>
          ))}
        </ul>
      )}
      {error.requestId && <p class="muted small">Request id {error.requestId} (quote it when reporting a problem)</p>}
    </div>
  );
}

/** What an action did (a polite status message), or why it did not go through. */
export function Outcome(props: { done: ComponentChildren; error: ApiProblem | null; errorTitle?: string }) {
  return (
    <>
      {props.done && (
        <p class="notice" role="status">
          {props.done}
        </p>
      )}
      {props.error && <ErrorBox error={props.error} title={props.errorTitle} />}
    </>
  );
}

/** Renders the loading / error / empty / data states of an async load. */
export function Async<T>(props: {
  state: { data: T | undefined; error: ApiProblem | null; loading: boolean };
  what: string;
  isEmpty?: (data: T) => boolean;
  empty?: ComponentChildren;
  children: (data: T) => ComponentChildren;
}) {
  const { data, error } = props.state;
  if (data === undefined) {
    if (error) return <ErrorBox error={error} />;
    return <Loading what={props.what} />;
  }
  return (
    <>
      {error && <ErrorBox error={error} title={`Could not refresh ${props.what}`} />}
      {props.isEmpty && props.isEmpty(data) ? <Empty>{props.empty ?? `No ${props.what} yet.`}</Empty> : props.children(data)}
    </>
  );
}
