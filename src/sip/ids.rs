//! Identifiers drawn from the caller's seeded RNG: Via branches (with the RFC 3261 magic
//! cookie), From/To tags and Call-IDs.
//!
//! rsip's `Default` impls draw these from uuid v4 (OS randomness), which would make two runs
//! of one seed differ; callsim never calls them.

use rand::RngCore;

/// The RFC 3261 section 8.1.1.7 magic cookie that starts every branch we generate.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// A new Via branch: the magic cookie and 64 random bits.
pub fn new_branch<R: RngCore + ?Sized>(rng: &mut R) -> String {
    format!("{BRANCH_MAGIC_COOKIE}{:016x}", rng.next_u64())
}

/// A new From/To tag: 32 random bits (section 19.3 asks for at least 32).
pub fn new_tag<R: RngCore + ?Sized>(rng: &mut R) -> String {
    format!("{:08x}", rng.next_u32())
}

/// A new Call-ID: 128 random bits `@host`. `host` must be Call-ID `word` characters (a
/// callsim host name is).
pub fn new_call_id<R: RngCore + ?Sized>(rng: &mut R, host: &str) -> String {
    format!("{:016x}{:016x}@{host}", rng.next_u64(), rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn same_seed_same_ids() {
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(new_branch(&mut a), new_branch(&mut b));
        assert_eq!(new_tag(&mut a), new_tag(&mut b));
        assert_eq!(new_call_id(&mut a, "sip-1"), new_call_id(&mut b, "sip-1"));
        assert!(new_branch(&mut a).starts_with("z9hG4bK"));
    }
}
