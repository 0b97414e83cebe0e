//! Structured logs: JSON when stderr is not a terminal (or when asked), readable text otherwise,
//! coloured only on a terminal (and not with `NO_COLOR` set). Logs go to stderr so commands that
//! print results (openapi, org create) keep stdout clean.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            other => Err(format!(
                "unknown log format `{other}`: use auto, json or text"
            )),
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`). Safe to call twice.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a terminal shows them: never into a file or a pipe.
        .with_ansi(colour(terminal, std::env::var_os("NO_COLOR").as_deref()))
        .with_span_events(FmtSpan::NONE);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Whether text logs carry ANSI colour codes: on a terminal, unless `NO_COLOR` is set to
/// anything but an empty value (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
