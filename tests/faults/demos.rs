//! One demonstration per fault kind, each on its scenario in
//! fixtures/scenarios/faults/, with figures measured from the history.
//! The pinger sends a datagram every 50ms from 0s to 10s; windows are
//! judged with a margin of a few datagrams around each fault's edges.

use super::{fault_events, load, median, run, Pings};

#[test]
fn loss_drops_about_half_the_round_trips_inside_the_window_only() {
    let report = run(&load("loss"), 1);
    let p = Pings::of(&report.history);
    let (before, inside, after) = (
        p.answered(0, 1900),
        p.answered(2100, 6900),
        p.answered(7200, 10_000),
    );
    eprintln!(
        "loss 0.3 each way: answered before {before:.2}, inside {inside:.2}, after {after:.2}"
    );
    assert_eq!(before, 1.0);
    assert_eq!(after, 1.0);
    // Expected 0.7 * 0.7 = 0.49 over ~96 round trips.
    assert!((0.35..=0.65).contains(&inside), "inside {inside}");
}

#[test]
fn duplicate_sends_about_one_and_a_half_answers_per_datagram() {
    let report = run(&load("duplicate"), 1);
    let p = Pings::of(&report.history);
    let per_datagram = |from: u64, to: u64| {
        let sent = p.sent_in(from, to);
        let answers = p
            .recv
            .iter()
            .filter(|(t, s)| sent.iter().any(|(st, ss)| ss == s && t >= st))
            .count();
        answers as f64 / sent.len() as f64
    };
    let (before, inside, after) = (
        per_datagram(0, 1900),
        per_datagram(2100, 6900),
        per_datagram(7200, 10_000),
    );
    eprintln!("duplicate 0.5: answers per datagram before {before:.2}, inside {inside:.2}, after {after:.2}");
    assert_eq!(before, 1.0);
    assert_eq!(after, 1.0);
    assert!((1.35..=1.65).contains(&inside), "inside {inside}");
}

/// Answers that arrive after an answer to a later datagram.
fn inversions(recv: &[(u64, u64)], from: u64, to: u64) -> usize {
    let mut max_seen = 0;
    let mut count = 0;
    for &(t, seq) in recv {
        if (from..to).contains(&t) {
            if seq < max_seen {
                count += 1;
            }
            max_seen = max_seen.max(seq);
        }
    }
    count
}

#[test]
fn jitter_spreads_and_reorders_answers_inside_the_window_only() {
    let report = run(&load("jitter"), 1);
    let p = Pings::of(&report.history);
    let inside = p.rtts(2100, 6900);
    let spread = inside.iter().max().expect("answers") - inside.iter().min().expect("answers");
    let (inv_before, inv_inside, inv_after) = (
        inversions(&p.recv, 0, 2000),
        inversions(&p.recv, 2000, 7300),
        inversions(&p.recv, 7300, 12_000),
    );
    eprintln!(
        "jitter 200ms: round-trip spread inside {spread}ms; reordered answers before {inv_before}, inside {inv_inside}, after {inv_after}"
    );
    assert!(spread >= 150, "spread {spread}");
    assert!(inv_inside >= 10, "{inv_inside} inversions");
    assert_eq!((inv_before, inv_after), (0, 0));
    assert_eq!(p.answered(0, 10_000), 1.0, "jitter loses nothing");
}

#[test]
fn latency_fixed_then_drawn_shows_in_round_trips() {
    let report = run(&load("latency"), 1);
    let p = Pings::of(&report.history);
    let base = median(p.rtts(0, 1900));
    let fixed = p.rtts(2100, 4700);
    let drawn = p.rtts(6100, 8700);
    let after = median(p.rtts(9300, 10_000));
    let (fixed_min, fixed_max) = (*fixed.iter().min().unwrap(), *fixed.iter().max().unwrap());
    let (drawn_min, drawn_max) = (*drawn.iter().min().unwrap(), *drawn.iter().max().unwrap());
    eprintln!(
        "latency: round trip base {base}ms; fixed 150ms: {fixed_min}..{fixed_max}ms; drawn 50..250ms: {drawn_min}..{drawn_max}ms (median {}); after {after}ms",
        median(drawn.clone())
    );
    assert!(base <= 4, "base {base}");
    assert!(after <= 4, "after {after}");
    assert!(
        fixed_min >= 300 && fixed_max <= 304,
        "fixed {fixed_min}..{fixed_max}"
    );
    assert!(
        drawn_min >= 100 && drawn_max <= 504,
        "drawn {drawn_min}..{drawn_max}"
    );
    assert!(
        drawn_max - drawn_min >= 50,
        "a distribution, not a constant"
    );
}

