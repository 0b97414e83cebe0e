// The mapping preview: sample MongoDB documents (Extended JSON) per collection, and what each
// becomes on the edge with the collection's settings as they are in the form.
import { api, must, type Schemas } from "../../api/client";
import { asProblem, type ApiProblem } from "../../api/problem";
import { JsonView } from "../../components/badges";
import { ErrorBox } from "../../components/states";
import { docId } from "../../lib/format";
import { TextArea } from "./fields";
import { cf } from "./fields-ids";
import { collectionSpec, type CollectionForm } from "./form";
import { parseSamples } from "./samples";
import { diagnostic } from "./words";

export interface PreviewState {
  samples: string;
  busy?: boolean;
  local?: string;
  error?: ApiProblem;
  result?: Schemas["PreviewOut"];
}

export type Previews = Record<string, PreviewState>;

const EXAMPLE = '[{"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "name": "mug", "price": 8}]';

export function PreviewStep(props: {
  appId: string;
  collections: CollectionForm[];
  previews: Previews;
  setPreview: (key: string, update: (p: PreviewState) => PreviewState) => void;
}) {
  const { appId, collections, previews, setPreview } = props;
  if (collections.length === 0) {
    return <p class="state empty">Add a collection first (step Collections) to preview its mapping.</p>;
  }
  const run = async (c: CollectionForm) => {
    const samples = parseSamples(previews[c.key]?.samples ?? "");
    if (!samples.ok) return setPreview(c.key, (p) => ({ ...p, local: samples.message, result: undefined, error: undefined }));
    const built = collectionSpec(c);
    if (built.problems.length > 0) {
      return setPreview(c.key, (p) => ({ ...p, local: `Fix the settings first: ${built.problems.map((x) => x.message).join("; ")}` }));
    }
    setPreview(c.key, (p) => ({ ...p, busy: true, local: undefined, error: undefined }));
    try {
      const result = await must(
        api.POST("/v1/apps/{appId}/connectors/preview", {
          params: { path: { appId } },
          body: { collection: built.spec, documents: samples.documents as Schemas["PreviewIn"]["documents"] },
        }),
      );
      setPreview(c.key, (p) => ({ ...p, busy: false, result }));
    } catch (e) {
      setPreview(c.key, (p) => ({ ...p, busy: false, error: asProblem(e), result: undefined }));
    }
  };
  return (
    <>
      <p>
        Paste a few documents as they are in MongoDB (Extended JSON, as mongosh's <code>EJSON.stringify</code> or Compass
        export them): a JSON array, or one document per line. Nothing is read from or written to MongoDB or the edge.
      </p>
      {collections.map((c) => {
        const p = previews[c.key] ?? { samples: "" };
        const title = `${cf(c.key, "samples")}-title`;
        return (
          <section key={c.key} class="card" aria-labelledby={title}>
            <h3 id={title}>
              Collection <code>{c.name}</code>
            </h3>
            <TextArea
              id={cf(c.key, "samples")}
              label="Sample documents"
              rows={6}
              value={p.samples}
              placeholder={EXAMPLE}
              errors={p.local ? [p.local] : undefined}
              onValue={(samples) => setPreview(c.key, (x) => ({ ...x, samples, local: undefined }))}
            />
            <div class="row">
              <button type="button" class="primary" aria-label={`Preview mapping of ${c.name}`} disabled={p.busy} onClick={() => run(c)}>
                Preview mapping
              </button>
              {p.busy && (
                <span role="status" class="muted">
                  Mapping the samples…
                </span>
              )}
            </div>
            {p.error && <ErrorBox error={p.error} title="Could not preview the mapping" />}
            {p.result && <Results collection={c.name} result={p.result} />}
          </section>
        );
      })}
    </>
  );
}

function Results({ collection, result }: { collection: string; result: Schemas["PreviewOut"] }) {
  const synced = result.results.filter((r) => r.synced).length;
  return (
    <div class="preview-results" aria-live="polite">
      <p>
        <strong>
          {synced} of {result.results.length} {result.results.length === 1 ? "document is" : "documents are"} synced.
        </strong>
      </p>
      {result.results.map((r) => {
        const n = r.index + 1;
        const error = r.error ? diagnostic(r.error) : null;
        const types = r.types && Object.keys(r.types).length > 0 ? r.types : null;
        return (
          <article key={r.index} class="preview-result">
            <h4>
              Document {n}: <span class={r.synced ? "check-pass" : "check-fail"}>{r.synced ? "synced" : "not synced"}</span>
            </h4>
            <dl class="facts">
              {r.mongoId !== undefined && r.mongoId !== null && (
                <>
                  <dt>MongoDB _id</dt>
                  <dd>
                    <code>{docId(r.mongoId)}</code>
                  </dd>
                </>
              )}
              {r.synced && (
                <>
                  <dt>Edge _id</dt>
                  <dd>
                    <code>{docId(r.edgeId)}</code>
                  </dd>
                  <dt>Counters</dt>
                  <dd>{r.counters.length > 0 ? r.counters.join(", ") : "none"}</dd>
                </>
              )}
            </dl>
            {error && (
              <p class="check-fail">
                {error.code && <code>{error.code}</code>} {error.path && <code>{error.path}</code>} {error.message}
              </p>
            )}
            {r.document && <JsonView value={r.document} label={`Edge document ${n} of ${collection}`} />}
            {types && (
              <>
                <p class="small">BSON types kept with it (so that writes from the edge restore them):</p>
                <JsonView value={types} label={`BSON types of document ${n} of ${collection}`} />
              </>
            )}
            {r.warnings.length > 0 && (
              <ul class="warnings">
                {r.warnings.map((w, i) => {
                  const d = diagnostic(w);
                  return (
                    <li key={i} class="check-warn">
                      Warning {d.code && <code>{d.code}</code>} {d.path && <code>{d.path}</code>} {d.message}
                    </li>
                  );
                })}
              </ul>
            )}
          </article>
        );
      })}
    </div>
  );
}
