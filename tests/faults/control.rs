//! What the fault plan writes into control handles, step by step: the
//! scheduled actions are applied by hand to a turmoil sim, and the control
//! handles are read between them. This covers the node-side faults whose
//! effects need platform nodes (gray media, capacity cuts, rate-limit
//! codes, deploy and revert commands) and how overlapping faults compose.

use callsim::faults::{schedule, FaultKind, FaultSpec, ModeSpec, OperatorAction, Trigger};
use callsim::scenario::{Dur, HostSpec, Scenario, Topology};
use callsim::sim::control::{GrayMode, NodeFaults, RateLimit};
use callsim::sim::{Control, ScheduledAction, World};
use std::collections::BTreeMap;
use std::path::Path;

/// pinger + echo, plus a `deployer` host (an echo underneath: only its
/// command log is read here).
fn setup() -> (Scenario, Topology) {
    let scenario = Scenario::from_toml(
        "[run]\nduration = \"10s\"\n[nodes.pinger]\n[nodes.echo]\n[oracles]\ndatagrams_answered = { ratio_min = 0.0 }\n",
        Path::new("control.toml"),
    )
    .expect("valid");
    let host = |name: &str, kind, section| HostSpec {
        name: name.into(),
        kind,
        pod: 0,
        section,
    };
    let topology = Topology {
        hosts: vec![
            host("pinger", "pinger", "pinger"),
            host("echo", "echo", "echo"),
            host("deployer", "echo", "echo"),
        ],
    };
    (scenario, topology)
}

fn fault(kind: FaultKind, at_s: u64, until_s: Option<u64>) -> FaultSpec {
    FaultSpec {
        until: until_s.map(Dur::from_secs),
        ..FaultSpec::new(kind, Dur::from_secs(at_s))
    }
}

fn on(node: &str, spec: FaultSpec) -> FaultSpec {
    FaultSpec {
        node: Some(node.into()),
        ..spec
    }
}

