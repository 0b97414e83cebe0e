//! The sync bench's runs: what each one does (its load), what it measured (its figures), and
//! the table that puts the runs side by side.

use super::env_or;
use std::time::Duration;

/// Documents per device insert (one DQL statement).
pub const DEVICE_BATCH: i64 = 500;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Microseconds per unit of work (a document, an event, a write).
pub fn per_unit_us(d: Duration, units: i64) -> f64 {
    d.as_secs_f64() * 1e6 / units.max(1) as f64
}

/// What one run does.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub docs: i64,
    pub events: i64,
    pub rate: u64,
    pub secs: u64,
    pub writes: i64,
}

impl Load {
    pub fn from_env() -> Load {
        Load {
            docs: env_or("SYNC_DOCS", 50_000),
            events: env_or("SYNC_EVENTS", 20_000),
            rate: env_or("SYNC_RATE", 2_000),
            secs: env_or("SYNC_SECS", 5),
            writes: env_or("SYNC_WRITES", 20_000),
        }
    }

    /// Counts divided by `divisor` (the lag's rate and duration stay: it is a rate already);
    /// device inserts stay whole batches.
    pub fn divided(self, divisor: i64) -> Load {
        let divisor = divisor.max(1);
        Load {
            docs: (self.docs / divisor).max(1),
            events: (self.events / divisor).max(1),
            writes: (self.writes / divisor).max(DEVICE_BATCH),
            ..self
        }
    }
}

/// One run's figures.
#[derive(Debug, Default)]
pub struct Figures {
    pub docs: i64,
    pub copy: Duration,
    pub events: i64,
    pub stream: Duration,
    /// Sorted, in ms.
    pub lags: Vec<f64>,
    pub writes: i64,
    pub write_back: Duration,
}

/// The runs side by side: one row per figure, one column per port.
pub fn print_side_by_side(runs: &[(String, Figures)]) {
    type Row = (&'static str, fn(&Figures) -> String);
    let rows: [Row; 12] = [
        ("initial sync documents", |f| f.docs.to_string()),
        ("initial sync documents/s", |f| {
            format!("{:.0}", f.docs as f64 / f.copy.as_secs_f64())
        }),
        ("initial sync µs/document", |f| {
            format!("{:.1}", per_unit_us(f.copy, f.docs))
        }),
        ("streaming events", |f| f.events.to_string()),
        ("streaming events/s", |f| {
            format!("{:.0}", f.events as f64 / f.stream.as_secs_f64())
        }),
        ("streaming µs/event", |f| {
            format!("{:.1}", per_unit_us(f.stream, f.events))
        }),
        ("lag p50 ms", |f| {
            format!("{:.0}", percentile(&f.lags, 50.0))
        }),
        ("lag p99 ms", |f| {
            format!("{:.0}", percentile(&f.lags, 99.0))
        }),
        ("lag max ms", |f| {
            format!("{:.0}", f.lags.last().copied().unwrap_or(f64::NAN))
        }),
        ("write-back writes", |f| f.writes.to_string()),
        ("write-back writes/s", |f| {
            format!("{:.0}", f.writes as f64 / f.write_back.as_secs_f64())
        }),
        ("write-back µs/write", |f| {
            format!("{:.1}", per_unit_us(f.write_back, f.writes))
        }),
    ];
    println!();
    println!("# side by side (runs one after the other in this process)");
    let mut header = format!("{:<28}", "figure");
    for (label, _) in runs {
        header.push_str(&format!("{label:>21}"));
    }
    println!("{header}");
    for (name, value) in rows {
        let mut line = format!("{name:<28}");
        for (_, figures) in runs {
            line.push_str(&format!("{:>21}", value(figures)));
        }
        println!("{line}");
    }
}

/// Per port, the median of its traced runs against the median of its untraced ones (pairs
/// interleaved with `SYNC_TRACE=off,on,off,on,...` cancel the order's effect): what the trace
/// costs each phase, in percent of throughput (below 0: the traced runs were faster, noise).
pub fn print_trace_cost(runs: &[(String, Figures)]) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut ports: Vec<&str> = runs
        .iter()
        .map(|(l, _)| l.trim_end_matches(" notrace"))
        .collect();
    ports.dedup();
    ports.sort_unstable();
    ports.dedup();
    type Rate = fn(&Figures) -> f64;
    let phases: [(&str, Rate); 3] = [
        ("initial_sync", |f| f.docs as f64 / f.copy.as_secs_f64()),
        ("streaming", |f| f.events as f64 / f.stream.as_secs_f64()),
        ("write_back", |f| {
            f.writes as f64 / f.write_back.as_secs_f64()
        }),
    ];
    for port in ports {
        let on: Vec<&Figures> = runs
            .iter()
            .filter(|(l, _)| l == port)
            .map(|(_, f)| f)
            .collect();
        let off: Vec<&Figures> = runs
            .iter()
            .filter(|(l, _)| l.trim_end_matches(" notrace") == port && l != port)
            .map(|(_, f)| f)
            .collect();
        if on.is_empty() || off.is_empty() {
            continue;
        }
        let key = port.replace(' ', "_");
        for (phase, rate) in phases {
            let with = median(on.iter().map(|f| rate(f)).collect());
            let without = median(off.iter().map(|f| rate(f)).collect());
            println!(
                "trace_cost.{key}.{phase}: {:.1} % ({} traced / {} untraced runs, medians {with:.0} vs {without:.0}/s)",
                (1.0 - with / without) * 100.0,
                on.len(),
                off.len()
            );
        }
    }
}

/// `SYNC_TRACE`: `on,off` (the default: each port twice, traces on then off, side by side),
/// `on` or `off`.
pub fn trace_settings() -> anyhow::Result<Vec<bool>> {
    let list = std::env::var("SYNC_TRACE").unwrap_or_else(|_| "on,off".to_owned());
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(anyhow::anyhow!("SYNC_TRACE: {s:?} is not `on` or `off`")),
        })
        .collect()
}

/// `SYNC_WIRE_RTT_MS`: comma-separated round-trip times (ms) of the wire runs.
pub fn wire_round_trips() -> anyhow::Result<Vec<Duration>> {
    let list = std::env::var("SYNC_WIRE_RTT_MS").unwrap_or_else(|_| "0,10".to_owned());
    list.split(',')
        .map(str::trim)
        .filter(|ms| !ms.is_empty())
        .map(|ms| {
            ms.parse()
                .map(Duration::from_millis)
                .map_err(|_| anyhow::anyhow!("SYNC_WIRE_RTT_MS: {ms:?} is not a number of ms"))
        })
        .collect()
}
