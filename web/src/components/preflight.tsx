// A connection test (preflight) run: a line summing it up, what it changed in MongoDB, and a
// table of each check's outcome in words with the collection, code, message and what to do. The
// wizard's test step and the connector page's "Test connection" both show it.
import { checkLabel, checkOutcome, preflightSummary, type PreflightReport } from "../lib/checks";
import { duration } from "../lib/format";

/** `caption` is the table's accessible name. */
export function PreflightView({ report, caption }: { report: PreflightReport; caption: string }) {
  return (
    <div class="preflight">
      <p class={report.ok ? "check-pass" : "check-fail"}>
        <strong>{preflightSummary(report)}</strong> <span class="muted">({duration(report.durationMs)})</span>
      </p>
      {report.changes.length > 0 && (
        <div class="notice">
          <p>Changed in MongoDB to make the sync possible:</p>
          <ul>
            {report.changes.map((c) => (
              <li key={c}>{c}</li>
            ))}
          </ul>
        </div>
      )}
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Result</th>
            <th scope="col">Collection</th>
            <th scope="col">Code</th>
            <th scope="col">Message</th>
            <th scope="col">What to do</th>
          </tr>
        </thead>
        <tbody>
          {report.checks.map((c, i) => {
            const outcome = checkOutcome(c.status);
            return (
              <tr key={i}>
                <th scope="row">{checkLabel(c.check)}</th>
                <td>
                  <strong class={outcome.cls}>{outcome.label}</strong>
                </td>
                <td>{c.collection ?? "—"}</td>
                <td>{c.code ? <code>{c.code}</code> : "—"}</td>
                <td>{c.message}</td>
                <td>{c.remediation ?? "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
