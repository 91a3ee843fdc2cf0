//! The deployer against live LB resources: scheduled deploys render,
//! diff and apply over the admin ports; a missing template step prunes the
//! LBs; a revert brings them back; the guards stop the bad deploy.

use callsim::history::{History, Record};
use callsim::scenario::Scenario;

fn run(text: &str) -> History {
    crate::support::history_of(text, "deployer-test.toml")
}

/// (t_ms, created, deleted, aborted) of every `deploy.apply`.
fn applies(history: &History) -> Vec<(u64, String, String, String)> {
    history
        .of_kind("deploy.apply")
        .map(|r: &Record| {
            (
                r.t_ms,
                r.str("created").unwrap_or_default().to_string(),
                r.str("deleted").unwrap_or_default().to_string(),
                r.str("aborted").unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const BASE: &str = r#"
[run]
seed = 3
duration = "8s"
[nodes.echo]
[nodes.lb]
pods = 3
backends = ["echo"]
health = { enabled = false }
start_deleted = ["lb-3"]
[nodes.deployer]
templates = { helm = [], kustomize = [], jsonnet = ["production/lb-1", "production/lb-2"] }
"#;

#[test]
fn a_deploy_adds_and_a_later_one_removes_an_lb() {
    let text = format!(
        "{BASE}deploys = [
  {{ at = \"1s\", change = {{ jsonnet = [\"production/lb-1\", \"production/lb-2\", \"production/lb-3\"] }}, reviewed = true }},
  {{ at = \"2s\", change = {{ jsonnet = [\"production/lb-1\", \"production/lb-2\"] }}, reviewed = true }},
]"
    );
    let h = run(&text);
    let a = applies(&h);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!((a[0].1.as_str(), a[0].2.as_str()), ("production/lb-3", ""));
    assert_eq!((a[1].1.as_str(), a[1].2.as_str()), ("", "production/lb-3"));
    assert!(a.iter().all(|x| x.3.is_empty()));
    assert!(a[0].0 >= 1000 && a[0].0 < 1100, "applied at {}", a[0].0);
}

/// The LiveKit sequence: a CI deploy aimed at staging runs without the
/// jsonnet step; the prune deletes both production LBs; the revert
/// re-creates them.
const BUGGY_DEPLOYS: &str = r#"deploys = [
  { at = "1s", steps = ["helm", "kustomize"], target_env = "staging", trigger = "ci" },
  { at = "3s", action = "revert", reviewed = true },
]"#;

#[test]
fn a_missing_step_deletes_the_lbs_until_the_revert() {
    let h = run(&format!("{BASE}{BUGGY_DEPLOYS}"));
    let a = applies(&h);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0].1, "");
    assert_eq!(a[0].2, "production/lb-1,production/lb-2");
    assert_eq!(a[0].3, "");
    assert_eq!(a[1].1, "production/lb-1,production/lb-2");
    assert_eq!(a[1].2, "");
    let first = h.of_kind("deploy.apply").next().expect("one deploy");
    assert_eq!(first.str("target_env"), Some("staging"));
    assert_eq!(first.str("trigger"), Some("ci"));
    assert_eq!(first.bool("reviewed"), Some(false));
}

#[test]
fn each_guard_aborts_the_buggy_deploy() {
    for guard in [
        "abort_on_missing_dependency = true",
        "ci_non_production = true",
        "production_requires_review = true",
        "deletion_review_max = 1",
    ] {
        let h = run(&format!("{BASE}guards = {{ {guard} }}\n{BUGGY_DEPLOYS}"));
        let a = applies(&h);
        assert_eq!(a.len(), 2, "{guard}: {a:?}");
        assert_eq!((a[0].1.as_str(), a[0].2.as_str()), ("", ""), "{guard}");
        assert!(!a[0].3.is_empty(), "{guard}: not aborted");
        // Nothing to revert to: the revert is a no-op.
        assert_eq!((a[1].1.as_str(), a[1].2.as_str()), ("", ""), "{guard}");
    }
}

#[test]
fn bad_deployer_config_names_the_field() {
    let cases = [
        ("admin_timeout = \"0s\"", "nodes.deployer.admin_timeout"),
        ("revisions_max = 0", "nodes.deployer.revisions_max"),
        (
            "deploys = [{ steps = [\"helm\"] }]",
            "nodes.deployer.deploys[0].at",
        ),
        (
            "deploys = [{ at = \"1s\", steps = [\"nope\"] }]",
            "nodes.deployer.deploys[0].steps[0]",
        ),
        (
            "deploys = [{ at = \"1s\", change = { jsonnet = [\"production/lb-9\"] } }]",
            "nodes.deployer.deploys[0].change.jsonnet",
        ),
        (
            "deploys = [{ at = \"1s\", change = { jsonnet = [\"production/echo\"] } }]",
            "nodes.deployer.deploys[0].change.jsonnet",
        ),
        (
            "environments = { staging = [\"lb-1\"] }",
            "nodes.deployer.templates.jsonnet",
        ),
        (
            "deploys = [{ at = \"1s\", action = \"revert\", steps = [] }]",
            "nodes.deployer.deploys[0].steps",
        ),
    ];
    for (line, field) in cases {
        let text = format!("{BASE}{line}\n");
        let err = Scenario::from_toml(&text, "bad.toml".as_ref()).expect_err(line);
        assert_eq!(err.field, field, "{line}: {err}");
        assert!(err.line > 0, "{line}: no line in {err}");
    }
}
