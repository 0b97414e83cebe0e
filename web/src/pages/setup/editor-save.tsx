// Reviewing and saving an edit: a dry run of the replace shows the plan in words, then the save
// sends the same body with If-Match. A 412 means someone else saved first: the user's edits stay,
// and they choose to reload the other version or to keep theirs and review again.
import { useState } from "preact/hooks";
import { useLocation } from "wouter-preact";
import { api, must, type Schemas } from "../../api/client";
import { asProblem, type Violation } from "../../api/problem";
import { ConfirmButton } from "../../components/confirm";
import { ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import { replaceBody, type Parsed } from "./editor-logic";
import { FixFirst } from "./fields";
import type { ConnectorSpec } from "./form";
import { PlanView } from "./plan-view";

type Update = Schemas["ConnectorUpdate"];

export function ReviewPanel(props: {
  appId: string;
  connectorId: string;
  etag: string | null;
  body: Parsed;
  /** What must be fixed before the body can be sent (a filter that does not parse...). */
  blockers: string[];
  onViolations: (violations: Violation[]) => void;
  /** Loads the saved connector into the editor, discarding the edits. */
  reloadTheirs: () => Promise<void>;
  /** Loads the saved connector's version only, keeping the edits; answers its ETag. */
  refreshVersion: () => Promise<string | null>;
}) {
  const { appId, connectorId } = props;
  const [, navigate] = useLocation();
  const review = useAction();
  const save = useAction();
  const reload = useAction();
  const [plan, setPlan] = useState<{ update: Update; json: string } | null>(null);
  const [conflict, setConflict] = useState(false);
  const [tried, setTried] = useState(false);
  const json = props.body.ok ? JSON.stringify(replaceBody(props.body.value)) : null;
  const blockers = props.body.ok ? props.blockers : [props.body.message];

  const put = async (dryRun: boolean, etag: string | null, body: string): Promise<Update> => {
    try {
      return await must(
        api.PUT("/v1/apps/{appId}/connectors/{connectorId}", {
          params: {
            path: { appId, connectorId },
            query: dryRun ? { dryRun: true } : undefined,
            header: etag ? { "If-Match": etag } : undefined,
          },
          body: JSON.parse(body) as ConnectorSpec,
        }),
      );
    } catch (e) {
      const problem = asProblem(e);
      if (problem.status === 412) {
        setConflict(true);
        setPlan(null);
      }
      props.onViolations(problem.errors);
      throw problem;
    }
  };

  const runReview = async (etag: string | null) => {
    setTried(true);
    if (json === null || blockers.length > 0) return;
    setPlan(null);
    save.clear();
    const update = await review.run(() => put(true, etag, json));
    if (update) setPlan({ update, json });
  };
  const runSave = async () => {
    if (!plan || plan.json !== json) return;
    const update = await save.run(() => put(false, props.etag, plan.json));
    if (update) navigate(`/apps/${appId}/connectors/${connectorId}`);
  };
  const keepMine = async () => {
    const fresh = await reload.run(async () => ({ etag: await props.refreshVersion() }));
    if (!fresh) return;
    setConflict(false);
    await runReview(fresh.etag);
  };
  const reloadTheirs = async () => {
    const done = await reload.run(async () => {
      await props.reloadTheirs();
      return true;
    });
    if (!done) return;
    setConflict(false);
    setPlan(null);
    setTried(false);
    review.clear();
    save.clear();
  };

  const stale = plan !== null && plan.json !== json;
  return (
    <>
      <p>Review shows what saving does to the sync of each collection; nothing is saved until you press Save changes.</p>
      {tried && <FixFirst messages={blockers} />}
      <div class="row">
        <button type="button" class="primary" disabled={review.busy || save.busy} onClick={() => runReview(props.etag)}>
          Review changes
        </button>
        {review.busy && (
          <span role="status" class="muted">
            Working out what the change does…
          </span>
        )}
      </div>
      {conflict && (
        <div class="error-box conflict" role="alert">
          <p>
            <strong>Someone else saved this connector since you opened it</strong>
          </p>
          <p>
            Your changes are still here, not saved. Reload their version to start again from it (your changes are
            discarded), or keep yours and review them again against their version (saving then replaces theirs).
          </p>
          <div class="row">
            <ConfirmButton
              label="Reload their version"
              title="Discard your changes?"
              confirmLabel="Discard mine and reload"
              danger
              disabled={reload.busy}
              onConfirm={reloadTheirs}
            >
              Your unsaved changes are lost; the editor then shows the connector as it is saved now.
            </ConfirmButton>
            <button type="button" class="secondary" disabled={reload.busy} onClick={keepMine}>
              Keep mine and review again
            </button>
          </div>
        </div>
      )}
      {reload.error && <ErrorBox error={reload.error} title="Could not load the saved connector" />}
      {review.error && review.error.status !== 412 && <ErrorBox error={review.error} title="Could not review the changes" />}
      {plan && (
        <div class="card plan-card">
          <h3>What saving does</h3>
          <PlanView plan={plan.update.plan} />
          {stale ? (
            <p class="notice">You changed the spec since this review: review the changes again before saving.</p>
          ) : (
            <div class="row">
              <button type="button" class="primary" disabled={save.busy} onClick={runSave}>
                Save changes
              </button>
              {save.busy && (
                <span role="status" class="muted">
                  Saving…
                </span>
              )}
            </div>
          )}
        </div>
      )}
      {save.error && save.error.status !== 412 && <ErrorBox error={save.error} title="Could not save the changes" />}
    </>
  );
}
