// Cells that many tables share.
import { ago, when } from "../lib/format";

/** The header of a column of row buttons: named for screen readers, blank on screen. */
export function ActionsHeader() {
  return (
    <th scope="col">
      <span class="sr-only">Actions</span>
    </th>
  );
}

/** How long ago (or until) a time is, with its date and time on hover; `none` when there is no time. */
export function AgoCell({ at, none = "never" }: { at: string | null | undefined; none?: string }) {
  return <td title={at ? when(at) : undefined}>{at ? ago(at) : none}</td>;
}
