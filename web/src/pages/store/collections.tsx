// The app's collections with their document counts; a chosen one lists its first documents.
import { Async } from "../../components/states";
import { useAsync } from "../../lib/async";
import { count } from "../../lib/format";
import { COLLECTIONS_QUERY, LISTING_LIMIT, listingQuery } from "./dql";
import { execute } from "./execute";
import { ResultTable } from "./results";
import { collectionsOf, type Row } from "./table";

export type OnView = (collection: string | null, item: Row, name: string) => void;

export function Collections(props: {
  appId: string;
  selected: string | null;
  onSelect: (name: string) => void;
  /** Bumped to reload the collections and the open listing. */
  tick: number;
  onRefresh: () => void;
  onView: OnView;
}) {
  const { appId } = props;
  const collections = useAsync(async () => collectionsOf((await execute(appId, COLLECTIONS_QUERY)).items), [appId, props.tick]);
  return (
    <section aria-labelledby="collections-heading">
      <div class="spread">
        <h2 id="collections-heading">Collections</h2>
        <button type="button" class="secondary" onClick={props.onRefresh} disabled={collections.loading}>
          Refresh
        </button>
      </div>
      <Async
        state={collections}
        what="collections"
        isEmpty={(list) => list.length === 0}
        empty="This app's edge store has no collections yet: a connector or an INSERT creates them."
      >
        {(list) => (
          <table class="collections">
            <caption class="sr-only">Collections and their document counts</caption>
            <thead>
              <tr>
                <th scope="col">Collection</th>
                <th scope="col" class="num">
                  Documents
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => (
                <tr key={c.name}>
                  <td>
                    <button
                      type="button"
                      class="linkish mono"
                      aria-current={c.name === props.selected ? "true" : undefined}
                      onClick={() => props.onSelect(c.name)}
                    >
                      {c.name}
                    </button>
                  </td>
                  <td class="num">{count(c.documents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
      {props.selected !== null && (
        <Listing appId={appId} collection={props.selected} tick={props.tick} onView={props.onView} />
      )}
    </section>
  );
}

function Listing(props: { appId: string; collection: string; tick: number; onView: OnView }) {
  let query: string | null = null;
  let refused: string | null = null;
  try {
    query = listingQuery(props.collection);
  } catch (e) {
    refused = e instanceof Error ? e.message : String(e);
  }
  const docs = useAsync(
    async () => (query === null ? [] : (await execute(props.appId, query)).items),
    [props.appId, props.collection, props.tick],
  );
  return (
    <>
      <h3>
        Documents in <span class="mono">{props.collection}</span>
      </h3>
      {refused !== null ? (
        <p class="notice">{refused} Use the DQL console with another statement.</p>
      ) : (
        <>
          <p class="muted small">
            The first {LISTING_LIMIT} documents: <code>{query}</code>
          </p>
          <Async state={docs} what="documents" isEmpty={(d) => d.length === 0} empty="No documents in this collection.">
            {(items) => (
              <ResultTable
                items={items}
                caption={`Documents in ${props.collection}`}
                onView={(item, name) => props.onView(props.collection, item, name)}
              />
            )}
          </Async>
        </>
      )}
    </>
  );
}
