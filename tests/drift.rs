//! The drift report over fixture pairs (`tests/fixtures/drift/<pair>.{old,new}.yaml`): every
//! check id has a pair that triggers it, and each report is pinned in all three formats.

use std::collections::BTreeSet;
use std::path::Path;

use specgate_codegen::drift::{self, CHECKS, Class};
use specgate_codegen::{SpecFile, Surface, VendorInput, generate, generate_against};

const PAIRS: &[&str] = &["tools", "arguments", "tool-level", "aliases", "rejected"];

fn vendor(text: &str) -> Vec<VendorInput> {
    let file = if text.contains("specgate: 1") {
        "specgate.yaml"
    } else {
        "openapi.yaml"
    };
    vec![VendorInput {
        dir: "acme".to_owned(),
        files: vec![SpecFile {
            path: format!("acme/{file}"),
            text: text.to_owned(),
        }],
    }]
}

fn read(pair: &str, side: &str) -> String {
    std::fs::read_to_string(Path::new("tests/fixtures/drift").join(format!("{pair}.{side}.yaml")))
        .unwrap()
}

/// The report of one pair, as `cargo codegen diff` makes it: the base is the old side's lock
/// file, and the new side is generated against it.
fn report(pair: &str) -> drift::Report {
    let base = generate(&vendor(&read(pair, "old"))).surface();
    let base = Surface::parse(&base.to_lock_text()).unwrap();
    let generated = generate_against(&vendor(&read(pair, "new")), &base);
    drift::diff(&format!("{pair}.old"), &base, &generated)
}

#[test]
fn reports_of_every_pair_in_three_formats() {
    for pair in PAIRS {
        let report = report(pair);
        insta::assert_snapshot!(format!("{pair}-text"), report.to_text());
        insta::assert_snapshot!(format!("{pair}-markdown"), report.to_markdown());
        insta::assert_json_snapshot!(format!("{pair}-json"), report.to_json());
    }
}

#[test]
fn every_check_id_has_a_fixture_pair() {
    let seen: BTreeSet<&str> = PAIRS
        .iter()
        .flat_map(|pair| report(pair).changes.into_iter().map(|c| c.check))
        .collect();
    let all: BTreeSet<&str> = CHECKS.iter().map(|(id, _)| *id).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "no fixture pair triggers {missing:?}");
}

#[test]
fn renames_keep_their_old_names_as_aliases_unless_another_tool_took_them() {
    let report = report("tools");
    let find = |check: &str| -> Vec<String> {
        report
            .changes
            .iter()
            .filter(|c| c.check == check)
            .map(|c| format!("{} {}", c.tool, c.detail))
            .collect()
    };
    let aliased = find("tool-renamed-aliased");
    assert_eq!(aliased.len(), 1, "{aliased:?}");
    assert!(
        aliased[0].contains(
            "get_single_acme_widget_item_by_id renamed from `get_single_acme_widget_by_id`"
        ),
        "{aliased:?}"
    );
    assert_eq!(
        report
            .changes
            .iter()
            .find(|c| c.check == "tool-renamed-aliased")
            .unwrap()
            .class,
        Class::Warning
    );
    // PATCH took `update_a_acme_gadget_by_id`; PUT's tool is renamed and cannot keep it.
    assert_eq!(find("tool-name-reused").len(), 1, "{:?}", report.changes);
    assert_eq!(find("tool-renamed").len(), 1, "{:?}", report.changes);
    let generated = generate_against(
        &vendor(&read("tools", "new")),
        &generate(&vendor(&read("tools", "old"))).surface(),
    );
    let aliases: Vec<(&str, &Vec<String>)> = generated.integrations[0]
        .tools
        .iter()
        .filter(|t| !t.aliases.is_empty())
        .map(|t| (t.name.as_str(), &t.aliases))
        .collect();
    assert_eq!(
        aliases,
        vec![(
            "get_single_acme_widget_item_by_id",
            &vec!["get_single_acme_widget_by_id".to_owned()]
        )]
    );
    assert!(
        generated
            .diagnostics
            .iter()
            .any(|d| d.code == "naming::alias-shadows-tool"),
        "{}",
        generated.report()
    );
}

#[test]
fn a_spec_the_base_rejected_and_one_the_new_side_rejects_are_both_reported() {
    let accepted_now = {
        let base = generate(&vendor(&read("rejected", "new"))).surface();
        assert!(base.integrations.is_empty());
        drift::diff("base", &base, &generate(&vendor(&read("rejected", "old"))))
    };
    assert!(!accepted_now.is_breaking());
    assert_eq!(
        accepted_now
            .changes
            .iter()
            .map(|c| c.check)
            .collect::<Vec<_>>(),
        ["tool-added"]
    );
    let rejected_now = report("rejected");
    let checks: Vec<&str> = rejected_now.changes.iter().map(|c| c.check).collect();
    assert_eq!(checks, ["integration-rejected", "tool-removed"]);
}

#[test]
fn the_cli_exits_1_on_breaking_changes_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir_all(specs.join("acme")).unwrap();
    std::fs::write(specs.join("acme/openapi.yaml"), read("tools", "old")).unwrap();
    let lock = dir.path().join("base.lock.json");
    std::fs::write(
        &lock,
        generate(&vendor(&read("tools", "old")))
            .surface()
            .to_lock_text(),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO"))
            .args([
                "run",
                "-q",
                "-p",
                "specgate-codegen",
                "--bin",
                "codegen",
                "--",
                "diff",
                "--base-lock",
            ])
            .arg(&lock)
            .arg("--specs")
            .arg(&specs)
            .args(extra)
            .output()
            .unwrap()
    };
    let same = run(&[]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("0 breaking, 0 warning, 0 info"));
    std::fs::write(specs.join("acme/openapi.yaml"), read("tools", "new")).unwrap();
    let breaking = run(&["--format", "json"]);
    assert_eq!(breaking.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&breaking.stdout).unwrap();
    assert_eq!(json["summary"]["breaking"], 4, "{json}");
    assert!(String::from_utf8_lossy(&breaking.stderr).contains("--allow-breaking"));
    assert_eq!(run(&["--allow-breaking"]).status.code(), Some(0));
    let bad = run(&["--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// The `codegen` binary is a tool a person can use: `--help` on each command, unknown flags
/// refused, and paths from the current directory, with a clear word when it holds no specs.
#[test]
fn the_codegen_binary_refuses_unknown_flags_and_looks_where_it_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let elsewhere = tempfile::tempdir().unwrap();
    let codegen = |args: &[&str]| {
        std::process::Command::new(env!("CARGO"))
            .args(["run", "-q", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .args(["-p", "specgate-codegen", "--bin", "codegen", "--"])
            .args(args)
            .current_dir(elsewhere.path())
            .output()
            .unwrap()
    };
    let typo = codegen(&["check", "--jsn"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("unexpected argument '--jsn'"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
    let help = codegen(&["diff", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--base", "--base-lock", "--format", "--allow-breaking"] {
        assert!(help.contains(flag), "{help}");
    }
    assert!(help.contains("The drift report"), "{help}");
    // Run where there are no specs, it says so instead of reading the build machine's tree.
    for command in ["check", "diff"] {
        let lost = codegen(&[command]);
        assert_eq!(lost.status.code(), Some(2), "{command}");
        let said = String::from_utf8_lossy(&lost.stderr);
        assert!(
            said.contains("no specs directory at specs"),
            "{command}: {said}"
        );
    }
}
