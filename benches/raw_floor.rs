//! The raw-turmoil floor: the same number of hosts, ticks and UDP messages
//! as a callsim run, with none of callsim's layers (no recorder, no SIP, no
//! nodes): what the simulation would cost if callsim added nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Runs `hosts` turmoil hosts for `sim` at `tick`; two of them exchange
/// `messages` UDP datagrams (ping-pong pairs spread evenly over the run),
/// the rest idle like callsim's idle nodes. Returns the wall time.
pub fn raw_floor(hosts: usize, tick: Duration, sim: Duration, messages: u64) -> Duration {
    assert!(hosts >= 2, "the floor needs a sender and an echo");
    let mut s = turmoil::Builder::new()
        .rng_seed(1)
        .tick_duration(tick)
        .simulation_duration(sim + tick * 16)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .build();
    s.host("echo", || async {
        let socket = turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9)).await?;
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            socket.send_to(&buf[..n], from).await?;
        }
    });
    for i in 2..hosts {
        s.host(format!("idle-{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let pings = (messages / 2).max(1);
    let gap = sim.as_nanos() as u64 / pings;
    s.host("sender", move || async move {
        let socket = turmoil::net::UdpSocket::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9)).await?;
        let payload = [7u8; 400];
        let mut buf = [0u8; 1500];
        for _ in 0..pings {
            socket.send_to(&payload, ("echo", 9)).await?;
            let _ = socket.recv_from(&mut buf).await?;
            tokio::time::sleep(Duration::from_nanos(gap)).await;
        }
        std::future::pending::<()>().await;
        Ok(())
    });
    let wall_start = Instant::now();
    while s.elapsed() < sim {
        s.step().expect("the raw floor runs");
    }
    wall_start.elapsed()
}
