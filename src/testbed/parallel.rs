//! Independent runs on OS threads: each thread takes the next item, and
//! every run installs its own thread-local recorder ([`super::run`]), so
//! threads never mix histories and a run itself never uses threads.
//! `explore` sweeps seeds with it and `incidents` runs variants and seeds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// `work` on every item, on `jobs` threads (at least one, at most one per
/// item). `each` sees each result on the calling thread as it arrives (in
/// completion order: a progress bar, a bundle written before the sweep
/// ends); the results come back in item order.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut each: impl FnMut(&R),
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            each(&result);
            results[i] = Some(result);
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item was run"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_item_order_and_each_sees_every_one() {
        let items: Vec<u64> = (0..50).collect();
        let mut seen = 0;
        let out = super::map(&items, 3, |x| x * 2, |_| seen += 1);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(seen, 50);
        assert!(super::map(&[] as &[u64], 4, |x| *x, |_| {}).is_empty());
    }
}
