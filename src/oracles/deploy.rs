//! `deploy_safety`: a deploy targeted at a non-production environment, or
//! triggered by CI, never changes production; and no deploy deletes more
//! than `deletions_max_unreviewed` resources without review. Judged from
//! `deploy.apply` events (an aborted deploy, with a non-empty `aborted`,
//! changed nothing and is not judged). Resource names are `<env>/<name>`.

use super::{OracleKind, Violation};
use crate::history::{History, Record};
use serde::Deserialize;

pub const NAME: &str = "deploy_safety";

/// `deploy_safety = { production_env = "production", deletions_max_unreviewed = 1 }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The environment name that is production. Default `production`.
    #[serde(default = "default_production")]
    pub production_env: String,
    /// Most resources one unreviewed deploy may delete. Default 1.
    #[serde(default = "default_deletions_max")]
    pub deletions_max_unreviewed: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            production_env: default_production(),
            deletions_max_unreviewed: default_deletions_max(),
        }
    }
}

fn default_production() -> String {
    "production".into()
}
fn default_deletions_max() -> u64 {
    1
}

fn names<'r>(r: &'r Record, field: &str) -> Vec<&'r str> {
    r.str(field)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

pub fn check(history: &History, params: &Params) -> Vec<Violation> {
    let prod = params.production_env.as_str();
    let mut out = Vec::new();
    for r in history.of_kind("deploy.apply") {
        if !r.str("aborted").unwrap_or("").is_empty() {
            continue;
        }
        let target = r.str("target_env").unwrap_or("?");
        let trigger = r.str("trigger").unwrap_or("?");
        let reviewed = r.bool("reviewed").unwrap_or(false);
        let created = names(r, "created");
        let deleted = names(r, "deleted");
        if target != prod || trigger == "ci" {
            let touched: Vec<&str> = created
                .iter()
                .chain(&deleted)
                .copied()
                .filter(|n| n.split('/').next() == Some(prod))
                .collect();
            if !touched.is_empty() {
                out.push(Violation::new(
                    NAME,
                    OracleKind::Safety,
                    r.t_ms,
                    None,
                    format!(
                        "a {trigger} deploy targeted at {target} changed {prod}: {}",
                        touched.join(", ")
                    ),
                ));
            }
        }
        if !reviewed && deleted.len() as u64 > params.deletions_max_unreviewed {
            out.push(Violation::new(
                NAME,
                OracleKind::Safety,
                r.t_ms,
                None,
                format!(
                    "an unreviewed {trigger} deploy to {target} deleted {} resources ({}), more than {} allowed without review",
                    deleted.len(),
                    deleted.join(", "),
                    params.deletions_max_unreviewed
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use crate::oracles::testkit::Script;

    fn deploy(
        target_env: &'static str,
        trigger: &'static str,
        reviewed: bool,
        created: &'static str,
        deleted: &'static str,
        aborted: &'static str,
    ) -> Vec<Violation> {
        let mut s = Script::new();
        s.at(
            60_000,
            "deployer",
            Event::DeployApply {
                target_env,
                trigger,
                reviewed,
                created,
                deleted,
                aborted,
            },
        );
        check(&s.history(), &Params::default())
    }

    #[test]
    fn ordinary_deploys_are_quiet() {
        assert_eq!(
            deploy(
                "production",
                "manual",
                false,
                "production/lb-3",
                "production/lb-1",
                ""
            ),
            vec![]
        );
        assert_eq!(
            deploy("staging", "ci", false, "staging/lb-1", "staging/lb-2", ""),
            vec![]
        );
        assert_eq!(
            deploy(
                "production",
                "manual",
                true,
                "",
                "production/lb-1,production/lb-2",
                ""
            ),
            vec![]
        );
    }

    #[test]
    fn staging_or_ci_deploy_touching_production_fires() {
        let v = deploy("staging", "manual", true, "", "production/lb-1", "");
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0]
            .message
            .contains("targeted at staging changed production"));
        assert_eq!(
            deploy("production", "ci", true, "production/lb-1", "", "").len(),
            1
        );
    }

    #[test]
    fn large_unreviewed_deletion_fires() {
        let v = deploy(
            "production",
            "manual",
            false,
            "",
            "production/lb-1, production/lb-2",
            "",
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("deleted 2 resources"));
    }

    #[test]
    fn aborted_deploys_changed_nothing() {
        assert_eq!(
            deploy(
                "production",
                "ci",
                false,
                "",
                "production/lb-1,production/lb-2",
                "missing dependency"
            ),
            vec![]
        );
    }
}
