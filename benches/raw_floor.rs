//! The raw-turmoil floor: the same number of hosts, ticks and UDP messages
//! as a callsim run, with none of callsim's layers (no recorder, no SIP, no
//! nodes): what the simulation would cost if callsim added nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Runs `hosts` turmoil hosts for `sim` at `tick`; two of them exchange
/// `messages` UDP datagrams (ping-pong pairs spread evenly over the run),
/// and at the start one datagram crosses each of `links - 1` more host
/// pairs, so that turmoil holds as many links as the callsim run did (it
/// visits every link for every host on every tick). The rest of the time the
/// other hosts idle on a receive, like callsim's idle nodes. Returns the wall
/// time.
pub fn raw_floor(
    hosts: usize,
    links: usize,
    tick: Duration,
    sim: Duration,
    messages: u64,
) -> Duration {
    assert!(hosts >= 2, "the floor needs a sender and an echo");
    let mut s = turmoil::Builder::new()
        .rng_seed(1)
        .tick_duration(tick)
        .simulation_duration(sim + tick * 16)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .build();
    let name = |i: usize| match i {
        0 => "sender".to_string(),
        1 => "echo".to_string(),
        _ => format!("idle-{i}"),
    };
    // The extra links, as (from, to) host indexes: every pair but the
    // sender-echo one, in order; the sender only ever sends on them.
    let extra: Vec<(usize, usize)> = (0..hosts)
        .flat_map(|a| (a + 1..hosts).map(move |b| (a, b)))
        .filter(|&pair| pair != (0, 1))
        .take(links.saturating_sub(1))
        .collect();
    let mesh_from = move |i: usize| -> Vec<String> {
        extra
            .iter()
            .filter(|(a, _)| *a == i)
            .map(|(_, b)| name(*b))
            .collect()
    };
    let bind = || turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9));
    let targets = mesh_from(1);
    s.host("echo", move || {
        let targets = targets.clone();
        async move {
            let socket = bind().await?;
            for t in &targets {
                socket.send_to(&[1u8], (t.as_str(), 9)).await?;
            }
            let mut buf = [0u8; 1500];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await?;
                socket.send_to(&buf[..n], from).await?;
            }
        }
    });
    for i in 2..hosts {
        let targets = mesh_from(i);
        s.host(name(i), move || {
            let targets = targets.clone();
            async move {
                let socket = bind().await?;
                for t in &targets {
                    socket.send_to(&[1u8], (t.as_str(), 9)).await?;
                }
                let mut buf = [0u8; 1500];
                loop {
                    socket.recv_from(&mut buf).await?;
                }
            }
        });
    }
    let pings = (messages / 2).max(1);
    let gap = sim.as_nanos() as u64 / pings;
    let targets = mesh_from(0);
    s.host("sender", move || {
        let targets = targets.clone();
        async move {
            let socket = bind().await?;
            for t in &targets {
                socket.send_to(&[1u8], (t.as_str(), 9)).await?;
            }
            let payload = [7u8; 400];
            let mut buf = [0u8; 1500];
            for _ in 0..pings {
                socket.send_to(&payload, ("echo", 9)).await?;
                let _ = socket.recv_from(&mut buf).await?;
                tokio::time::sleep(Duration::from_nanos(gap)).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let wall_start = Instant::now();
    while s.elapsed() < sim {
        s.step().expect("the raw floor runs");
    }
    let mut made = 0;
    s.links(|iter| made = iter.count());
    assert_eq!(
        made,
        links.max(1).min(hosts * (hosts - 1) / 2),
        "the floor's links"
    );
    wall_start.elapsed()
}
