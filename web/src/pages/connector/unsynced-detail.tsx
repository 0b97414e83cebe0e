// One unsynced document: its record and the edge document as the edge store holds it now.
import { api, must } from "../../api/client";
import { JsonView } from "../../components/badges";
import { Async } from "../../components/states";
import { useAsync } from "../../lib/async";
import { count, docId, when } from "../../lib/format";

export function UnsyncedDetail(props: { appId: string; connectorId: string; recordId: string; onClose: () => void }) {
  const { appId, connectorId, recordId } = props;
  const state = useAsync(
    () =>
      must(
        api.GET("/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}", {
          params: { path: { appId, connectorId, recordId } },
        }),
      ),
    [appId, connectorId, recordId],
  );
  return (
    <section class="card" aria-labelledby="unsynced-detail-title">
      <div class="spread">
        <h3 id="unsynced-detail-title">
          {state.data ? `Document ${docId(state.data.documentId)} in ${state.data.collection}` : "Unsynced document"}
        </h3>
        <button type="button" class="secondary" onClick={props.onClose}>
          Close
        </button>
      </div>
      <Async state={state} what="the unsynced document">
        {(d) => (
          <>
            <dl class="facts">
              <dt>Code</dt>
              <dd>
                <code>{d.code}</code>
              </dd>
              <dt>Message</dt>
              <dd>{d.message}</dd>
              <dt>State</dt>
              <dd>{d.state === "discardRequested" ? "discard requested" : d.state}</dd>
              <dt>Attempts</dt>
              <dd>{count(d.attempts)}</dd>
              <dt>First seen</dt>
              <dd>{when(d.firstSeenAt)}</dd>
              <dt>Last seen</dt>
              <dd>{when(d.lastSeenAt)}</dd>
              <dt>Last retried</dt>
              <dd>{when(d.retriedAt)}</dd>
              <dt>Record in MongoDB</dt>
              <dd class="mono small">{d.mongoRecordId}</dd>
            </dl>
            <h4>Edge document (what a retry writes)</h4>
            {d.edgeDocument === null || d.edgeDocument === undefined ? (
              <p class="muted">The document is deleted on the edge.</p>
            ) : (
              <JsonView value={d.edgeDocument} label={`Edge document ${docId(d.documentId)}`} />
            )}
          </>
        )}
      </Async>
    </section>
  );
}
