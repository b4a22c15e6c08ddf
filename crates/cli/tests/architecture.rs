//! The crate layering of ARCHITECTURE.md ("Invariants"), checked against the
//! manifests with `cargo metadata`: the shells reach the engine only through
//! its API, and each backend library is used by exactly one crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Normal (non-dev, non-build) dependencies of every workspace crate.
fn workspace_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut deps = BTreeMap::new();
    for pkg in meta["packages"].as_array().expect("packages") {
        let name = pkg["name"].as_str().expect("name").to_string();
        let normal: BTreeSet<String> = pkg["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("dependency name").to_string())
            .collect();
        deps.insert(name, normal);
    }
    deps
}

fn cairn_deps(deps: &BTreeSet<String>) -> BTreeSet<&str> {
    deps.iter()
        .map(String::as_str)
        .filter(|d| d.starts_with("cairn-"))
        .collect()
}

#[test]
fn shells_depend_on_the_engine_api_only() {
    let deps = workspace_dependencies();
    let expect = |krate: &str, allowed: &[&str]| {
        let got = cairn_deps(&deps[krate]);
        let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
        assert!(
            got.is_subset(&allowed),
            "{krate} may depend on {allowed:?} among Cairn's crates, but depends on {got:?}"
        );
    };
    // The CLI: the engine, and the measurement harness behind `eval` and `bench`.
    expect("cairn-cli", &["cairn-engine", "cairn-eval"]);
    // The desktop app: the engine, and the messages of its window.
    expect("cairn-desktop", &["cairn-engine", "cairn-ipc"]);
    // The harness measures what the shells use: the engine's API, nothing below.
    expect("cairn-eval", &["cairn-engine"]);
    // The window's messages build for wasm32: no native crate.
    expect("cairn-ipc", &[]);
}

#[test]
fn each_backend_has_exactly_one_home() {
    let deps = workspace_dependencies();
    let homes: &[(&str, &[&str])] = &[
        ("cairn-core", &[]),
        ("cairn-embed", &["fastembed", "ort"]),
        (
            "cairn-llm",
            &["candle-core", "candle-nn", "candle-transformers"],
        ),
        (
            "cairn-store",
            &[
                "lancedb",
                "lance-core",
                "tantivy",
                "arrow-array",
                "arrow-schema",
            ],
        ),
        (
            "cairn-load",
            &["pdf-extract", "scraper", "quick-xml", "zip", "ignore"],
        ),
    ];
    for (home, libs) in homes {
        for lib in *libs {
            let users: Vec<&String> = deps
                .iter()
                .filter(|(_, d)| d.contains(*lib))
                .map(|(k, _)| k)
                .collect();
            assert_eq!(users, vec![*home], "{lib} must be used by {home} only");
        }
    }
    // The core is pure logic: serde and thiserror only.
    let core: BTreeSet<&str> = deps["cairn-core"].iter().map(String::as_str).collect();
    assert_eq!(core, BTreeSet::from(["serde", "thiserror"]));
}

/// `unsafe` is confined to `cairn-kernels`: every other member inherits the
/// workspace lints, which forbid it.
#[test]
fn only_the_kernels_crate_may_use_unsafe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).expect("workspace manifest");
    assert!(
        workspace.contains("unsafe_code = \"forbid\""),
        "the workspace lints must forbid unsafe code"
    );
    let members: Vec<String> = workspace
        .lines()
        .skip_while(|l| !l.starts_with("members"))
        .skip(1)
        .take_while(|l| !l.starts_with(']'))
        .filter_map(|l| {
            l.trim()
                .trim_end_matches(',')
                .strip_prefix('"')
                .map(|m| m.trim_end_matches('"').to_string())
        })
        .collect();
    assert!(members.len() >= 10, "{members:?}");
    for m in members {
        let manifest =
            std::fs::read_to_string(root.join(&m).join("Cargo.toml")).expect("member manifest");
        let inherits = manifest.contains("[lints]\nworkspace = true");
        if m == "crates/kernels" {
            assert!(!inherits && manifest.contains("unsafe_op_in_unsafe_fn"));
        } else {
            assert!(
                inherits,
                "{m} must inherit the workspace lints (which forbid unsafe code)"
            );
        }
    }
}
