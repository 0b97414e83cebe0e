// The editor's two views: tabs that switch between them (arrow keys move between tabs), and the
// JSON view's textarea.
import type { ComponentChildren } from "preact";
import { useRef } from "preact/hooks";
import type { Violation } from "../../api/problem";
import { TextArea } from "./fields";

export type View = "form" | "json";

const TABS: { id: View; label: string }[] = [
  { id: "form", label: "Form" },
  { id: "json", label: "JSON" },
];

export function ViewTabs(props: { view: View; onSwitch: (v: View) => void; children: ComponentChildren }) {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const move = (to: View) => {
    props.onSwitch(to);
    refs.current[to]?.focus();
  };
  return (
    <>
      <div role="tablist" aria-label="Editor view" class="view-tabs">
        {TABS.map((t, i) => {
          const selected = props.view === t.id;
          return (
            <button
              key={t.id}
              ref={(el) => {
                refs.current[t.id] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={selected}
              aria-controls={selected ? `panel-${t.id}` : undefined}
              tabIndex={selected ? 0 : -1}
              onClick={() => props.onSwitch(t.id)}
              onKeyDown={(e) => {
                const last = TABS.length - 1;
                const to =
                  e.key === "ArrowRight" ? (i === last ? 0 : i + 1)
                  : e.key === "ArrowLeft" ? (i === 0 ? last : i - 1)
                  : e.key === "Home" ? 0
                  : e.key === "End" ? last
                  : null;
                if (to === null) return;
                e.preventDefault();
                move(TABS[to].id);
              }}
            >
              {t.label}
            </button>
          );
        })}
      </div>
      <div role="tabpanel" id={`panel-${props.view}`} aria-labelledby={`tab-${props.view}`} class="view-panel">
        {props.children}
      </div>
    </>
  );
}

export function JsonEditor(props: {
  text: string;
  onText: (t: string) => void;
  parseError: string | null;
  violations: Violation[];
}) {
  const errors = props.parseError
    ? [props.parseError]
    : props.violations.map((v) => `${v.path || "/"}: ${v.message}`);
  return (
    <TextArea
      id="f-connector-json"
      label="Connector JSON"
      rows={24}
      value={props.text}
      onValue={props.onText}
      errors={errors.length > 0 ? errors : undefined}
      hint={
        <>
          The connector spec as replace takes it. Leave <code>connectionString</code> out to keep the stored one; leave{" "}
          <code>desiredState</code> out (pause and resume are on the connector's page).
        </>
      }
    />
  );
}
