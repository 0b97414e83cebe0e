//! `cargo run -p edgebridge` and `cargo test --workspace` share one build of every dependency.
//! Cargo compiles a crate once per feature set, so a dev-dependency that turns on more features
//! of a crate the binary also uses (tokio's `test-util`, a default feature) makes the test build
//! compile that crate again, and everything above it: tokio, hyper, axum, sqlx, mongodb.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each package (`name vX.Y.Z`) with the feature sets it is built with, from `cargo tree`
/// (which resolves features as the matching build would: dev-dependencies only with `dev`
/// edges).
fn feature_sets(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--offline", "--prefix", "none"])
        .args(["--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // `name vX.Y.Z (path or "proc-macro") (*)`: name and version identify it.
        let package: Vec<&str> = package.split_whitespace().take(2).collect();
        let features = features.trim_end_matches(" (*)").trim().to_owned();
        sets.entry(package.join(" ")).or_default().insert(features);
    }
    sets
}

#[test]
fn the_binary_and_the_test_suite_build_shared_dependencies_with_the_same_features() {
    let run = feature_sets(&["-p", "edgebridge", "--edges", "normal,build"]);
    let test = feature_sets(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(
        run.keys().any(|package| package.starts_with("tokio v")),
        "the binary uses tokio: {run:?}"
    );
    let split: Vec<String> = run
        .iter()
        .filter_map(|(package, features)| match test.get(package) {
            Some(in_tests) if in_tests != features => Some(format!(
                "{package}: `cargo run` {features:?}, `cargo test` {in_tests:?}"
            )),
            _ => None,
        })
        .collect();
    assert!(
        split.is_empty(),
        "these crates (and every crate above them) would be compiled twice; enable the same \
         features for the binary (see the workspace Cargo.toml): {split:#?}"
    );
}