#[test]
fn partition_both_ways_cuts_everything_then_recovers() {
    let report = run(&load("partition"), 1);
    let p = Pings::of(&report.history);
    let echoed_inside = Pings::count_in(&p.echoed, 3050, 5950);
    let (inside, after) = (p.answered(3000, 5950), p.answered(6050, 10_000));
    eprintln!("partition both ways: echo received {echoed_inside} inside; answered inside {inside:.2}, after {after:.2}");
    assert_eq!(echoed_inside, 0);
    assert_eq!(inside, 0.0);
    assert_eq!(after, 1.0);
    assert_eq!(p.answered(0, 2950), 1.0);
}

#[test]
fn partition_one_way_lets_requests_through_but_not_answers() {
    let report = run(&load("partition-oneway"), 1);
    let p = Pings::of(&report.history);
    let sent_inside = p.sent_in(3000, 5950).len();
    let echoed_inside = Pings::count_in(&p.echoed, 3000, 5950);
    let (inside, after) = (p.answered(3000, 5950), p.answered(6050, 10_000));
    eprintln!(
        "partition echo->pinger: {sent_inside} sent inside, echo answered {echoed_inside}, pinger heard {inside:.2}; after {after:.2}"
    );
    assert_eq!(echoed_inside, sent_inside, "pinger -> echo still works");
    assert_eq!(inside, 0.0, "echo -> pinger is cut");
    assert_eq!(after, 1.0);
}

#[test]
fn hold_delays_everything_to_the_release_and_loses_nothing() {
    let report = run(&load("hold"), 1);
    let p = Pings::of(&report.history);
    let held = p.sent_in(3000, 4990);
    let answered_at: Vec<u64> = held
        .iter()
        .map(|(t, s)| t + p.rtt(*t, *s).expect("a held datagram is answered"))
        .collect();
    let (first, last) = (answered_at[0], *answered_at.last().unwrap());
    eprintln!(
        "hold 3s..5s: {} datagrams held, all answered between {first}ms and {last}ms; overall answered {:.2}",
        held.len(),
        p.answered(0, 10_000)
    );
    assert!(held.len() >= 39);
    assert!(first >= 5000 && last <= 5010, "{first}..{last}");
    assert_eq!(p.answered(0, 10_000), 1.0);
}

#[test]
fn crash_takes_the_echo_down_until_it_restarts() {
    let report = run(&load("crash"), 1);
    let p = Pings::of(&report.history);
    let echoed_inside = Pings::count_in(&p.echoed, 3000, 6000);
    let (inside, after) = (p.answered(3000, 5990), p.answered(6010, 10_000));
    eprintln!("crash echo 3s..6s: echo answered {echoed_inside} inside; answered inside {inside:.2}, after restart {after:.2}");
    assert_eq!(echoed_inside, 0);
    assert_eq!(inside, 0.0);
    assert_eq!(after, 1.0);
    assert_eq!(p.answered(0, 2990), 1.0);
}

#[test]
fn restart_loses_the_pingers_state_and_it_starts_over() {
    let report = run(&load("restart"), 1);
    let p = Pings::of(&report.history);
    let firsts: Vec<u64> = p
        .sent
        .iter()
        .filter(|(_, s)| *s == 1)
        .map(|(t, _)| *t)
        .collect();
    let before: u64 = p
        .sent
        .iter()
        .filter(|(t, _)| *t < 5000)
        .map(|(_, s)| *s)
        .max()
        .unwrap();
    let after: u64 = p
        .sent
        .iter()
        .filter(|(t, _)| *t >= 5000)
        .map(|(_, s)| *s)
        .max()
        .unwrap();
    eprintln!("restart pinger at 5s: datagram 1 sent at {firsts:?}; highest before {before}, after {after}");
    assert_eq!(firsts.len(), 2);
    assert!(firsts[1] >= 5000 && firsts[1] <= 5002, "{firsts:?}");
    assert_eq!(before, 100);
    assert!((59..=61).contains(&after), "{after}");
    assert_eq!(fault_events(&report.history, "fault.start").len(), 1);
    assert_eq!(fault_events(&report.history, "fault.end").len(), 1);
}

#[test]
fn set_changes_the_pingers_pace_from_its_time_on() {
    let report = run(&load("set"), 1);
    let p = Pings::of(&report.history);
    let (before, after) = (p.sent_in(1000, 5000).len(), p.sent_in(6000, 10_000).len());
    eprintln!(
        "set interval=200ms at 5s: sent 1s..5s {before} (per s {}), 6s..10s {after} (per s {})",
        before / 4,
        after / 4
    );
    assert_eq!(before, 80);
    assert_eq!(after, 20);
    assert_eq!(p.answered(0, 12_000), 1.0);
}

