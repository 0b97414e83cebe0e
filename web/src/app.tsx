// The dashboard's shell: sign-in gate, navigation, and the routes (all under /dashboard/).
import { Link, Redirect, Route, Router, Switch, useRoute } from "wouter-preact";
import { useEffect } from "preact/hooks";
import { session, signOut } from "./api/session";
import { useSignal } from "./lib/signal";
import { SignIn } from "./pages/signin";
import { AppsPage } from "./pages/apps";
import { Overview } from "./pages/overview";
import { ConnectorPage } from "./pages/connector";
import { CreateWizard } from "./pages/wizard";
import { Editor } from "./pages/editor";
import { StorePage } from "./pages/store";
import { WebhooksPage } from "./pages/webhooks";
import { KeysPage } from "./pages/keys";
import { WorkersPage } from "./pages/workers";

export function App() {
  const s = useSignal(session);
  return (
    <Router base="/dashboard">
      {s === null ? <SignIn /> : <Shell operator={s.kind === "operator"} />}
    </Router>
  );
}

function Shell({ operator }: { operator: boolean }) {
  const [inApp, params] = useRoute<{ appId: string }>("/apps/:appId/*?");
  const appId = inApp ? params.appId : null;
  useEffect(() => {
    document.getElementById("main")?.focus();
  }, [appId]);
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          Edgebridge
        </Link>
        <nav aria-label="Main">
          {operator ? (
            <Link href="/workers">Workers</Link>
          ) : (
            <>
              <Link href="/">Apps</Link>
              {appId && (
                <>
                  <Link href={`/apps/${appId}`}>Connectors</Link>
                  <Link href={`/apps/${appId}/store`}>Edge store</Link>
                  <Link href={`/apps/${appId}/webhooks`}>Webhooks</Link>
                </>
              )}
              <Link href="/keys">API keys</Link>
            </>
          )}
        </nav>
        <button type="button" class="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {operator ? (
          <Switch>
            <Route path="/workers">{() => <WorkersPage />}</Route>
            <Route>
              <Redirect to="/workers" />
            </Route>
          </Switch>
        ) : (
          <Switch>
            <Route path="/" component={AppsPage} />
            <Route path="/keys">{() => <KeysPage />}</Route>
            <Route path="/apps/:appId/connectors/new">{(p) => <CreateWizard appId={p.appId} />}</Route>
            <Route path="/apps/:appId/connectors/:connectorId/edit">
              {(p) => <Editor appId={p.appId} connectorId={p.connectorId} />}
            </Route>
            <Route path="/apps/:appId/connectors/:connectorId/:tab?">
              {(p) => <ConnectorPage appId={p.appId} connectorId={p.connectorId} tab={p.tab ?? "status"} />}
            </Route>
            <Route path="/apps/:appId/store">{(p) => <StorePage appId={p.appId} />}</Route>
            <Route path="/apps/:appId/webhooks/:webhookId?">
              {(p) => <WebhooksPage appId={p.appId} webhookId={p.webhookId ?? null} />}
            </Route>
            <Route path="/apps/:appId">{(p) => <Overview appId={p.appId} />}</Route>
            <Route>
              <h1>Page not found</h1>
              <p>
                There is no page here. <Link href="/">Go to your apps</Link>.
              </p>
            </Route>
          </Switch>
        )}
      </main>
    </div>
  );
}
