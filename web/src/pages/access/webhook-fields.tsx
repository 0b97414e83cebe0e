// A webhook's settings as form fields (create and edit): URL, description, events, enabled.
import type { ApiProblem } from "../../api/problem";
import { eventChoices, toggleEvent, type FormErrors, type WebhookForm } from "./webhooks";

export function WebhookFields(props: {
  id: string;
  form: WebhookForm;
  onChange: (form: WebhookForm) => void;
  errors: FormErrors;
  /** The api's answer, whose violations show at their field. */
  problem: ApiProblem | null;
}) {
  const { id, form } = props;
  const set = <K extends keyof WebhookForm>(k: K, v: WebhookForm[K]) => props.onChange({ ...form, [k]: v });
  const at = (pointer: string) => props.problem?.errorsAt(pointer).map((v) => v.message).join(" ") || undefined;
  const urlError = props.errors.url ?? at("/url");
  const descriptionError = at("/description");
  const eventsError = props.errors.events ?? at("/eventTypes");
  return (
    <>
      <div class="field">
        <label for={`${id}-url`}>Endpoint URL</label>
        <input
          id={`${id}-url`}
          type="url"
          value={form.url}
          required
          placeholder="https://hooks.example.com/edgebridge"
          aria-invalid={urlError ? "true" : undefined}
          aria-describedby={urlError ? `${id}-url-error ${id}-url-help` : `${id}-url-help`}
          onInput={(e) => set("url", e.currentTarget.value)}
        />
        <span id={`${id}-url-help`} class="muted small">
          Alert transitions are POSTed there, signed with the webhook's secret (Standard Webhooks headers). Its host must
          resolve to addresses this deployment may reach.
        </span>
        {urlError && (
          <span id={`${id}-url-error`} class="field-error">
            {urlError}
          </span>
        )}
      </div>
      <div class="field">
        <label for={`${id}-description`}>Description</label>
        <input
          id={`${id}-description`}
          value={form.description}
          maxLength={1024}
          aria-invalid={descriptionError ? "true" : undefined}
          onInput={(e) => set("description", e.currentTarget.value)}
        />
        {descriptionError && <span class="field-error">{descriptionError}</span>}
      </div>
      <fieldset aria-describedby={eventsError ? `${id}-events-error` : undefined}>
        <legend>Events</legend>
        <label class="inline">
          <input type="radio" name={`${id}-events`} checked={form.allEvents} onChange={() => set("allEvents", true)} /> Every
          event type
        </label>
        <label class="inline">
          <input type="radio" name={`${id}-events`} checked={!form.allEvents} onChange={() => set("allEvents", false)} /> Only
          these event types:
        </label>
        <div class="row">
          {eventChoices(form).map((type) => (
            <label class="inline mono" key={type}>
              <input
                type="checkbox"
                checked={form.events.includes(type)}
                disabled={form.allEvents}
                onChange={(e) => set("events", toggleEvent(form.events, type, e.currentTarget.checked))}
              />{" "}
              {type}
            </label>
          ))}
        </div>
        {eventsError && (
          <span id={`${id}-events-error`} class="field-error">
            {eventsError}
          </span>
        )}
      </fieldset>
      <div class="field">
        <label class="inline">
          <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.currentTarget.checked)} /> Enabled
        </label>
        <span class="muted small">A disabled webhook gets no new events (test events excepted).</span>
      </div>
    </>
  );
}