#[test]
fn gray_failure_receives_everything_and_answers_nothing() {
    let report = run(&load("gray"), 1);
    let p = Pings::of(&report.history);
    let sent = p.sent_in(3000, 5990).len();
    let refused = Pings::count_in(&p.refused, 3000, 6000);
    let (inside, after) = (p.answered(3000, 5990), p.answered(6010, 10_000));
    eprintln!("gray work 3s..6s: {sent} sent, echo received and refused {refused}; answered inside {inside:.2}, after {after:.2}");
    assert_eq!(
        refused, sent,
        "the echo is up and reached: the network is fine"
    );
    assert_eq!(inside, 0.0);
    assert_eq!(after, 1.0);
}

#[test]
fn saturation_builds_a_queue_that_drains_after() {
    let report = run(&load("saturate"), 1);
    let p = Pings::of(&report.history);
    let base = median(p.rtts(0, 2900));
    let inside = p.rtts(3000, 6000);
    let peak = *inside.iter().max().unwrap();
    let late = median(p.rtts(9000, 10_000));
    eprintln!(
        "saturate x4 (20ms -> 80ms service, a datagram per 50ms): round trip base {base}ms, peak {peak}ms, after draining {late}ms"
    );
    assert!((20..=25).contains(&base), "base {base}");
    assert!(peak >= 1000, "a queue builds: peak {peak}");
    assert!(
        inside.windows(2).filter(|w| w[1] > w[0]).count() >= inside.len() / 2,
        "rising"
    );
    assert!(late <= 25, "drained: {late}");
    assert_eq!(p.answered(0, 10_000), 1.0, "slow, not lost");
}

#[test]
fn rate_limit_answers_about_a_quarter_inside_the_window() {
    let report = run(&load("rate-limit"), 1);
    let p = Pings::of(&report.history);
    let inside = p.answered(3000, 6000);
    let refused = Pings::count_in(&p.refused, 3000, 6010);
    eprintln!("rate_limit 5/s against 20/s: answered inside {inside:.2}, refused {refused}; before {:.2}, after {:.2}", p.answered(0, 2990), p.answered(6050, 10_000));
    assert!((0.2..=0.3).contains(&inside), "inside {inside}");
    assert!(refused >= 40);
    assert_eq!(p.answered(0, 2990), 1.0);
    assert_eq!(p.answered(6050, 10_000), 1.0);
}

#[test]
fn operator_deletes_recreates_and_restarts_by_hand() {
    let report = run(&load("operator"), 1);
    let p = Pings::of(&report.history);
    let refused = Pings::count_in(&p.refused, 3000, 6000);
    let sent = p.sent_in(3000, 5990).len();
    let restarted: Vec<u64> = p
        .sent
        .iter()
        .filter(|(_, s)| *s == 1)
        .map(|(t, _)| *t)
        .collect();
    eprintln!("operator: deleted echo refused {refused} of {sent} (3s..6s), recreated after ({:.2} answered 6s..8s); pinger restarted by hand, datagram 1 at {restarted:?}", p.answered(6010, 7990));
    assert_eq!(refused, sent);
    assert_eq!(p.answered(3000, 5990), 0.0);
    assert_eq!(p.answered(6010, 7990), 1.0);
    assert_eq!(restarted.len(), 2);
    assert!(restarted[1] >= 8000 && restarted[1] <= 8002);
    // Instant actions: fault.start and fault.end at the same tick.
    let starts = fault_events(&report.history, "fault.start");
    let ends = fault_events(&report.history, "fault.end");
    assert_eq!(starts.len(), 3);
    assert_eq!(starts, ends);
}

#[test]
fn process_partitions_come_and_go_where_the_plan_says() {
    let report = run(&load("process"), 1);
    let p = Pings::of(&report.history);
    // Occurrences as the history saw them: (start, end) per fault index.
    let starts = fault_events(&report.history, "fault.start");
    let ends = fault_events(&report.history, "fault.end");
    let windows: Vec<(u64, u64)> = starts
        .iter()
        .filter(|s| s.2 == "partition")
        .map(|s| {
            let end = ends
                .iter()
                .find(|e| e.1 == s.1)
                .expect("every occurrence ends");
            (s.0, end.0)
        })
        .collect();
    // The process window itself is fault 0, from 1s to 9s.
    assert_eq!(
        starts[0],
        (1000, 0, "process".into(), "pinger<->echo".into())
    );
    assert!(ends.iter().any(|e| e.1 == 0 && e.0 == 9000));
    // The report lists the same occurrences, as planned.
    let planned: Vec<&String> = report
        .faults
        .iter()
        .filter(|l| l.contains("(process [0]"))
        .collect();
    assert_eq!(planned.len(), windows.len());
    let lost: Vec<u64> = p
        .sent
        .iter()
        .filter(|(t, s)| p.rtt(*t, *s).is_none())
        .map(|(t, _)| *t)
        .collect();
    eprintln!(
        "process partition 12/min, 300ms..1s: {} occurrences {windows:?}; {} datagrams lost, overall answered {:.2}",
        windows.len(),
        lost.len(),
        p.answered(0, 10_000)
    );
    assert!(!windows.is_empty());
    assert!(!lost.is_empty());
    for t in &lost {
        assert!(
            windows.iter().any(|(a, b)| *t + 3 >= *a && *t <= *b),
            "datagram sent at {t} lost outside every occurrence"
        );
    }
    for (a, b) in &windows {
        assert!(*a >= 1000 && *b <= 9000 && b > a);
        assert!((300..=1000).contains(&(b - a)) || *b == 9000, "{a}..{b}");
    }
}

