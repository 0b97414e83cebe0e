// The forms of the alerts tab: a new rule for this connector, and a change to one of its rules.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { api, must } from "../../api/client";
import type { ApiProblem } from "../../api/problem";
import { ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import { formOf, kindInfo, KINDS, newRuleBody, rulePatch, type AlertRule, type FormErrors, type RuleForm } from "./rules";

const UNIT_WORDS = { seconds: "seconds", percent: "%", documents: "documents" };

function RuleFields(props: {
  prefix: string;
  form: RuleForm;
  set: (f: RuleForm) => void;
  errors: FormErrors;
  problem: ApiProblem | null;
  chooseKind: boolean;
}) {
  const { prefix, form, set, errors } = props;
  const info = kindInfo(form.kind);
  const apiError = (pointer: string) => props.problem?.errorsAt(pointer).map((v) => v.message).join(" ");
  const field = (name: keyof FormErrors, label: string, input: JSX.Element) => {
    const message = errors[name] ?? apiError(`/${name}`);
    return (
      <div class="field">
        <label for={`${prefix}-${name}`}>{label}</label>
        {input}
        {message && (
          <span class="field-error" id={`${prefix}-${name}-error`}>
            {message}
          </span>
        )}
      </div>
    );
  };
  const attrs = (name: keyof FormErrors) => ({
    id: `${prefix}-${name}`,
    "aria-invalid": errors[name] || apiError(`/${name}`) ? ("true" as const) : undefined,
    "aria-describedby": errors[name] || apiError(`/${name}`) ? `${prefix}-${name}-error` : undefined,
  });
  return (
    <div class="toolbar">
      {props.chooseKind &&
        field(
          "kind",
          "Kind",
          <select {...attrs("kind")} value={form.kind} onChange={(e) => set({ ...form, kind: e.currentTarget.value })}>
            {KINDS.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>,
        )}
      {info.unit &&
        field(
          "threshold",
          `Threshold (${UNIT_WORDS[info.unit]})`,
          <input
            {...attrs("threshold")}
            inputMode="decimal"
            value={form.threshold}
            placeholder="built-in"
            onInput={(e) => set({ ...form, threshold: e.currentTarget.value })}
          />,
        )}
      {field(
        "forSecs",
        "For (seconds)",
        <input
          {...attrs("forSecs")}
          inputMode="numeric"
          value={form.forSecs}
          placeholder="built-in"
          onInput={(e) => set({ ...form, forSecs: e.currentTarget.value })}
        />,
      )}
      {info.windowed &&
        field(
          "windowSecs",
          "Window (seconds)",
          <input
            {...attrs("windowSecs")}
            inputMode="numeric"
            value={form.windowSecs}
            placeholder="built-in"
            onInput={(e) => set({ ...form, windowSecs: e.currentTarget.value })}
          />,
        )}
      <div class="field checkbox-field">
        <span>
          <input
            id={`${prefix}-enabled`}
            type="checkbox"
            checked={form.enabled}
            onChange={(e) => set({ ...form, enabled: e.currentTarget.checked })}
          />{" "}
          <label for={`${prefix}-enabled`}>Enabled</label>
        </span>
      </div>
    </div>
  );
}

const EMPTY: RuleForm = { kind: "lag", threshold: "", forSecs: "", windowSecs: "", enabled: true };

export function NewRuleForm(props: { appId: string; connectorId: string; onDone: () => void }) {
  const [form, setForm] = useState<RuleForm>(EMPTY);
  const [errors, setErrors] = useState<FormErrors>({});
  const save = useAction();
  return (
    <form
      class="card"
      aria-labelledby="new-rule-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const { body, errors } = newRuleBody(form, props.connectorId);
        setErrors(errors);
        if (!body) return;
        const r = await save.run(() => must(api.POST("/v1/apps/{appId}/alert-rules", { params: { path: { appId: props.appId } }, body })));
        if (r) {
          setForm(EMPTY);
          props.onDone();
        }
      }}
    >
      <h3 id="new-rule-title">New rule for this connector</h3>
      <p class="muted small">
        It overrides the app's rule of its kind for this connector. Leave threshold, for and window empty for the built-in
        values.
      </p>
      <RuleFields prefix="new-rule" form={form} set={setForm} errors={errors} problem={save.error} chooseKind />
      {save.error && <ErrorBox error={save.error} title="Could not create the rule" />}
      <button type="submit" class="primary" disabled={save.busy}>
        Create rule
      </button>
    </form>
  );
}

export function EditRuleForm(props: { appId: string; rule: AlertRule; onDone: () => void; onCancel: () => void }) {
  const [form, setForm] = useState<RuleForm>(() => formOf(props.rule));
  const [errors, setErrors] = useState<FormErrors>({});
  const save = useAction();
  const label = kindInfo(props.rule.kind).label;
  return (
    <form
      class="card"
      aria-labelledby="edit-rule-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const { body, errors } = rulePatch(form);
        setErrors(errors);
        if (!body) return;
        const r = await save.run(() =>
          must(
            api.PATCH("/v1/apps/{appId}/alert-rules/{ruleId}", {
              params: { path: { appId: props.appId, ruleId: props.rule.id } },
              body,
            }),
          ),
        );
        if (r) props.onDone();
      }}
    >
      <h3 id="edit-rule-title">Change the “{label}” rule of this connector</h3>
      <RuleFields prefix="edit-rule" form={form} set={setForm} errors={errors} problem={save.error} chooseKind={false} />
      {save.error && <ErrorBox error={save.error} title="Could not change the rule" />}
      <div class="row">
        <button type="submit" class="primary" disabled={save.busy}>
          Save rule
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
