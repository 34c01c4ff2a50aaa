//! 64-bit fingerprints of worlds: of what a world's `Hash` feeds (so the same worlds meet), put
//! together from hashes of its three parts, endpoint A, endpoint B and the rest, so a step that
//! leaves an endpoint alone does not hash it again. FxHash per part (fast, fixed seed: runs are
//! reproducible), mixed so that every input bit reaches every output bit.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use super::world::World;
use crate::simulate::Side;

/// The fingerprint of `world`.
pub fn fingerprint(world: &World<'_>) -> u64 {
    combine(endpoint_hash(world, Side::A), endpoint_hash(world, Side::B), rest_hash(world))
}

/// A fingerprint from the hashes of its parts ([`endpoint_hash`] of A and B, [`rest_hash`]).
pub fn combine(a: u64, b: u64, rest: u64) -> u64 {
    mix(mix(mix(a) ^ b.rotate_left(21)) ^ rest.rotate_left(42))
}

/// MurmurHash3's finalizer: every input bit affects every output bit.
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The hash of one endpoint, times relative to the world's `now`.
pub fn endpoint_hash(world: &World<'_>, side: Side) -> u64 {
    let mut h = FxHasher::default();
    world.endpoint(side).hash_at(world.now, &mut h);
    h.finish()
}

/// The hash of the rest: network, counters, ghost.
pub fn rest_hash(world: &World<'_>) -> u64 {
    let mut h = FxHasher::default();
    world.hash_rest(&mut h);
    h.finish()
}
