//! The raw-turmoil floor: the same number of hosts, ticks and messages as a
//! callsim run, with none of callsim's layers (no recorder, no SIP, no
//! nodes): what the simulation would cost if callsim added nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time left at the end of the run for the last echoes to arrive (plus
/// two ticks: a ping sent in one step is echoed in the next).
const DRAIN: Duration = Duration::from_millis(100);

/// Runs `hosts` turmoil hosts for `sim` at `tick`. One of them sends
/// `messages / 2` UDP pings to another, paced evenly over the run without
/// waiting for answers, and the other echoes each: `2 * (messages / 2)`
/// datagrams on the links, checked at the end. The rest idle like
/// callsim's idle nodes. Returns the wall time of the step loop.
pub fn raw_floor(hosts: usize, tick: Duration, sim: Duration, messages: u64) -> Duration {
    assert!(hosts >= 2, "the floor needs a sender and an echo");
    assert!(!tick.is_zero(), "the floor needs a tick");
    let pings = messages / 2;
    let drain = DRAIN + tick * 2;
    assert!(
        pings == 0 || sim > drain + tick,
        "a floor of {sim:?} leaves no time to send before the last echoes"
    );
    let window = sim.saturating_sub(drain).max(tick);
    let gap = Duration::from_nanos((window.as_nanos() as u64 / pings.max(1)).max(1));
    // Every ping goes to one socket, which turmoil fills once per tick:
    // room for a tick's pings, so none is dropped for a full buffer
    // (turmoil's default is 64; callsim spreads the same traffic over many
    // sockets).
    let per_tick = (tick.as_nanos() / u128::from(gap.as_nanos() as u64)) as usize + 1;
    let mut s = turmoil::Builder::new()
        .rng_seed(1)
        .tick_duration(tick)
        .simulation_duration(sim + tick * 16)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .udp_capacity((2 * per_tick).max(64))
        .build();
    let echoed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let echo_count = echoed.clone();
    s.host("echo", move || {
        let echoed = echo_count.clone();
        async move {
            let socket =
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9)).await?;
            let mut buf = [0u8; 1500];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await?;
                socket.send_to(&buf[..n], from).await?;
                echoed.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    for i in 2..hosts {
        s.host(format!("idle-{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let sent_count = sent.clone();
    s.host("sender", move || {
        let sent = sent_count.clone();
        async move {
            let socket = Arc::new(
                turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9)).await?,
            );
            let drain = socket.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1500];
                while drain.recv_from(&mut buf).await.is_ok() {}
            });
            let payload = [7u8; 400];
            let start = tokio::time::Instant::now();
            for i in 0..pings {
                tokio::time::sleep_until(start + gap * i as u32).await;
                socket.send_to(&payload, ("echo", 9)).await?;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let wall_start = Instant::now();
    while s.elapsed() < sim {
        s.step().expect("the raw floor runs");
    }
    let wall = wall_start.elapsed();
    let moved = sent.load(Ordering::Relaxed) + echoed.load(Ordering::Relaxed);
    assert_eq!(
        moved,
        2 * pings,
        "the floor must move the messages it was sized for"
    );
    wall
}
