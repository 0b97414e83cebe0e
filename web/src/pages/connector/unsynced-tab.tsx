// The unsynced documents tab: the edge documents MongoDB refused, filtered by collection and
// code, each viewable (with the edge document as it is now), retried or discarded; and a bulk
// retry of the open ones.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/confirm";
import { Field, nameOptions, SelectField } from "../../components/fields";
import { Empty, ErrorBox, Loading } from "../../components/states";
import { ActionsHeader, AgoCell } from "../../components/table";
import { useAction, useAsync } from "../../lib/async";
import { ago, count, docId } from "../../lib/format";
import type { TabProps } from "./page";
import { UnsyncedDetail } from "./unsynced-detail";
import { rowName } from "./words";

type Record_ = Schemas["UnsyncedDocumentOut"];

export function UnsyncedTab({ appId, connectorId, connector }: TabProps) {
  const [collection, setCollection] = useState("");
  const [code, setCode] = useState("");
  const [appliedCode, setAppliedCode] = useState("");
  const [older, setOlder] = useState<{ items: Record_[]; nextCursor: string | null } | null>(null);
  const [viewing, setViewing] = useState<string | null>(null);
  const [bulk, setBulk] = useState<Schemas["BulkRetryOut"] | null>(null);
  const action = useAction();
  const path = { appId, connectorId };
  const filters = { collection: collection || undefined, code: appliedCode.trim() || undefined };

  const first = useAsync(
    async () => {
      const page = await must(
        api.GET("/v1/apps/{appId}/connectors/{connectorId}/unsynced", { params: { path, query: { ...filters, limit: 50 } } }),
      );
      return page;
    },
    [appId, connectorId, collection, appliedCode],
    5000,
  );
  const reset = () => {
    setOlder(null);
    setBulk(null);
  };
  const items = [...(first.data?.items ?? []), ...(older?.items ?? [])].filter(
    (r, i, all) => all.findIndex((o) => o.id === r.id) === i,
  );
  const nextCursor = older ? older.nextCursor : (first.data?.nextCursor ?? null);

  const act = async (call: () => Promise<unknown>) => {
    await action.run(call);
    setOlder(null);
    await first.reload();
  };
  const collections = Object.keys(connector.collections).sort();

  return (
    <>
      <h2>Unsynced documents</h2>
      <p class="muted">
        Edge documents MongoDB refused. Fix what it refused (a validator, a unique index) and retry, or discard the record
        (the edge document stays).
      </p>
      <form
        class="toolbar"
        aria-label="Filter unsynced documents"
        onSubmit={(e) => {
          e.preventDefault();
          reset();
          setAppliedCode(code);
        }}
      >
        <SelectField
          id="unsynced-collection"
          label="Collection"
          value={collection}
          options={[{ value: "", label: "All collections" }, ...nameOptions(collections)]}
          onValue={(c) => {
            reset();
            setCollection(c);
          }}
        />
        <Field id="unsynced-code" label="Code">
          <input id="unsynced-code" value={code} placeholder="schema_validation" onInput={(e) => setCode(e.currentTarget.value)} />
        </Field>
        <button type="submit" class="secondary">
          Apply filters
        </button>
        <button
          type="button"
          class="primary"
          disabled={action.busy}
          onClick={async () => {
            setBulk(null);
            const r = await action.run(() =>
              must(api.POST("/v1/apps/{appId}/connectors/{connectorId}/unsynced/retry", { params: { path, query: filters } })),
            );
            if (r) setBulk(r);
            setOlder(null);
            await first.reload();
          }}
        >
          Retry all
        </button>
      </form>
      {bulk && <BulkResult r={bulk} />}
      {action.error && <ErrorBox error={action.error} title="The action did not go through" />}
      {first.error && <ErrorBox error={first.error} title="Could not load the unsynced documents" />}
      {!first.data ? (
        !first.error && <Loading what="unsynced documents" />
      ) : items.length === 0 ? (
        <Empty>No unsynced documents{collection || appliedCode ? " match these filters" : ": MongoDB took every edge change"}.</Empty>
      ) : (
        <table class="unsynced">
          <caption class="sr-only">Unsynced documents, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Collection</th>
              <th scope="col">Document id</th>
              <th scope="col">Code</th>
              <th scope="col">Message</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Attempts
              </th>
              <th scope="col">First seen</th>
              <th scope="col">Last seen</th>
              <ActionsHeader />
            </tr>
          </thead>
          <tbody>
            {items.map((r) => {
              const name = rowName(items, r);
              return (
                <tr key={r.id} class={viewing === r.id ? "selected" : undefined}>
                  <td>{r.collection}</td>
                  <td class="mono">{docId(r.documentId)}</td>
                  <td>
                    <code>{r.code}</code>
                  </td>
                  <td>{r.message}</td>
                  <td>
                    {r.state === "discardRequested" ? "discard requested" : r.state}
                    {r.retriedAt && <div class="muted small">retried {ago(r.retriedAt)}</div>}
                  </td>
                  <td class="num">{count(r.attempts)}</td>
                  <AgoCell at={r.firstSeenAt} />
                  <AgoCell at={r.lastSeenAt} />
                  <td>
                    <div class="row nowrap">
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`View ${name}`}
                        aria-expanded={viewing === r.id}
                        onClick={() => setViewing(viewing === r.id ? null : r.id)}
                      >
                        View
                      </button>
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`Retry ${name}`}
                        disabled={action.busy || r.state === "discardRequested"}
                        onClick={() =>
                          act(() =>
                            must(
                              api.POST("/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}/retry", {
                                params: { path: { ...path, recordId: r.id } },
                              }),
                            ),
                          )
                        }
                      >
                        Retry
                      </button>
                      <ConfirmButton
                        label="Discard"
                        ariaLabel={`Discard ${name}`}
                        title={`Discard ${name}?`}
                        danger
                        disabled={action.busy || r.state === "discardRequested"}
                        onConfirm={() =>
                          act(() =>
                            must(
                              api.DELETE("/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}", {
                                params: { path: { ...path, recordId: r.id } },
                              }),
                            ),
                          )
                        }
                      >
                        <p>
                          Edgebridge stops trying to write this document to MongoDB and removes its record there. The edge
                          document stays; a later edit of it is written back as usual.
                        </p>
                      </ConfirmButton>
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {first.data && nextCursor && (
        <p>
          <button
            type="button"
            class="secondary"
            disabled={action.busy}
            onClick={async () => {
              const page = await action.run(() =>
                must(
                  api.GET("/v1/apps/{appId}/connectors/{connectorId}/unsynced", {
                    params: { path, query: { ...filters, limit: 50, after: nextCursor } },
                  }),
                ),
              );
              if (page) setOlder({ items: [...(older?.items ?? []), ...page.items], nextCursor: page.nextCursor ?? null });
            }}
          >
            Load more
          </button>
        </p>
      )}
      {viewing && (
        <UnsyncedDetail appId={appId} connectorId={connectorId} recordId={viewing} onClose={() => setViewing(null)} />
      )}
    </>
  );
}

function BulkResult({ r }: { r: Schemas["BulkRetryOut"] }) {
  return (
    <div class="notice" role="status">
      <p>
        <strong>{count(r.requeued)}</strong> documents queued for the write-back again.
        {r.withoutEdgeDocument > 0 && (
          <> {count(r.withoutEdgeDocument)} records have no edge document any more (nothing to write: discard them).</>
        )}{" "}
        {r.remaining > r.withoutEdgeDocument
          ? `${count(r.remaining)} open records remain: retry all again to queue them.`
          : `${count(r.remaining)} open records remain.`}
      </p>
    </div>
  );
}
