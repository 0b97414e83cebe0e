// Alert rules as they apply to one connector (its own override, else the app's rule, else the
// built-in one), their thresholds in words, and the bodies of the create and change requests.
import type { Schemas } from "../../api/client";
import { count, duration } from "../../lib/format";

export type AlertKind = Schemas["AlertKind"];
export type AlertRule = Schemas["AlertRule"];
type Unit = "seconds" | "percent" | "documents" | null;

export const KINDS: { kind: AlertKind; label: string; unit: Unit; windowed: boolean }[] = [
  { kind: "lag", label: "Lag", unit: "seconds", windowed: false },
  { kind: "error_rate", label: "Error rate", unit: "percent", windowed: true },
  { kind: "connector_failed", label: "Connector failed", unit: null, windowed: false },
  { kind: "stopped_unexpectedly", label: "Stopped unexpectedly", unit: null, windowed: false },
  { kind: "stream_stalled", label: "Stream stalled", unit: "seconds", windowed: false },
  { kind: "unsynced_increasing", label: "Unsynced documents increasing", unit: "documents", windowed: true },
  { kind: "resume_point_at_risk", label: "Resume point at risk", unit: "seconds", windowed: false },
];

export function kindInfo(kind: string) {
  return KINDS.find((k) => k.kind === kind) ?? { kind: kind as AlertKind, label: kind.replace(/_/g, " "), unit: null, windowed: false };
}

/** A threshold or an alert's value in the kind's unit; "—" when there is none. */
export function measureText(kind: string, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  switch (kindInfo(kind).unit) {
    case "seconds":
      return value < 0 ? `${duration(-value * 1000)} ago` : duration(value * 1000);
    case "percent":
      return `${value} %`;
    case "documents":
      return `${count(value)} documents`;
    default:
      return String(value);
  }
}

export interface RuleRow {
  kind: AlertKind;
  /** Where the rule that applies comes from. */
  source: "connector" | "app" | "builtIn";
  /** The connector's own rule (editable here), if any. */
  own: AlertRule | null;
  /** The app's rule for the kind, if any (overridden when `own` is set). */
  app: AlertRule | null;
  enabled: boolean;
  threshold: number | null;
  forSecs: number;
  windowSecs: number | null;
}

/** Per kind, the rule that applies to the connector; a `null` threshold or window is the built-in one. */
export function applicableRules(list: Schemas["AlertRuleList"], connectorId: string): RuleRow[] {
  return KINDS.map(({ kind }) => {
    const own = list.items.find((r) => r.kind === kind && r.connectorId === connectorId) ?? null;
    const app = list.items.find((r) => r.kind === kind && (r.connectorId === null || r.connectorId === undefined)) ?? null;
    const builtIn = list.builtIn.find((b) => b.kind === kind);
    const rule = own ?? app;
    return {
      kind,
      source: own ? "connector" : app ? "app" : "builtIn",
      own,
      app,
      enabled: rule ? rule.enabled : true,
      threshold: rule?.threshold ?? builtIn?.threshold ?? null,
      forSecs: rule ? rule.forSecs : builtIn?.forSecs ?? 0,
      windowSecs: rule?.windowSecs ?? builtIn?.windowSecs ?? null,
    };
  });
}

export interface RuleForm {
  kind: string;
  threshold: string;
  forSecs: string;
  windowSecs: string;
  enabled: boolean;
}

export type FormErrors = Partial<Record<"kind" | "threshold" | "forSecs" | "windowSecs", string>>;

function number(text: string): number | null | "bad" {
  const t = text.trim();
  if (t === "") return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : "bad";
}

function wholeSeconds(text: string): number | null | "bad" {
  const n = number(text);
  if (n === "bad" || n === null) return n;
  return Number.isInteger(n) && n >= 0 ? n : "bad";
}

function parseCommon(form: RuleForm, errors: FormErrors) {
  const threshold = number(form.threshold);
  if (threshold === "bad") errors.threshold = "A number, or empty for the built-in threshold.";
  const forSecs = wholeSeconds(form.forSecs);
  if (forSecs === "bad") errors.forSecs = "Whole seconds, 0 or more.";
  const windowSecs = wholeSeconds(form.windowSecs);
  if (windowSecs === "bad") errors.windowSecs = "Whole seconds, or empty for the built-in window.";
  return {
    threshold: threshold === "bad" ? null : threshold,
    forSecs: forSecs === "bad" ? null : forSecs,
    windowSecs: windowSecs === "bad" ? null : windowSecs,
  };
}

/** The body creating the connector's own rule, or what is wrong with the form. */
export function newRuleBody(form: RuleForm, connectorId: string): { body: Schemas["NewAlertRule"] | null; errors: FormErrors } {
  const errors: FormErrors = {};
  const info = KINDS.find((k) => k.kind === form.kind);
  if (!info) errors.kind = "Choose what the rule watches.";
  const v = parseCommon(form, errors);
  if (!info || Object.keys(errors).length > 0) return { body: null, errors };
  const body: Schemas["NewAlertRule"] = { connectorId, kind: info.kind, enabled: form.enabled, threshold: v.threshold };
  if (v.forSecs !== null) body.forSecs = v.forSecs;
  if (info.windowed) body.windowSecs = v.windowSecs;
  return { body, errors };
}

/** The patch changing a rule to the form's values (empty threshold or window: the built-in one). */
export function rulePatch(form: RuleForm): { body: Schemas["AlertRulePatch"] | null; errors: FormErrors } {
  const errors: FormErrors = {};
  const v = parseCommon(form, errors);
  if (Object.keys(errors).length > 0) return { body: null, errors };
  const body: Schemas["AlertRulePatch"] = { enabled: form.enabled, threshold: v.threshold };
  if (v.forSecs !== null) body.forSecs = v.forSecs;
  if (kindInfo(form.kind).windowed) body.windowSecs = v.windowSecs;
  return { body, errors };
}

/** The form showing a rule's values. */
export function formOf(rule: AlertRule): RuleForm {
  return {
    kind: rule.kind,
    threshold: rule.threshold === null || rule.threshold === undefined ? "" : String(rule.threshold),
    forSecs: String(rule.forSecs),
    windowSecs: rule.windowSecs === null || rule.windowSecs === undefined ? "" : String(rule.windowSecs),
    enabled: rule.enabled,
  };
}