/// Applies the plan's actions in time order and calls `check(t, controls)`
/// after the actions of each distinct time.
fn drive(
    scenario: &Scenario,
    topology: &Topology,
    mut check: impl FnMut(u64, &BTreeMap<String, Control>, &turmoil::Sim<'_>),
) {
    let mut sim = turmoil::Builder::new().build();
    let sections: BTreeMap<&'static str, toml::Value> = scenario.nodes.section_values();
    let mut controls = BTreeMap::new();
    for h in &topology.hosts {
        sim.host(h.name.as_str(), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
        let config = scenario.nodes.section_value(h.section).expect("section");
        controls.insert(h.name.clone(), Control::new(config));
    }
    let mut actions: Vec<ScheduledAction> = schedule(&scenario.plan_inputs(), 1, topology);
    actions.sort_by_key(|a| a.at_ms);
    let mut actions = actions.into_iter().peekable();
    while let Some(first) = actions.next() {
        let t = first.at_ms;
        let mut batch = vec![first];
        while let Some(a) = actions.next_if(|a| a.at_ms == t) {
            batch.push(a);
        }
        for action in batch {
            let mut world = World {
                sim: &mut sim,
                controls: &controls,
                topology,
                run: &scenario.run,
                sections: &sections,
            };
            (action.apply)(&mut world).expect("the action applies");
        }
        check(t, &controls, &sim);
    }
}

#[test]
fn node_faults_compose_while_they_overlap() {
    let (mut scenario, topology) = setup();
    scenario.faults = vec![
        on(
            "echo",
            FaultSpec {
                mode: Some(ModeSpec::Media),
                ..fault(FaultKind::Gray, 1, Some(5))
            },
        ),
        on(
            "echo",
            FaultSpec {
                mode: Some(ModeSpec::Work),
                ..fault(FaultKind::Gray, 2, Some(3))
            },
        ),
        on(
            "echo",
            FaultSpec {
                service_time_factor: Some(2.0),
                ..fault(FaultKind::Saturate, 1, Some(4))
            },
        ),
        on(
            "echo",
            FaultSpec {
                service_time_factor: Some(3.0),
                capacity_factor: Some(0.5),
                ..fault(FaultKind::Saturate, 2, Some(6))
            },
        ),
        on(
            "echo",
            FaultSpec {
                per_s: Some(10),
                ..fault(FaultKind::RateLimit, 1, Some(3))
            },
        ),
        on(
            "echo",
            FaultSpec {
                per_s: Some(5),
                code: Some(503),
                ..fault(FaultKind::RateLimit, 2, Some(4))
            },
        ),
    ];
    let nf = |gray, stf, cap, rate: Option<(u32, u16)>| NodeFaults {
        gray,
        dns: Vec::new(),
        service_time_factor: stf,
        capacity_factor: cap,
        rate_limit: rate.map(|(per_s, code)| RateLimit { per_s, code }),
        disabled: false,
    };
    let mut seen = Vec::new();
    drive(&scenario, &topology, |t, controls, _| {
        let f = controls["echo"].faults();
        let expected = match t {
            1000 => nf(Some(GrayMode::Media), 2.0, 1.0, Some((10, 429))),
            2000 => nf(Some(GrayMode::Work), 6.0, 0.5, Some((5, 503))),
            3000 => nf(Some(GrayMode::Media), 6.0, 0.5, Some((5, 503))),
            4000 => nf(Some(GrayMode::Media), 3.0, 0.5, None),
            5000 => nf(None, 3.0, 0.5, None),
            6000 => NodeFaults::default(),
            other => panic!("no action at {other}"),
        };
        assert_eq!(f, expected, "t={t}");
        assert_eq!(
            controls["pinger"].faults(),
            NodeFaults::default(),
            "only the target"
        );
        seen.push(t);
    });
    assert_eq!(seen, vec![1000, 2000, 3000, 4000, 5000, 6000]);
}

#[test]
fn config_overrides_apply_in_start_order_and_restore() {
    let (mut scenario, topology) = setup();
    let set = |value: &str, at, until| {
        on(
            "pinger",
            FaultSpec {
                field: Some("interval".into()),
                value: Some(toml::Value::String(value.into())),
                ..fault(FaultKind::Set, at, Some(until))
            },
        )
    };
    scenario.faults = vec![set("1s", 1, 5), set("2s", 2, 3)];
    let original = scenario.nodes.section_value("pinger").expect("pinger");
    drive(&scenario, &topology, |t, controls, _| {
        let interval = controls["pinger"].config()["interval"]
            .as_str()
            .map(str::to_string);
        let expected = match t {
            1000 | 3000 => Some("1s".to_string()),
            2000 => Some("2s".to_string()),
            _ => original["interval"].as_str().map(str::to_string),
        };
        assert_eq!(interval, expected, "t={t}");
    });
}

#[test]
fn packet_rules_compose_per_direction() {
    let (mut scenario, topology) = setup();
    scenario.faults = vec![
        FaultSpec {
            from: Some("pinger".into()),
            to: Some("echo".into()),
            probability: Some(0.5),
            ..fault(FaultKind::Loss, 1, Some(4))
        },
        FaultSpec {
            between: Some(["pinger".into(), "echo".into()]),
            probability: Some(0.5),
            ..fault(FaultKind::Loss, 2, Some(3))
        },
        FaultSpec {
            from: Some("echo".into()),
            to: Some("pinger".into()),
            jitter: Some(Dur::from_millis(30)),
            ..fault(FaultKind::Jitter, 2, Some(3))
        },
    ];
    drive(&scenario, &topology, |t, controls, sim| {
        let rule = |src: &str, dst: &str| controls[src].handle().packet_rule(sim.lookup(dst));
        let (out, back) = (rule("pinger", "echo"), rule("echo", "pinger"));
        match t {
            1000 => assert_eq!((out.loss, back.loss), (0.5, 0.0)),
            2000 => {
                assert_eq!((out.loss, back.loss), (0.75, 0.5));
                assert_eq!((out.jitter_ms, back.jitter_ms), (0, 30));
            }
            3000 => assert_eq!((out.loss, back.loss, back.jitter_ms), (0.5, 0.0, 0)),
            4000 => assert!(out.is_clear() && back.is_clear()),
            other => panic!("no action at {other}"),
        }
    });
}

#[test]
fn deploy_and_revert_reach_the_deployers_command_log() {
    let (mut scenario, topology) = setup();
    let mut change = toml::Table::new();
    change.insert(
        "jsonnet".into(),
        toml::Value::Array(vec!["production/lb-1".into()]),
    );
    scenario.faults = vec![
        FaultSpec {
            steps: Some(vec!["helm".into(), "kustomize".into()]),
            change: Some(change),
            target_env: Some("staging".into()),
            trigger: Some(Trigger::Ci),
            reviewed: Some(false),
            ..fault(FaultKind::Deploy, 1, None)
        },
        FaultSpec {
            action: Some(OperatorAction::Revert),
            reviewed: Some(true),
            ..fault(FaultKind::Operator, 2, None)
        },
    ];
    let mut log = Vec::new();
    drive(&scenario, &topology, |_, controls, _| {
        log = controls["deployer"].handle().commands().borrow().clone();
        assert!(controls["echo"].handle().commands().borrow().is_empty());
    });
    let texts: Vec<(u64, String)> = log
        .iter()
        .map(|c| (c.seq, toml::to_string(&c.command).expect("toml")))
        .collect();
    insta::assert_snapshot!(format!("{texts:#?}"));
    assert_eq!(texts.len(), 2);
}

#[test]
fn operator_delete_lasts_until_recreate_or_heal_and_fault_points_switch_off() {
    let (mut scenario, topology) = setup();
    scenario.fault_settings.heal = Some(Dur::from_secs(5));
    scenario.fault_settings.buggify = Some(callsim::faults::BuggifyConfig {
        enabled: true,
        activate_probability: 1.0,
        fire_probability: 0.5,
        sites: Some(vec!["harness.echo_drop".into()]),
    });
    let op = |action, node: &str, at| {
        on(
            node,
            FaultSpec {
                action: Some(action),
                ..fault(FaultKind::Operator, at, None)
            },
        )
    };
    scenario.faults = vec![
        op(OperatorAction::Delete, "echo", 1),
        op(OperatorAction::Recreate, "echo", 2),
        op(OperatorAction::Delete, "pinger", 3),
    ];
    let site = callsim::sim::buggify::HARNESS_ECHO_DROP;
    drive(&scenario, &topology, |t, controls, _| {
        let disabled = |h: &str| controls[h].faults().disabled;
        let point = controls["echo"].handle().fault_point(site);
        match t {
            0 => assert!(point.is_some_and(|p| p.fire_probability == 0.5)),
            1000 => assert!(disabled("echo") && !disabled("pinger")),
            2000 => assert!(!disabled("echo")),
            3000 => assert!(disabled("pinger") && point.is_some()),
            5000 => assert!(!disabled("pinger") && point.is_none(), "healed"),
            other => panic!("no action at {other}"),
        }
    });
}
