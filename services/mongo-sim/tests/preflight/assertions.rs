//! What every preflight test asserts of a report: which check failed with which code, what ran
//! before it and what was skipped after it.

use edgebridge_mongo::port::Privilege;
use edgebridge_mongo::preflight::{CheckResult, CheckStatus, ORDER, PreflightReport};
use edgebridge_mongo_sim::SimUser;

pub(crate) const PER_COLLECTION: [&str; 5] = [
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "id_index",
    "sync_privileges",
];

pub(crate) fn user(name: &str, password: &str, privileges: Vec<Privilege>) -> SimUser {
    SimUser {
        name: name.to_owned(),
        password: password.to_owned(),
        privileges,
    }
}

pub(crate) fn find<'a>(
    report: &'a PreflightReport,
    check: &str,
    collection: Option<&str>,
) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.check == check && c.collection.as_deref() == collection)
        .unwrap_or_else(|| panic!("no {check} check for {collection:?} in {report:#?}"))
}

pub(crate) fn position(check: &str) -> usize {
    ORDER
        .iter()
        .position(|c| *c == check)
        .unwrap_or_else(|| panic!("{check} is not a preflight check"))
}

/// The check failed with `code`, its message names each of `names`, it says what to do, and it
/// is the report's first failure.
pub(crate) fn assert_failed<'a>(
    report: &'a PreflightReport,
    check: &str,
    collection: Option<&str>,
    code: &str,
    names: &[&str],
) -> &'a CheckResult {
    let result = find(report, check, collection);
    assert_eq!(
        result.status,
        CheckStatus::Failed,
        "{check} should fail: {result:#?}"
    );
    assert_eq!(result.code, Some(code), "{result:#?}");
    for name in names {
        assert!(
            result.message.contains(name),
            "the {check} message should name {name}: {:?}",
            result.message
        );
    }
    assert!(
        result.remediation.as_deref().is_some_and(|r| !r.is_empty()),
        "a failure says what to do: {result:#?}"
    );
    assert!(!report.ok, "a report with a failure is not ok");
    assert_eq!(
        report
            .first_failure()
            .map(|c| (c.check, c.collection.as_deref())),
        Some((result.check, collection)),
        "{check} is the first failure"
    );
    result
}

/// Every check before `check` passed.
pub(crate) fn assert_passed_before(report: &PreflightReport, check: &str) {
    for earlier in &ORDER[..position(check)] {
        for result in report.checks.iter().filter(|c| c.check == *earlier) {
            assert_eq!(
                result.status,
                CheckStatus::Passed,
                "{earlier} runs before {check} and should pass: {result:#?}"
            );
        }
    }
}

/// Every check after `check` is reported, and skipped (once per collection where it applies).
pub(crate) fn assert_skipped_after(report: &PreflightReport, check: &str, collections: &[&str]) {
    for later in &ORDER[position(check) + 1..] {
        let targets: Vec<Option<&str>> = if PER_COLLECTION.contains(later) {
            collections.iter().map(|c| Some(*c)).collect()
        } else {
            vec![None]
        };
        for collection in targets {
            let result = find(report, later, collection);
            assert_eq!(
                result.status,
                CheckStatus::Skipped,
                "{later} depends on {check} and should be skipped: {result:#?}"
            );
            assert!(
                result.message.starts_with("Skipped because"),
                "a skipped check says why: {:?}",
                result.message
            );
        }
    }
}

pub(crate) fn assert_all_passed(report: &PreflightReport) {
    let not_passed: Vec<&CheckResult> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
        .collect();
    assert!(not_passed.is_empty(), "every check passes: {not_passed:#?}");
    assert!(report.ok);
    assert_eq!(report.first_failure(), None);
}
