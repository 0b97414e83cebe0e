// An app's connectors at a glance: status, health and why, lag both ways, throughput, last sync
// and worker, with filters and search. Pages of 100 render as they arrive, so the first rows of a
// 1,000-connector app show after one request.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Link } from "wouter-preact";
import { api, must, type Connector } from "../api/client";
import { asProblem, type ApiProblem } from "../api/problem";
import { Field, SelectField, type Option } from "../components/fields";
import { ErrorBox, Empty, Loading } from "../components/states";
import { useAsync } from "../lib/async";
import { applyQuery, defaultQuery, healthCounts, type OverviewQuery } from "./overview/filter";
import { ConnectorRows } from "./overview/rows";

const POLL_MS = 10_000;

const STATUSES: Option[] = [
  { value: "all", label: "All" },
  { value: "running", label: "Running" },
  { value: "pending", label: "Pending" },
  { value: "paused", label: "Paused" },
  { value: "failed", label: "Failed" },
];

const HEALTHS: Option<OverviewQuery["health"]>[] = [
  { value: "all", label: "All" },
  { value: "green", label: "Healthy" },
  { value: "yellow", label: "Warning" },
  { value: "red", label: "Unhealthy" },
];

const SORTS: Option<OverviewQuery["sort"]>[] = [
  { value: "health", label: "Health (worst first)" },
  { value: "name", label: "Name" },
  { value: "status", label: "Status" },
  { value: "lag", label: "Lag (highest first)" },
  { value: "lastSync", label: "Last sync (oldest first)" },
];

interface Listing {
  items: Connector[];
  complete: boolean;
  error: ApiProblem | null;
}

/** Every connector of the app, page by page; refreshed every 10 s once complete. */
function useConnectors(appId: string): Listing {
  const [listing, setListing] = useState<Listing>({ items: [], complete: false, error: null });
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    const load = async () => {
      const items: Connector[] = [];
      let cursor: string | undefined;
      try {
        for (let page = 0; page < 200; page++) {
          const p = await must(
            api.GET("/v1/apps/{appId}/connectors", { params: { path: { appId }, query: { limit: 100, cursor } } }),
          );
          if (mine !== generation.current) return;
          items.push(...p.items);
          // The first load shows each page as it comes; refreshes swap the whole list at once.
          if (first) setListing({ items: [...items], complete: !p.nextCursor, error: null });
          if (!p.nextCursor) break;
          cursor = p.nextCursor;
        }
        first = false;
        setListing({ items, complete: true, error: null });
      } catch (e) {
        if (mine !== generation.current) return;
        setListing((prev) => ({ ...prev, complete: prev.complete || !first, error: asProblem(e) }));
      }
      if (mine === generation.current) timer = setTimeout(load, POLL_MS);
    };
    setListing({ items: [], complete: false, error: null });
    void load();
    return () => {
      generation.current++;
      clearTimeout(timer);
    };
  }, [appId]);
  return listing;
}

export function Overview({ appId }: { appId: string }) {
  const app = useAsync(() => must(api.GET("/v1/apps/{appId}", { params: { path: { appId } } })), [appId]);
  const listing = useConnectors(appId);
  const [query, setQuery] = useState<OverviewQuery>(defaultQuery);
  const shown = useMemo(() => applyQuery(listing.items, query), [listing.items, query]);
  const counts = useMemo(() => healthCounts(listing.items), [listing.items]);
  const set = (patch: Partial<OverviewQuery>) => setQuery((q) => ({ ...q, ...patch }));

  return (
    <>
      <div class="spread">
        <h1>{app.data ? `${app.data.name}: connectors` : "Connectors"}</h1>
        <Link href={`/apps/${appId}/connectors/new`} class="button-link primary">
          New connector
        </Link>
      </div>
      {app.error && <ErrorBox error={app.error} />}
      <p class="muted" aria-live="polite" id="overview-summary">
        {listing.items.length.toLocaleString("en-US")} connectors{listing.complete ? "" : " (loading…)"}:{" "}
        {counts.green} healthy, {counts.yellow} warning, {counts.red} unhealthy
        {shown.length !== listing.items.length && ` · ${shown.length.toLocaleString("en-US")} shown`}
      </p>
      <div class="toolbar" role="search" aria-label="Filter connectors">
        <Field id="ov-search" label="Search connectors">
          <input
            id="ov-search"
            type="search"
            value={query.search}
            placeholder="name, collection, worker, reason…"
            onInput={(e) => set({ search: e.currentTarget.value })}
          />
        </Field>
        <SelectField id="ov-status" label="Status" value={query.status} options={STATUSES} onValue={(status) => set({ status })} />
        <SelectField id="ov-health" label="Health" value={query.health} options={HEALTHS} onValue={(health) => set({ health })} />
        <SelectField id="ov-sort" label="Sort by" value={query.sort} options={SORTS} onValue={(sort) => set({ sort })} />
      </div>
      {listing.error && <ErrorBox error={listing.error} title="Could not load the connectors" />}
      {listing.items.length === 0 && !listing.complete && !listing.error && <Loading what="connectors" />}
      {listing.complete && listing.items.length === 0 && !listing.error && (
        <Empty>
          This app has no connectors yet. <Link href={`/apps/${appId}/connectors/new`}>Create the first one</Link>.
        </Empty>
      )}
      {listing.items.length > 0 &&
        (shown.length === 0 ? <Empty>No connector matches these filters.</Empty> : <ConnectorRows appId={appId} items={shown} />)}
    </>
  );
}
