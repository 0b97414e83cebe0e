// A labelled control in a `.field` (the label above what it names), and a labelled select of
// options: the filters above the lists and the forms' fields.
import type { ComponentChildren } from "preact";

/** `children` holds the control whose id is `id` (and what goes with it: hints, messages). */
export function Field(props: { id: string; label: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
    </div>
  );
}

export interface Option<T extends string = string> {
  value: T;
  label: string;
}

/** The `<option>`s of a select. */
export function Options<T extends string>({ options }: { options: Option<T>[] }) {
  return (
    <>
      {options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </>
  );
}

/** Names as options, each its own label. */
export function nameOptions(names: string[]): Option[] {
  return names.map((n) => ({ value: n, label: n }));
}

export function SelectField<T extends string>(props: {
  id: string;
  label: string;
  value: T;
  options: Option<T>[];
  onValue: (v: T) => void;
  required?: boolean;
}) {
  return (
    <Field id={props.id} label={props.label}>
      <select id={props.id} value={props.value} required={props.required} onChange={(e) => props.onValue(e.currentTarget.value as T)}>
        <Options options={props.options} />
      </select>
    </Field>
  );
}
