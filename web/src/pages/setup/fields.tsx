// Labelled form fields whose problems show under them: the input is aria-invalid and described by
// its hint and its messages.
import type { ComponentChildren } from "preact";
import { Field, Options, type Option } from "../../components/fields";
import { errorId, hintId } from "./fields-ids";

interface Base {
  id: string;
  label: string;
  errors?: string[];
  hint?: ComponentChildren;
}

function describedBy(id: string, hint: unknown, errors: string[] | undefined): string | undefined {
  const ids = [hint ? hintId(id) : null, errors && errors.length > 0 ? errorId(id) : null].filter(Boolean);
  return ids.length > 0 ? ids.join(" ") : undefined;
}

/** The id and state a field's control carries: invalid while it has problems, described by its hint and them. */
function aria(props: Base) {
  const invalid = props.errors && props.errors.length > 0 ? true : undefined;
  return { id: props.id, "aria-invalid": invalid, "aria-describedby": describedBy(props.id, props.hint, props.errors) };
}

/** What to fix before going on (problems that have no field of their own to show under). */
export function FixFirst({ messages }: { messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <div class="error-box" role="alert">
      <p>
        <strong>Fix these first:</strong>
      </p>
      <ul class="violations">
        {messages.map((m, i) => (
          <li key={`${i}-${m}`}>{m}</li>
        ))}
      </ul>
    </div>
  );
}

/** The messages of a field (or of a group), with the id its control points at. */
export function FieldMessages({ id, errors }: { id: string; errors?: string[] }) {
  if (!errors || errors.length === 0) return null;
  return (
    <div id={errorId(id)} class="field-error">
      {errors.map((m) => (
        <p key={m} class="field-message">
          {m}
        </p>
      ))}
    </div>
  );
}

function Hint({ id, hint }: { id: string; hint?: ComponentChildren }) {
  return hint ? (
    <p id={hintId(id)} class="muted small field-hint">
      {hint}
    </p>
  ) : null;
}

/** The label, the hint, the control (`children`) and its messages. */
function Labelled(props: Base & { children: ComponentChildren }) {
  return (
    <Field id={props.id} label={props.label}>
      <Hint id={props.id} hint={props.hint} />
      {props.children}
      <FieldMessages id={props.id} errors={props.errors} />
    </Field>
  );
}

export function TextField(
  props: Base & {
    value: string;
    onValue: (v: string) => void;
    autoComplete?: string;
    placeholder?: string;
    required?: boolean;
    mono?: boolean;
  },
) {
  return (
    <Labelled {...props}>
      <input
        {...aria(props)}
        type="text"
        class={props.mono ? "mono" : undefined}
        value={props.value}
        autoComplete={props.autoComplete}
        placeholder={props.placeholder}
        required={props.required}
        spellcheck={false}
        onInput={(e) => props.onValue(e.currentTarget.value)}
      />
    </Labelled>
  );
}

export function TextArea(props: Base & { value: string; onValue: (v: string) => void; rows?: number; placeholder?: string }) {
  return (
    <Labelled {...props}>
      <textarea
        {...aria(props)}
        rows={props.rows ?? 4}
        value={props.value}
        placeholder={props.placeholder}
        spellcheck={false}
        onInput={(e) => props.onValue(e.currentTarget.value)}
      />
    </Labelled>
  );
}

export function Checkbox(props: Base & { checked: boolean; onValue: (v: boolean) => void }) {
  return (
    <div class="field field-check">
      <div class="row">
        <input
          {...aria(props)}
          type="checkbox"
          checked={props.checked}
          onChange={(e) => props.onValue(e.currentTarget.checked)}
        />
        <label for={props.id}>{props.label}</label>
      </div>
      <Hint id={props.id} hint={props.hint} />
      <FieldMessages id={props.id} errors={props.errors} />
    </div>
  );
}

export interface Choice<T extends string> extends Option<T> {
  hint?: string;
}

export function Select<T extends string>(props: Base & { value: T; choices: Choice<T>[]; onValue: (v: T) => void }) {
  return (
    <Labelled {...props}>
      <select {...aria(props)} value={props.value} onChange={(e) => props.onValue(e.currentTarget.value as T)}>
        <Options options={props.choices} />
      </select>
    </Labelled>
  );
}

/** Radio buttons in a fieldset whose legend names the choice; ids are `<id>--<value>`. */
export function RadioGroup<T extends string>(props: Base & { value: T; choices: Choice<T>[]; onValue: (v: T) => void }) {
  return (
    <fieldset {...aria(props)} class="radio-group" role="radiogroup" aria-labelledby={`${props.id}-legend`}>
      <legend id={`${props.id}-legend`}>{props.label}</legend>
      <Hint id={props.id} hint={props.hint} />
      {props.choices.map((c) => {
        const id = `${props.id}--${c.value}`;
        return (
          <div key={c.value} class="radio-choice">
            <input
              id={id}
              type="radio"
              name={props.id}
              value={c.value}
              checked={props.value === c.value}
              aria-describedby={c.hint ? hintId(id) : undefined}
              onChange={() => props.onValue(c.value)}
            />
            <label for={id} class="inline">
              {c.label}
            </label>
            {c.hint && (
              <span id={hintId(id)} class="muted small">
                {c.hint}
              </span>
            )}
          </div>
        );
      })}
      <FieldMessages id={props.id} errors={props.errors} />
    </fieldset>
  );
}
