// A webhook's delivery log (newest first, polled every 5 s), "Retry" on failed deliveries, and
// one delivery's attempts.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { JsonView, StatusBadge } from "../../components/badges";
import { SelectField, type Option } from "../../components/fields";
import { Async, Outcome } from "../../components/states";
import { ActionsHeader, AgoCell } from "../../components/table";
import { useAction, useAsync } from "../../lib/async";
import { ago, duration, when } from "../../lib/format";
import { canRetry, lastResult } from "./webhooks";

const PAGE = 20;
type State = Schemas["DeliveryState"];
const STATES: Option<State | "">[] = [
  { value: "", label: "All" },
  { value: "pending", label: "Pending" },
  { value: "succeeded", label: "Succeeded" },
  { value: "failed", label: "Failed" },
];

export function Deliveries(props: { appId: string; webhookId: string; /** Bumped to reload now. */ tick: number }) {
  const { appId, webhookId } = props;
  const [state, setState] = useState<State | "">("");
  // The cursors of the pages walked through: the last is the page shown (undefined: the newest).
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(
    () =>
      must(
        api.GET("/v1/apps/{appId}/webhooks/{webhookId}/deliveries", {
          params: { path: { appId, webhookId }, query: { limit: PAGE, cursor, state: state === "" ? undefined : state } },
        }),
      ),
    [appId, webhookId, cursor, state],
    5000,
  );
  const [open, setOpen] = useState<string | null>(null);
  const retry = useAction();
  const [retried, setRetried] = useState<string | null>(null);
  useEffect(() => {
    if (props.tick > 0) void page.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.tick]);

  const onRetry = async (d: Schemas["DeliveryOut"]) => {
    setRetried(null);
    const out = await retry.run(() =>
      must(
        api.POST("/v1/apps/{appId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry", {
          params: { path: { appId, webhookId, deliveryId: d.id } },
        }),
      ),
    );
    if (out) setRetried(`Delivery ${out.id} retried: ${out.state} (${lastResult(out)}).`);
    await page.reload();
  };

  return (
    <section aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      <div class="toolbar">
        <SelectField
          id="delivery-state"
          label="Delivery state"
          value={state}
          options={STATES}
          onValue={(s) => {
            setState(s);
            setCursors([undefined]);
          }}
        />
        <span class="muted small">Refreshed every 5 s.</span>
      </div>
      <Outcome done={retried} error={retry.error} errorTitle="Could not retry the delivery" />
      <Async
        state={page}
        what="deliveries"
        isEmpty={(p) => p.items.length === 0 && cursors.length === 1}
        empty={state === "" ? "No deliveries yet: send a test event." : `No ${state} deliveries.`}
      >
        {(p) => (
          <>
            <table>
              <caption class="sr-only">Deliveries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">
                    Attempts
                  </th>
                  <th scope="col">Last result</th>
                  <th scope="col">Next attempt</th>
                  <th scope="col">Created</th>
                  <ActionsHeader />
                </tr>
              </thead>
              <tbody>
                {p.items.map((d) => (
                  <tr key={d.id} aria-current={open === d.id ? "true" : undefined}>
                    <td class="mono">{d.eventType}</td>
                    <td>
                      <StatusBadge status={d.state} />
                    </td>
                    <td class="num">{d.attemptCount}</td>
                    <td>{lastResult(d)}</td>
                    <AgoCell at={d.nextAttemptAt} none="—" />
                    <AgoCell at={d.createdAt} />
                    <td>
                      <div class="row">
                      <button
                        type="button"
                        class="secondary small"
                        aria-label={`View delivery ${d.id}`}
                        aria-expanded={open === d.id}
                        onClick={() => setOpen(open === d.id ? null : d.id)}
                      >
                        View
                      </button>
                      {canRetry(d) && (
                        <button
                          type="button"
                          class="secondary small"
                          aria-label={`Retry delivery ${d.id}`}
                          disabled={retry.busy}
                          onClick={() => onRetry(d)}
                        >
                          Retry
                        </button>
                      )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div class="row">
              <button type="button" class="secondary" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
                Newer deliveries
              </button>
              <button
                type="button"
                class="secondary"
                disabled={!p.nextCursor}
                onClick={() => p.nextCursor && setCursors((c) => [...c, p.nextCursor ?? undefined])}
              >
                Older deliveries
              </button>
            </div>
          </>
        )}
      </Async>
      {open && <DeliveryView appId={appId} webhookId={webhookId} deliveryId={open} onClose={() => setOpen(null)} />}
    </section>
  );
}

function DeliveryView(props: { appId: string; webhookId: string; deliveryId: string; onClose: () => void }) {
  const { appId, webhookId, deliveryId } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  const delivery = useAsync(
    () =>
      must(
        api.GET("/v1/apps/{appId}/webhooks/{webhookId}/deliveries/{deliveryId}", {
          params: { path: { appId, webhookId, deliveryId } },
        }),
      ),
    [appId, webhookId, deliveryId],
    5000,
  );
  useEffect(() => heading.current?.focus(), [deliveryId]);
  return (
    <section class="card" aria-labelledby="delivery-heading">
      <div class="spread">
        <h3 id="delivery-heading" ref={heading} tabIndex={-1}>
          Delivery <span class="mono">{deliveryId}</span>
        </h3>
        <button type="button" class="secondary" onClick={props.onClose}>
          Close delivery
        </button>
      </div>
      <Async state={delivery} what="the delivery">
        {(d) => (
          <>
            <dl class="facts">
              <dt>Event</dt>
              <dd class="mono">{d.eventType}</dd>
              <dt>State</dt>
              <dd>
                <StatusBadge status={d.state} />
              </dd>
              <dt>Message id</dt>
              <dd class="mono">{d.messageId}</dd>
              <dt>Attempts</dt>
              <dd>{d.attemptCount}</dd>
              <dt>Next attempt</dt>
              <dd>{d.nextAttemptAt ? `${when(d.nextAttemptAt)} (${ago(d.nextAttemptAt)})` : "—"}</dd>
              <dt>Created</dt>
              <dd>{when(d.createdAt)}</dd>
              <dt>Finished</dt>
              <dd>{when(d.finishedAt)}</dd>
            </dl>
            <h4>Attempts</h4>
            {d.attempts.length === 0 ? (
              <p>No attempt yet.</p>
            ) : (
              <table>
                <caption class="sr-only">Attempts, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">
                      #
                    </th>
                    <th scope="col">At</th>
                    <th scope="col">Status</th>
                    <th scope="col">Error</th>
                    <th scope="col" class="num">
                      Duration
                    </th>
                    <th scope="col">Answer (start)</th>
                  </tr>
                </thead>
                <tbody>
                  {d.attempts.map((a) => (
                    <tr key={a.attempt}>
                      <td class="num">{a.attempt}</td>
                      <td>{when(a.at)}</td>
                      <td>{a.statusCode ?? "no answer"}</td>
                      <td>{a.error ?? ""}</td>
                      <td class="num">{duration(a.durationMs)}</td>
                      <td class="mono small cell">{a.responseBody ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <h4>Payload</h4>
            <JsonView value={d.payload} label={`Payload of delivery ${d.id}`} />
          </>
        )}
      </Async>
    </section>
  );
}