#[test]
fn buggify_site_fires_at_its_rate_until_the_heal_time() {
    let report = run(&load("buggify"), 1);
    let p = Pings::of(&report.history);
    let points: Vec<u64> = report
        .history
        .of_kind("fault.point")
        .map(|r| r.t_ms)
        .collect();
    let reached = Pings::count_in(&p.refused, 0, 8000) + Pings::count_in(&p.echoed, 0, 8000);
    let fired = Pings::count_in(&p.refused, 0, 8000);
    let share = fired as f64 / reached as f64;
    eprintln!(
        "buggify harness.echo_drop, fire 0.3: fired {fired} of {reached} ({share:.2}) before heal, {} after",
        Pings::count_in(&p.refused, 8000, 12_000)
    );
    assert!((0.2..=0.4).contains(&share), "{share}");
    assert_eq!(points.len(), fired, "every firing is in the history");
    assert!(points.iter().all(|t| *t < 8000), "off after the heal time");
    assert!(report
        .faults
        .iter()
        .any(|l| l == "buggify harness.echo_drop fire_probability=0.3"));
}

#[test]
fn heal_lifts_every_fault_and_the_platform_recovers() {
    let report = run(&load("heal"), 1);
    let p = Pings::of(&report.history);
    let ends = fault_events(&report.history, "fault.end");
    // Faults 0..=4 of the plan have no `until`: all end at the heal time.
    for index in 0..=4u64 {
        assert!(
            ends.iter().any(|e| e.1 == index && e.0 == 6000),
            "fault {index} ends at heal: {ends:?}"
        );
    }
    // Every process occurrence ended by then too.
    assert!(ends.iter().all(|e| e.0 <= 6000));
    let starts = fault_events(&report.history, "fault.start");
    assert_eq!(starts.len(), ends.len(), "every fault that started ended");
    let after = p.answered(6100, 12_000);
    let pace = p.sent_in(7000, 8000).len();
    let points_after = report
        .history
        .of_kind("fault.point")
        .filter(|r| r.t_ms >= 6000)
        .count();
    eprintln!(
        "heal at 6s: answered before {:.2}, after {after:.2}; pace after {pace}/s; fault points after {points_after}",
        p.answered(1000, 6000)
    );
    assert_eq!(after, 1.0, "every fault is lifted");
    assert_eq!(pace, 20, "the config override is undone");
    assert_eq!(points_after, 0);
    assert!(p.answered(1000, 6000) < 0.5);
}

#[test]
fn deploy_without_a_step_deletes_the_lbs_until_the_operator_reverts() {
    let report = run(&load("deploy"), 3);
    let applies: Vec<(u64, String, String)> = report
        .history
        .of_kind("deploy.apply")
        .map(|r| {
            (
                r.t_ms,
                r.str("created").unwrap_or_default().to_string(),
                r.str("deleted").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let starts = fault_events(&report.history, "fault.start");
    eprintln!("deploy (ci, staging, without jsonnet) at 1s, revert at 3s: {applies:?}");
    assert_eq!(applies.len(), 2, "{applies:?}");
    assert!((1000..1100).contains(&applies[0].0));
    assert_eq!(applies[0].2, "production/lb-1,production/lb-2");
    assert!((3000..3100).contains(&applies[1].0));
    assert_eq!(applies[1].1, "production/lb-1,production/lb-2");
    let down_ms = applies[1].0 - applies[0].0;
    eprintln!("production LBs deleted for {down_ms} ms");
    assert_eq!(
        starts
            .iter()
            .map(|s| (s.0, s.2.as_str(), s.3.as_str()))
            .collect::<Vec<_>>(),
        vec![(1000, "deploy", "deployer"), (3000, "operator", "deployer")]
    );
    // A CI deploy aimed at staging changed production: deploy_safety fires.
    assert!(report
        .violations
        .iter()
        .any(|v| v.oracle == "deploy_safety"));
}
