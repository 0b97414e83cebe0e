// Result rows as a table (columns: the union of the rows' keys) with a "View" button per row.
import { useMemo } from "preact/hooks";
import { ActionsHeader } from "../../components/table";
import { buildTable, rowName, type Row } from "./table";

export function ResultTable(props: {
  items: Row[];
  caption: string;
  onView?: (item: Row, name: string) => void;
}) {
  const table = useMemo(() => buildTable(props.items), [props.items]);
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label={props.caption}>
      <table>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.onView && <ActionsHeader />}
            {table.columns.map((c) => (
              <th scope="col" key={c} class="mono">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((row, i) => {
            const name = rowName(row, i);
            return (
              <tr key={row.key}>
                {props.onView && (
                  <td>
                    <button type="button" class="secondary small" aria-label={`View ${name}`} onClick={() => props.onView?.(row.item, name)}>
                      View
                    </button>
                  </td>
                )}
                {row.cells.map((cell, c) => (
                  <td key={table.columns[c]} class={`cell cell-${cell.kind}`} title={cell.full}>
                    {cell.kind === "missing" ? <span class="sr-only">missing</span> : cell.text}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
