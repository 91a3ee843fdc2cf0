//! Seed derivation: one seed in, every random stream derived from it.
//!
//! A stream is named by (seed, host, purpose, incarnation), hashed with FNV
//! so the derivation is the same on every platform and never depends on
//! std's randomly keyed hashers.

use crate::history::Fnv;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG type every simulated component uses.
pub type SimRng = ChaCha8Rng;

/// A 64-bit seed derived from `seed` and the given names.
pub fn derive_seed(seed: u64, parts: &[&str]) -> u64 {
    let mut h = Fnv::new();
    h.write(&seed.to_le_bytes());
    for part in parts {
        h.write(part.as_bytes()).write(&[0]);
    }
    // One round of splitmix64 to spread FNV's low-entropy high bits.
    let mut z = h.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An RNG for one named stream.
pub fn rng_for(seed: u64, parts: &[&str]) -> SimRng {
    SimRng::seed_from_u64(derive_seed(seed, parts))
}
