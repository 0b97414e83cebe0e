// The connector create wizard: connection, collections, connection test, mapping preview and
// review, with the spec validated as the user types (each problem under its field).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Link, useLocation } from "wouter-preact";
import { api, must } from "../../api/client";
import { asProblem, type Violation } from "../../api/problem";
import { ErrorBox } from "../../components/states";
import { useAction } from "../../lib/async";
import { CollectionsEditor } from "./collections-editor";
import { ConnectionFields } from "./connection-fields";
import { F, fieldOfElement, touchKey } from "./fields-ids";
import { buildSpec, emptyForm, type ConnectorForm, type DesiredState } from "./form";
import { placeViolations } from "./pointers";
import { PreviewStep, type Previews, type PreviewState } from "./preview-step";
import { STEPS, stepOfField, stepOfPointer, type StepId } from "./steps";
import { useValidation } from "./use-validation";
import { ReviewStep, TestStep, type Tested } from "./wizard-steps";

export function WizardPage({ appId }: { appId: string }) {
  const [form, setFormState] = useState<ConnectorForm>(emptyForm);
  const [step, setStep] = useState(0);
  const [touched, setTouched] = useState<ReadonlySet<string>>(new Set());
  const [left, setLeft] = useState<ReadonlySet<StepId>>(new Set());
  const [desired, setDesired] = useState<DesiredState>("running");
  const [previews, setPreviews] = useState<Previews>({});
  const [tested, setTested] = useState<Tested | null>(null);
  const [submitErrors, setSubmitErrors] = useState<Violation[]>([]);
  const [showLocal, setShowLocal] = useState(false);
  const create = useAction();
  const [, navigate] = useLocation();

  const built = useMemo(() => buildSpec(form, { desiredState: desired }), [form, desired]);
  const testSpec = useMemo(() => buildSpec(form).spec, [form]);
  const validation = useValidation(appId, built.spec);
  const violations = useMemo(() => {
    const all = [...(validation.report?.errors ?? []), ...submitErrors];
    return all.filter((v, i) => all.findIndex((w) => w.path === v.path && w.message === v.message) === i);
  }, [validation.report, submitErrors]);
  const placed = useMemo(() => placeViolations(violations, form), [violations, form]);
  const local = useMemo(() => placeViolations([], form, built.problems).byField, [form, built.problems]);

  const current = STEPS[step].id;
  const onReview = current === "review";
  const visible = (field: string) => onReview || touched.has(touchKey(field)) || left.has(stepOfField(field));
  const errs = (field: string) => {
    const list = [...(local[field] ?? []), ...(visible(field) ? (placed.byField[field] ?? []) : [])];
    return list.length > 0 ? list : undefined;
  };
  const stepTouched = [...touched].some((f) => stepOfField(f) === current);
  const unmapped =
    onReview || left.has(current) || stepTouched ? placed.unmapped.filter((v) => stepOfPointer(v.path) === current) : [];

  const setForm = (patch: Partial<ConnectorForm>) => {
    setFormState((f) => ({ ...f, ...patch }));
    setSubmitErrors([]);
    setShowLocal(false);
  };
  // Text is touched as it is typed; checkboxes, radios and selects on "change" only: a render
  // between their "input" and "change" events would put their old state back.
  const markTouched = (e: Event) => {
    const target = e.target as HTMLInputElement | null;
    if (!target?.id) return;
    const typed = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text");
    if (e.type === "input" && !typed) return;
    const field = fieldOfElement(target.id);
    if (field === F.newCollection) return;
    const key = touchKey(field);
    setTouched((s) => (s.has(key) ? s : new Set(s).add(key)));
  };
  const setPreview = (key: string, update: (p: PreviewState) => PreviewState) =>
    setPreviews((all) => ({ ...all, [key]: update(all[key] ?? { samples: "" }) }));

  const heading = useRef<HTMLHeadingElement>(null);
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    heading.current?.focus();
  }, [step]);

  const go = (to: number) => {
    if (to > step) setLeft((s) => new Set(s).add(current));
    setStep(Math.max(0, Math.min(STEPS.length - 1, to)));
  };

  const onCreate = async () => {
    if (built.problems.length > 0) {
      setShowLocal(true);
      return;
    }
    const out = await create.run(async () => {
      try {
        return await must(api.POST("/v1/apps/{appId}/connectors", { params: { path: { appId } }, body: built.spec }));
      } catch (e) {
        setSubmitErrors(asProblem(e).errors);
        throw e;
      }
    });
    if (out) navigate(`/apps/${appId}/connectors/${out.id}`);
  };

  const count = violations.length + built.problems.length;
  return (
    <>
      <h1>New connector</h1>
      <nav aria-label="Wizard steps">
        <ol class="steps">
          {STEPS.map((s, i) => (
            <li key={s.id} class={i === step ? "current" : i < step ? "done" : undefined} aria-current={i === step ? "step" : undefined}>
              <span class="step-number" aria-hidden="true">
                {i + 1}
              </span>{" "}
              {s.title}
              {i < step && <span class="sr-only"> (visited)</span>}
            </li>
          ))}
        </ol>
      </nav>
      <section
        class="card wizard-step"
        aria-labelledby="wizard-step-title"
        onInput={markTouched}
        onChange={markTouched}
        onFocusOut={markTouched}
      >
        <div class="spread">
          <h2 id="wizard-step-title" tabIndex={-1} ref={heading}>
            Step {step + 1} of {STEPS.length}: {STEPS[step].title}
          </h2>
          <span class="muted small">
            {validation.checking ? "Checking the spec…" : validation.report ? (count === 0 ? "The spec is valid" : `${count} to fix`) : ""}
          </span>
        </div>
        {validation.error && !onReview && <ErrorBox error={validation.error} title="Could not check the spec" />}
        {unmapped.length > 0 && !onReview && (
          <div class="error-box">
            <p>
              <strong>To fix in this step:</strong>
            </p>
            <ul class="violations">
              {unmapped.map((v) => (
                <li key={v.path + v.message}>
                  <code>{v.path || "/"}</code> {v.message}
                </li>
              ))}
            </ul>
          </div>
        )}
        {current === "connection" && <ConnectionFields form={form} onChange={setForm} errs={errs} />}
        {current === "collections" && <CollectionsEditor form={form} onChange={setForm} errs={errs} />}
        {current === "test" && <TestStep appId={appId} spec={testSpec} tested={tested} onTested={setTested} />}
        {current === "preview" && (
          <PreviewStep appId={appId} collections={form.collections} previews={previews} setPreview={setPreview} />
        )}
        {onReview && (
          <ReviewStep
            spec={built.spec}
            testSpecJson={JSON.stringify(testSpec)}
            validation={validation}
            violations={violations}
            local={built.problems}
            tested={tested}
            desired={desired}
            onDesired={setDesired}
            errs={errs}
            onCreate={onCreate}
            creating={create.busy}
            createError={create.error}
            showLocal={showLocal}
          />
        )}
      </section>
      <div class="row wizard-nav">
        {step > 0 && (
          <button type="button" class="secondary" onClick={() => go(step - 1)}>
            Back
          </button>
        )}
        {step < STEPS.length - 1 && (
          <button type="button" class="primary" onClick={() => go(step + 1)}>
            Next
          </button>
        )}
        <Link href={`/apps/${appId}`} class="cancel">
          Cancel
        </Link>
      </div>
    </>
  );
}
