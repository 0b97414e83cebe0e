// How numbers, durations and times read on the dashboard.

/** 0 ms -> "0 s", 1500 -> "1.5 s", 95_000 -> "1 min 35 s", 7_380_000 -> "2 h 3 min". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 0) ms = 0;
  if (ms < 1000) return ms === 0 ? "0 s" : `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1).replace(/\.0$/, "") : Math.round(s)} s`;
  const total = Math.round(s);
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return sec > 0 ? `${m} min ${sec} s` : `${m} min`;
}

/** Documents per second: "0/s", "3.2/s", "1.2k/s". */
export function rate(perSec: number | null | undefined): string {
  if (perSec === null || perSec === undefined || !Number.isFinite(perSec)) return "—";
  if (perSec === 0) return "0/s";
  return `${compact(perSec)}/s`;
}

/** 950 -> "950", 1234 -> "1.2k", 2_500_000 -> "2.5M"; small fractions keep one decimal. */
export function compact(n: number): string {
  const abs = Math.abs(n);
  const fixed = (v: number, unit: string) => `${v >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, "")}${unit}`;
  if (abs >= 1e9) return fixed(n / 1e9, "G");
  if (abs >= 1e6) return fixed(n / 1e6, "M");
  if (abs >= 1e3) return fixed(n / 1e3, "k");
  if (Number.isInteger(n)) return String(n);
  if (abs >= 10) return String(Math.round(n));
  // Below 1, two significant digits: 0.05/s is not 0/s.
  return abs >= 1 ? n.toFixed(1).replace(/\.0$/, "") : String(Number(n.toPrecision(2)));
}

/** Whole numbers with thousands separators. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return n.toLocaleString("en-US");
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago"; future times "in 5 min". */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "—";
  const diff = now - at;
  if (Math.abs(diff) < 2000) return "just now";
  const text = duration(Math.abs(diff)).replace(/ \d+ s$/, "").replace(/ \d+ min$/, "").replace(/ \d+ h$/, "");
  return diff > 0 ? `${text} ago` : `in ${text}`;
}

/** A timestamp as the user's local date and time, seconds included. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** A percentage with one decimal below 10 %, none above. */
export function percent(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return "—";
  const clamped = Math.max(0, Math.min(100, p));
  return `${clamped < 10 && clamped > 0 ? clamped.toFixed(1) : Math.round(clamped)} %`;
}

/** A document id (any JSON value) as one line of text. */
export function docId(id: unknown): string {
  return typeof id === "string" ? id : JSON.stringify(id);
}
