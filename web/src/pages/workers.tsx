// The worker fleet (operators only): each worker's state, load and heartbeat, polled every 5 s,
// and "Drain" to move a live worker's connectors elsewhere.
import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../api/client";
import { ProgressBar, StatusBadge } from "../components/badges";
import { ConfirmButton } from "../components/confirm";
import { SelectField, type Option } from "../components/fields";
import { Async, Outcome } from "../components/states";
import { ActionsHeader, AgoCell } from "../components/table";
import { useAction, useAsync } from "../lib/async";
import { count, when } from "../lib/format";

const STATES: Option[] = [
  { value: "", label: "Current (live, draining, dead, recently gone)" },
  { value: "live", label: "Live" },
  { value: "draining", label: "Draining" },
  { value: "dead", label: "Dead" },
  { value: "gone", label: "Gone" },
];

export function WorkersPage(_props: object) {
  const [state, setState] = useState("");
  const workers = useAsync(
    () => must(api.GET("/v1/admin/workers", { params: { query: state === "" ? {} : { state } } })),
    [state],
    5000,
  );
  const drain = useAction();
  const [drained, setDrained] = useState<string | null>(null);

  const onDrain = async (w: Schemas["WorkerOut"]) => {
    setDrained(null);
    const out = await drain.run(() => must(api.POST("/v1/admin/workers/{workerId}/drain", { params: { path: { workerId: w.id } } })));
    if (out) setDrained(`${out.name} is draining: its connectors move to other workers, a few per scheduler tick.`);
    await workers.reload();
  };

  return (
    <>
      <h1>Workers</h1>
      <div class="toolbar">
        <SelectField id="worker-state" label="State" value={state} options={STATES} onValue={setState} />
        <span class="muted small">Refreshed every 5 s.</span>
      </div>
      <Outcome done={drained} error={drain.error} errorTitle="Could not drain the worker" />
      <Async
        state={workers}
        what="workers"
        isEmpty={(list) => list.items.length === 0}
        empty={state === "" ? "No workers: start one with `edgebridge worker`." : `No ${state} workers.`}
      >
        {(list) => (
          <table>
            <caption class="sr-only">Workers, by name</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Version</th>
                <th scope="col" class="num">
                  Capacity
                </th>
                <th scope="col">Load</th>
                <th scope="col" class="num">
                  Connectors
                </th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Registered</th>
                <ActionsHeader />
              </tr>
            </thead>
            <tbody>
              {list.items.map((w) => (
                <tr key={w.id}>
                  <td class="mono">{w.name}</td>
                  <td>
                    <span title={`Since ${when(w.stateChangedAt)}`}>
                      <StatusBadge status={w.state} />
                    </span>
                  </td>
                  <td class="mono">{w.version}</td>
                  <td class="num">{count(w.capacity)}</td>
                  <td>
                    <span class="row">
                      <ProgressBar percent={w.capacity > 0 ? (100 * w.load) / w.capacity : null} label={`Load of ${w.name}`} />
                      <span class="num">
                        {count(w.load)} / {count(w.capacity)}
                      </span>
                    </span>
                  </td>
                  <td class="num">{count(w.connectors)}</td>
                  <AgoCell at={w.lastHeartbeatAt} />
                  <td>{when(w.registeredAt)}</td>
                  <td>
                    {w.state === "live" && (
                      <ConfirmButton
                        label="Drain"
                        ariaLabel={`Drain ${w.name}`}
                        title={`Drain ${w.name}?`}
                        confirmLabel="Drain worker"
                        danger
                        disabled={drain.busy}
                        onConfirm={() => onDrain(w)}
                      >
                        <p>
                          It takes no new connectors, and the scheduler moves the {count(w.connectors)} it runs to other workers,
                          a few per tick. The api has no route to undo a drain.
                        </p>
                      </ConfirmButton>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Async>
    </>
  );
}
