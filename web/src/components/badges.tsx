// Status and health at a glance: colour plus words (never colour alone).
import { Link } from "wouter-preact";
import type { Schemas } from "../api/client";

export function HealthBadge({ health }: { health: Schemas["Health"] }) {
  const label = { green: "Healthy", yellow: "Warning", red: "Unhealthy" }[health.state];
  return (
    <span class={`badge health-${health.state}`} title={health.reason}>
      <span class="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

/** A state in words, coloured by its class `<kind>-<status>` (`status-running`, `phase-streaming`, `alert-firing`). */
export function StatusBadge({ status, kind = "status" }: { status: string; kind?: string }) {
  return <span class={`badge ${kind}-${status}`}>{status.replace(/_/g, " ")}</span>;
}

export function ProgressBar({ percent, label }: { percent: number | null | undefined; label: string }) {
  const value = percent === null || percent === undefined ? undefined : Math.max(0, Math.min(100, percent));
  return (
    <progress class="progress" max={100} value={value} aria-label={label}>
      {value === undefined ? "" : `${Math.round(value)} %`}
    </progress>
  );
}

export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Tabs as links in a labelled nav: each tab is its own URL. */
export function Tabs(props: { label: string; tabs: { id: string; label: string; href: string }[]; current: string }) {
  return (
    <nav class="tabs" aria-label={props.label}>
      {props.tabs.map((t) => (
        <Link key={t.id} href={t.href} aria-current={t.id === props.current ? "page" : undefined}>
          {t.label}
        </Link>
      ))}
    </nav>
  );
}
