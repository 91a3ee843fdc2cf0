//! A memo of recent parses, per thread.
//!
//! Parsing is a pure function of the bytes, and in a simulation the same bytes
//! are parsed at least twice: once by the sender, which checks every message
//! it builds (`codec::assemble`), and once by each host that receives them
//! (retransmissions and proxies add more). The memo keeps the last few
//! thousand successful parses, keyed by the exact bytes, and hands back the
//! shared, immutable [`Message`].
//!
//! Nothing is bypassed: the bytes still cross the simulated network, a
//! datagram with one byte changed is a miss and parsed in full, and failed
//! parses are never kept, so every malformed datagram goes through the
//! validating layer (and gets its 400). The memo only changes how often the
//! same work is repeated, never a result.

use super::codec::{Message, ParseError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Entries per generation; the memo holds up to two generations.
const GENERATION_MAX: usize = 2048;

/// Key bytes per generation, so that a run of large messages (bodies up to
/// 64 KiB) cannot make the memo large: 4 MiB of keys, about as much again
/// in parsed messages, twice over.
const GENERATION_BYTES_MAX: usize = 4 << 20;

type Table = HashMap<Box<[u8]>, Message, BuildHasherDefault<WordHasher>>;

/// Two generations: lookups try both, inserts go to `young`, and when
/// `young` is full it becomes `old` (what `old` held is dropped). Recently
/// used entries survive a turnover by being promoted on a hit.
#[derive(Default)]
struct Memo {
    young: Table,
    old: Table,
    /// Key bytes held by `young`.
    young_bytes: usize,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// The parse of `bytes`, from the memo or from `parse` (whose success is
/// then remembered).
pub(super) fn parse_with(
    bytes: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<Message, ParseError>,
) -> Result<Message, ParseError> {
    if let Some(hit) = MEMO.with(|m| m.borrow_mut().get(bytes)) {
        return Ok(hit);
    }
    let message = parse(bytes)?;
    MEMO.with(|m| m.borrow_mut().insert(bytes, message.clone()));
    Ok(message)
}

impl Memo {
    fn get(&mut self, bytes: &[u8]) -> Option<Message> {
        if let Some(hit) = self.young.get(bytes) {
            return Some(hit.clone());
        }
        let (key, hit) = self.old.remove_entry(bytes)?;
        self.insert_owned(key, hit.clone());
        Some(hit)
    }

    fn insert(&mut self, bytes: &[u8], message: Message) {
        self.insert_owned(bytes.into(), message);
    }

    fn insert_owned(&mut self, key: Box<[u8]>, message: Message) {
        if self.young.len() >= GENERATION_MAX || self.young_bytes >= GENERATION_BYTES_MAX {
            // `young` becomes `old`; what `old` held is dropped, and its
            // table (already at full size) is reused for the new `young`.
            std::mem::swap(&mut self.young, &mut self.old);
            self.young.clear();
            self.young_bytes = 0;
        }
        self.young_bytes += key.len();
        self.young.insert(key, message);
    }
}

/// A fast multiply-rotate hash over 8-byte words (the FxHash recipe), for
/// keys of a few hundred bytes; the tables are never iterated, so the hash
/// only has to be quick and fixed.
#[derive(Default)]
struct WordHasher(u64);

impl WordHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ (rest.len() as u64) << 56);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: memo-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_hit_gives_the_same_message_and_skips_the_parse() {
        let first = parse_with(OPTIONS, super::super::codec::parse_uncached).expect("valid");
        let second = parse_with(OPTIONS, |_| panic!("a hit must not parse again")).expect("hit");
        assert_eq!(first, second);
    }

    #[test]
    fn one_changed_byte_is_a_miss_and_failures_are_not_kept() {
        let mut bad = OPTIONS.to_vec();
        let at = bad
            .windows(8)
            .position(|w| w == b"Call-ID:")
            .expect("has Call-ID");
        bad[at + 4] = b' '; // "Call ID:" is not a header name
        for _ in 0..2 {
            let mut parsed = false;
            let result = parse_with(&bad, |b| {
                parsed = true;
                super::super::codec::parse_uncached(b)
            });
            assert!(result.is_err());
            assert!(parsed, "a malformed datagram is parsed every time");
        }
    }

    #[test]
    fn the_memo_stays_bounded() {
        let mut memo = Memo::default();
        let message = super::super::codec::parse_uncached(OPTIONS).expect("valid");
        for i in 0..(GENERATION_MAX * 3) {
            memo.insert(&i.to_le_bytes(), message.clone());
        }
        assert!(memo.young.len() + memo.old.len() <= 2 * GENERATION_MAX);
        assert!(memo.get(&(GENERATION_MAX * 3 - 1).to_le_bytes()).is_some());
        assert!(memo.get(&0usize.to_le_bytes()).is_none());
    }

    #[test]
    fn large_messages_turn_a_generation_over_by_bytes() {
        let mut memo = Memo::default();
        let message = super::super::codec::parse_uncached(OPTIONS).expect("valid");
        let big = 64 << 10;
        for i in 0..200u8 {
            memo.insert(&vec![i; big], message.clone());
        }
        let held: usize = memo
            .young
            .keys()
            .chain(memo.old.keys())
            .map(|k| k.len())
            .sum();
        assert!(
            held <= 2 * (GENERATION_BYTES_MAX + big),
            "{held} key bytes held"
        );
    }
}
