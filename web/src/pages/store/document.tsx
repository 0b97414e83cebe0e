// One document: its JSON, what the edge store keeps beside it (BSON types, settable counters,
// the last write: GET .../store/collections/{c}/documents/{id}), and the connectors syncing it.
import { useEffect, useRef, useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { allPages, api, must, type Schemas } from "../../api/client";
import { JsonView } from "../../components/badges";
import { Async, ErrorBox } from "../../components/states";
import { useAction, useAsync } from "../../lib/async";
import { documentQuery } from "./dql";
import { execute } from "./execute";
import type { Row } from "./table";
import { documentIdSegment, flattenTypes, syncsOf, typedFields, type CollectionSync } from "./types";
import { when } from "../../lib/format";

export function DocumentView(props: { appId: string; collection: string | null; item: Row; name: string; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const [doc, setDoc] = useState<Row | null>(props.item);
  const reload = useAction();
  useEffect(() => {
    setDoc(props.item);
    reload.clear();
    heading.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.item]);
  const hasId = Object.prototype.hasOwnProperty.call(props.item, "_id");
  const canReload = props.collection !== null && hasId && !props.collection.includes("`");
  const reRead = async () => {
    if (!canReload || props.collection === null) return;
    const collection = props.collection;
    const out = await reload.run(() => execute(props.appId, documentQuery(collection), { id: props.item._id }));
    if (out) setDoc(out.items[0] ?? null);
  };
  return (
    <section class="card" aria-labelledby="document-heading">
      <div class="spread">
        <h2 id="document-heading" ref={heading} tabIndex={-1}>
          Document <span class="mono">{props.name}</span>
        </h2>
        <div class="row">
          {canReload && (
            <button type="button" class="secondary" onClick={reRead} disabled={reload.busy}>
              Reload document
            </button>
          )}
          <button type="button" class="secondary" onClick={props.onClose}>
            Close document
          </button>
        </div>
      </div>
      <dl class="facts">
        <dt>Collection</dt>
        <dd class="mono">{props.collection ?? "unknown (not named by the statement)"}</dd>
      </dl>
      {reload.error && <ErrorBox error={reload.error} title="Could not read the document again" />}
      {doc === null ? (
        <p class="notice">The document is gone: it was deleted since it was listed.</p>
      ) : (
        <>
          <JsonView value={doc} label={`Document ${props.name} as JSON`} />
          <TypeMetadata appId={props.appId} collection={props.collection} doc={doc} />
        </>
      )}
    </section>
  );
}

function TypeMetadata(props: { appId: string; collection: string | null; doc: Row }) {
  const collection = props.collection;
  const hasId = Object.prototype.hasOwnProperty.call(props.doc, "_id");
  const stored = useAsync(
    async () =>
      collection === null || !hasId
        ? null
        : must(
            api.GET("/v1/apps/{appId}/store/collections/{collection}/documents/{documentId}", {
              params: { path: { appId: props.appId, collection, documentId: documentIdSegment(props.doc._id) } },
            }),
          ),
    [props.appId, collection, hasId ? JSON.stringify(props.doc._id) : ""],
  );
  const connectors = useAsync(
    () =>
      allPages((cursor) =>
        must(api.GET("/v1/apps/{appId}/connectors", { params: { path: { appId: props.appId }, query: { limit: 100, cursor } } })),
      ),
    [props.appId],
  );
  const typed = typedFields(props.doc);
  return (
    <>
      <h3>Type metadata</h3>
      {collection === null || !hasId ? (
        <p>The statement does not name one collection and document, so the stored metadata cannot be read.</p>
      ) : (
        <Async state={stored} what="the stored metadata">
          {(meta) => (meta ? <StoredMetadata meta={meta} /> : null)}
        </Async>
      )}
      <h4>Synced by</h4>
      {collection === null ? (
        <p>The statement does not name one collection, so its connector cannot be told.</p>
      ) : (
        <Async state={connectors} what="connectors">
          {(list) => <Syncs appId={props.appId} collection={collection} syncs={syncsOf(list, collection, props.doc)} />}
        </Async>
      )}
      {typed.length > 0 && (
        <>
          <h4>Extended JSON types in the document</h4>
          <table>
            <caption class="sr-only">Fields stored with an Extended JSON type</caption>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">BSON type</th>
                <th scope="col">Stored as</th>
              </tr>
            </thead>
            <tbody>
              {typed.map((f) => (
                <tr key={f.path}>
                  <td class="mono">{f.path}</td>
                  <td>{f.type}</td>
                  <td class="mono">{JSON.stringify(f.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

/** What the edge store keeps beside the value: BSON types, counters, the last write. */
function StoredMetadata({ meta }: { meta: Schemas["EdgeDocumentOut"] }) {
  const types = flattenTypes(meta.types);
  return (
    <>
      <dl class="facts">
        <dt>Last written</dt>
        <dd>
          {when(meta.lastWrite.at)} by <code>{meta.lastWrite.actor}</code>
        </dd>
        <dt>Settable counters</dt>
        <dd>{meta.counters.length === 0 ? "none" : meta.counters.map((c) => <code key={c}>{c} </code>)}</dd>
      </dl>
      {types.length === 0 ? (
        <p>
          No stored BSON types: every field maps to JSON as it is (or the document was written through DQL, or synced in{" "}
          <code>ejson</code> mode, where the types are in the document).
        </p>
      ) : (
        <table>
          <caption>BSON types kept for the write-back to MongoDB</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">BSON type</th>
            </tr>
          </thead>
          <tbody>
            {types.map((t) => (
              <tr key={t.path}>
                <td class="mono">{t.path}</td>
                <td>{t.type}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Syncs(props: { appId: string; collection: string; syncs: CollectionSync[] }) {
  if (props.syncs.length === 0) {
    return <p>No connector syncs this collection: its documents are plain JSON written on the edge.</p>;
  }
  return (
    <>
      {props.syncs.map((s) => (
        <div key={s.connectorId}>
          <dl class="facts">
            <dt>Connector</dt>
            <dd>
              <Link href={`/apps/${props.appId}/connectors/${s.connectorId}`}>{s.connectorName}</Link>
            </dd>
            <dt>Mode</dt>
            <dd>
              <code>{s.mode}</code>{" "}
              {s.mode === "ejson"
                ? "(canonical Extended JSON: the types are in the document, as listed below)"
                : "(native: the BSON types are kept beside the value, listed above)"}
            </dd>
            <dt>Strict mode</dt>
            <dd>{s.dqlStrictMode ? "on: objects are whole values" : "off: objects merge member by member"}</dd>
            <dt>ID fields</dt>
            <dd class="mono">{s.idFields.join(", ")}</dd>
          </dl>
          {s.counters.length === 0 ? (
            <p>No settable counters in this collection.</p>
          ) : (
            <table>
              <caption>Settable counters (incremented on the edge, set from MongoDB)</caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col" class="num">
                    Value in this document
                  </th>
                </tr>
              </thead>
              <tbody>
                {s.counters.map((c) => (
                  <tr key={c.path}>
                    <td class="mono">{c.path}</td>
                    <td class="num">{c.value === undefined ? <span class="muted">not in this document</span> : JSON.stringify(c.value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </>
  );
}
