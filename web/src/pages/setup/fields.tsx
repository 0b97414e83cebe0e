// Labelled form fields whose problems show under them: the input is aria-invalid and described by
// its hint and its messages.
import type { ComponentChildren } from "preact";
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

function invalid(errors: string[] | undefined): true | undefined {
  return errors && errors.length > 0 ? true : undefined;
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
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <Hint id={props.id} hint={props.hint} />
      <input
        id={props.id}
        type="text"
        class={props.mono ? "mono" : undefined}
        value={props.value}
        autoComplete={props.autoComplete}
        placeholder={props.placeholder}
        required={props.required}
        spellcheck={false}
        aria-invalid={invalid(props.errors)}
        aria-describedby={describedBy(props.id, props.hint, props.errors)}
        onInput={(e) => props.onValue(e.currentTarget.value)}
      />
      <FieldMessages id={props.id} errors={props.errors} />
    </div>
  );
}

export function TextArea(props: Base & { value: string; onValue: (v: string) => void; rows?: number; placeholder?: string }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <Hint id={props.id} hint={props.hint} />
      <textarea
        id={props.id}
        rows={props.rows ?? 4}
        value={props.value}
        placeholder={props.placeholder}
        spellcheck={false}
        aria-invalid={invalid(props.errors)}
        aria-describedby={describedBy(props.id, props.hint, props.errors)}
        onInput={(e) => props.onValue(e.currentTarget.value)}
      />
      <FieldMessages id={props.id} errors={props.errors} />
    </div>
  );
}

export function Checkbox(props: Base & { checked: boolean; onValue: (v: boolean) => void }) {
  return (
    <div class="field field-check">
      <div class="row">
        <input
          id={props.id}
          type="checkbox"
          checked={props.checked}
          aria-invalid={invalid(props.errors)}
          aria-describedby={describedBy(props.id, props.hint, props.errors)}
          onChange={(e) => props.onValue(e.currentTarget.checked)}
        />
        <label for={props.id}>{props.label}</label>
      </div>
      <Hint id={props.id} hint={props.hint} />
      <FieldMessages id={props.id} errors={props.errors} />
    </div>
  );
}

export interface Choice<T extends string> {
  value: T;
  label: string;
  hint?: string;
}

export function Select<T extends string>(props: Base & { value: T; choices: Choice<T>[]; onValue: (v: T) => void }) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <Hint id={props.id} hint={props.hint} />
      <select
        id={props.id}
        value={props.value}
        aria-invalid={invalid(props.errors)}
        aria-describedby={describedBy(props.id, props.hint, props.errors)}
        onChange={(e) => props.onValue(e.currentTarget.value as T)}
      >
        {props.choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
      <FieldMessages id={props.id} errors={props.errors} />
    </div>
  );
}

/** Radio buttons in a fieldset whose legend names the choice; ids are `<id>--<value>`. */
export function RadioGroup<T extends string>(props: Base & { value: T; choices: Choice<T>[]; onValue: (v: T) => void }) {
  return (
    <fieldset
      id={props.id}
      class="radio-group"
      role="radiogroup"
      aria-labelledby={`${props.id}-legend`}
      aria-invalid={invalid(props.errors)}
      aria-describedby={describedBy(props.id, props.hint, props.errors)}
    >
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
