// A reconfiguration plan in words: what happens to the connection and to each collection.
import { collectionActionWords, connectionActionWords, planSummary, reasonsWords, type Plan } from "./words";

export function PlanView({ plan }: { plan: Plan }) {
  return (
    <div class="plan">
      <p>
        <strong>{planSummary(plan)}</strong> {connectionActionWords(plan.connection)}
      </p>
      {plan.warnings.length > 0 && (
        <div class="notice" role="note">
          <p>
            <strong>Before you save:</strong>
          </p>
          <ul>
            {plan.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
      {plan.collections.length > 0 && (
        <table>
          <caption class="sr-only">What happens to each collection</caption>
          <thead>
            <tr>
              <th scope="col">Collection</th>
              <th scope="col">What happens</th>
              <th scope="col">Why</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {plan.collections.map((c) => (
              <tr key={c.collection}>
                <th scope="row">{c.collection}</th>
                <td>
                  <strong class={c.action === "none" ? "muted" : undefined}>{collectionActionWords(c.action)}</strong>
                </td>
                <td>{reasonsWords(c.reasons)}</td>
                <td>{c.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
