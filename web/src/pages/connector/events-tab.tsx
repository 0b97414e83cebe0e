// The events tab: the connector's diagnostics and lifecycle events, newest first, filtered by
// level, collection, document and text; live (new events on top every 3 s) and paged back.
import { useEffect, useState } from "preact/hooks";
import { JsonView } from "../../components/badges";
import { Field, nameOptions, SelectField } from "../../components/fields";
import { Empty, ErrorBox, Loading } from "../../components/states";
import { ago, count, when } from "../../lib/format";
import type { TabProps } from "./page";
import { DEFAULT_FILTERS, hasContext, LEVELS, levelClass, remediationOf, type EventFilters } from "./events";
import { jsonIdText } from "./docid";
import { useEventFeed, type EventOut } from "./use-events";

export function EventsTab({ appId, connectorId, connector }: TabProps) {
  const [filters, setFilters] = useState<EventFilters>(DEFAULT_FILTERS);
  // The text inputs apply shortly after typing stops (or at once with Enter).
  const [text, setText] = useState({ documentId: "", q: "" });
  const [live, setLive] = useState(true);
  useEffect(() => {
    const timer = setTimeout(() => setFilters((f) => ({ ...f, ...text })), 400);
    return () => clearTimeout(timer);
  }, [text.documentId, text.q]);
  const feed = useEventFeed(appId, connectorId, filters, live);
  const collections = Object.keys(connector.collections).sort();

  return (
    <>
      <h2>Events</h2>
      <form
        class="toolbar"
        role="search"
        aria-label="Filter events"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters((f) => ({ ...f, ...text }));
        }}
      >
        <SelectField id="events-level" label="Level" value={filters.level} options={LEVELS} onValue={(level) => setFilters({ ...filters, level })} />
        <SelectField
          id="events-collection"
          label="Collection"
          value={filters.collection}
          options={[{ value: "", label: "All collections" }, ...nameOptions(collections)]}
          onValue={(collection) => setFilters({ ...filters, collection })}
        />
        <Field id="events-document" label="Document id">
          <input
            id="events-document"
            value={text.documentId}
            placeholder='p01 or {"sku":"a"}'
            onInput={(e) => setText({ ...text, documentId: e.currentTarget.value })}
          />
        </Field>
        <Field id="events-search" label="Search">
          <input
            id="events-search"
            type="search"
            value={text.q}
            placeholder="code or message"
            onInput={(e) => setText({ ...text, q: e.currentTarget.value })}
          />
        </Field>
        <button type="submit" class="secondary">
          Apply filters
        </button>
        <div class="field checkbox-field">
          <span>
            <input id="events-live" type="checkbox" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} />{" "}
            <label for="events-live">Live</label>
          </span>
          <span class="muted small">{live ? "New events appear on top every 3 s" : "Paused"}</span>
        </div>
      </form>
      {filters.level === "debug" && (
        <p class="notice">Debug events appear while debug mode is on (see the Trace section to turn it on).</p>
      )}
      {feed.error && <ErrorBox error={feed.error} title={feed.loaded ? "Could not refresh the events" : "Could not load the events"} />}
      {!feed.loaded ? (
        !feed.error && <Loading what="events" />
      ) : feed.items.length === 0 ? (
        <Empty>No events match these filters.</Empty>
      ) : (
        <EventTable items={feed.items} />
      )}
      {feed.dropped > 0 && (
        <p class="muted small">
          {count(feed.dropped)} events were reported beyond the rate limit and not stored (since the connector was created).
        </p>
      )}
      {feed.loaded && feed.hasOlder && (
        <p>
          <button type="button" class="secondary" disabled={feed.loadingOlder} onClick={() => void feed.loadOlder()}>
            Load older
          </button>
        </p>
      )}
    </>
  );
}

function EventTable({ items }: { items: EventOut[] }) {
  return (
    <table class="events">
      <caption class="sr-only">Events, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Occurred</th>
          <th scope="col">Level</th>
          <th scope="col">Code</th>
          <th scope="col">Message</th>
          <th scope="col">Collection</th>
          <th scope="col">Document</th>
          <th scope="col">Context</th>
        </tr>
      </thead>
      <tbody>
        {items.map((e) => (
          <EventRow key={e.id} e={e} />
        ))}
      </tbody>
    </table>
  );
}

function EventRow({ e }: { e: EventOut }) {
  const context = e.context as Record<string, unknown>;
  const remediation = remediationOf(context);
  return (
    <tr>
      <td class="nowrap">
        <time dateTime={e.occurredAt} title={`Recorded ${when(e.recordedAt)}`}>
          {when(e.occurredAt)}
        </time>
        <div class="muted small">{ago(e.occurredAt)}</div>
      </td>
      <td>
        <span class={`badge ${levelClass(e.level)}`}>{e.level}</span>
      </td>
      <td>
        <code>{e.code}</code>
      </td>
      <td>
        {e.message}
        {remediation && (
          <div class="small">
            <strong>What to do:</strong> {remediation}
          </div>
        )}
      </td>
      <td>{e.collection ?? "—"}</td>
      <td class="mono">{jsonIdText(e.documentId)}</td>
      <td>
        {hasContext(context) ? (
          <details>
            <summary>Details</summary>
            <JsonView value={context} label={`Context of event ${e.code}`} />
          </details>
        ) : (
          <span class="muted">—</span>
        )}
      </td>
    </tr>
  );
}
