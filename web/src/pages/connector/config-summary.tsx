// The connector's configuration in short: database, redacted connection string, and each
// collection's mapping.
import type { Connector } from "../../api/client";
import { when } from "../../lib/format";

export function ConfigSummary({ connector: c }: { connector: Connector }) {
  const names = Object.keys(c.collections).sort();
  return (
    <>
      <h2>Configuration</h2>
      <dl class="facts">
        <dt>Database</dt>
        <dd class="mono">{c.database}</dd>
        <dt>Connection string</dt>
        <dd class="mono">{c.connectionString}</dd>
        <dt>Configures MongoDB itself</dt>
        <dd>{c.autoConfigure ? "yes (enables pre- and post-images where they are off)" : "no"}</dd>
        <dt>When the change stream's history is lost</dt>
        <dd>{c.onHistoryLost === "resync" ? "copy the collection again" : "fail"}</dd>
        <dt>Version</dt>
        <dd>
          {c.version} <span class="muted small">(changed {when(c.updatedAt)})</span>
        </dd>
      </dl>
      <h3>Collections' mapping</h3>
      <table>
        <caption class="sr-only">Each collection's mapping</caption>
        <thead>
          <tr>
            <th scope="col">Collection</th>
            <th scope="col">ID fields</th>
            <th scope="col">Mode</th>
            <th scope="col">Initial sync</th>
            <th scope="col">Strict mode</th>
            <th scope="col">Filter</th>
            <th scope="col">Counters</th>
          </tr>
        </thead>
        <tbody>
          {names.map((name) => {
            const m = c.collections[name];
            return (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td class="mono">{m.fields.join(", ")}</td>
                <td>{m.mode}</td>
                <td>{m.initialSync ? "yes" : "no"}</td>
                <td>{m.dqlStrictMode ? "yes" : "no"}</td>
                <td class="mono">{m.filter ? JSON.stringify(m.filter) : "—"}</td>
                <td class="mono">{m.settableCounters && m.settableCounters.length > 0 ? m.settableCounters.join(", ") : "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
