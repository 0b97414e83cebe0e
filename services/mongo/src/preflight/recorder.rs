//! The run's bookkeeping: recording passed, failed and skipped checks, and the changes made.

use std::time::{Duration, Instant};

use super::remedy::REMEDY_SLOW;
use super::report::{CheckResult, CheckStatus};
use super::{ORDER, PER_COLLECTION};

pub(super) struct Run {
    pub(super) checks: Vec<CheckResult>,
    pub(super) changes: Vec<String>,
}

impl Run {
    pub(super) fn pass(
        &mut self,
        check: &'static str,
        collection: Option<&str>,
        message: String,
        started: Instant,
    ) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Passed,
            collection: collection.map(str::to_owned),
            code: None,
            message,
            remediation: None,
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail(
        &mut self,
        check: &'static str,
        collection: Option<&str>,
        code: &'static str,
        message: String,
        remediation: impl Into<String>,
        started: Instant,
    ) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Failed,
            collection: collection.map(str::to_owned),
            code: Some(code),
            message,
            remediation: Some(remediation.into()),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    /// Something to fix that does not stop the connector: reported with a code and a
    /// remediation like a failure, but the run stays ok.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn warn(
        &mut self,
        check: &'static str,
        collection: Option<&str>,
        code: &'static str,
        message: String,
        remediation: impl Into<String>,
        started: Instant,
    ) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Warning,
            collection: collection.map(str::to_owned),
            code: Some(code),
            message,
            remediation: Some(remediation.into()),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    pub(super) fn skip(&mut self, check: &'static str, collection: Option<&str>, because: &str) {
        self.checks.push(CheckResult {
            check,
            status: CheckStatus::Skipped,
            collection: collection.map(str::to_owned),
            code: None,
            message: format!("Skipped because {because}."),
            remediation: None,
            duration_ms: 0,
        });
    }

    pub(super) fn skip_unavailable(&mut self, check: &'static str, collection: &str) {
        self.skip(
            check,
            Some(collection),
            &format!("collection {collection} is not available"),
        );
    }

    /// The run hit its total time limit: the first check without a result fails, the rest are
    /// skipped.
    pub(super) fn out_of_time(&mut self, collections: &[String], limit: Duration) {
        let mut failed = false;
        for check in ORDER {
            let targets: Vec<Option<&str>> = if PER_COLLECTION.contains(&check) {
                collections.iter().map(|c| Some(c.as_str())).collect()
            } else {
                vec![None]
            };
            for collection in targets {
                let done = self
                    .checks
                    .iter()
                    .any(|c| c.check == check && c.collection.as_deref() == collection);
                if done {
                    continue;
                }
                if failed {
                    self.skip(check, collection, "the checks ran out of time");
                } else {
                    failed = true;
                    self.checks.push(CheckResult {
                        check,
                        status: CheckStatus::Failed,
                        collection: collection.map(str::to_owned),
                        code: Some("preflight_timed_out"),
                        message: format!(
                            "The checks did not finish within {} s; this one had not answered.",
                            limit.as_secs()
                        ),
                        remediation: Some(REMEDY_SLOW.to_owned()),
                        duration_ms: limit.as_millis() as u64,
                    });
                }
            }
        }
    }

    /// Skips every check after `from` (in [`ORDER`]), for every collection where it applies.
    pub(super) fn skip_rest(&mut self, from: &'static str, collections: &[String], because: &str) {
        let start = ORDER
            .iter()
            .position(|c| *c == from)
            .map_or(ORDER.len(), |i| i + 1);
        for check in &ORDER[start..] {
            if PER_COLLECTION.contains(check) {
                for name in collections {
                    self.skip(check, Some(name), because);
                }
            } else {
                self.skip(check, None, because);
            }
        }
    }
}
