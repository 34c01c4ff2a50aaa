//! 64-bit fingerprints of worlds: of what a world's `Hash` feeds (so the same worlds meet), put
//! together from hashes of its three parts, endpoint A, endpoint B and the rest, so a step that
//! leaves an endpoint alone does not hash it again. FxHash per endpoint, [`Words`] for the rest
//! (fast, fixed seeds: runs are reproducible), mixed so that every input bit reaches every
//! output bit. (The endpoints written as wide words for [`Words`] measured slower: their
//! fields are many and small.)

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
    let mut h = Words::default();
    world.hash_rest(&mut h);
    h.finish()
}

/// A hasher for data written as a few wide words, fields packed side by side: each word is
/// xored in, then the state is multiplied by an odd constant and its high half folded onto its
/// low half. Both steps are invertible, so two inputs that differ in one word never collide,
/// and the fold carries a difference in a word's high bits down to where the next multiply
/// spreads it over every bit (FxHash, an add and a multiply a word, leaves a difference in the
/// high bits there: fields packed high would collide). One multiply a word, as FxHash; the
/// rest of a world is about five words a segment in flight.
pub struct Words(u64);

impl Default for Words {
    /// Not zero: zero words written first would leave a zero state as it is.
    fn default() -> Self {
        Words(0x243f_6a88_85a3_08d3)
    }
}

impl Hasher for Words {
    /// Eight bytes a word, the last word's missing bytes zero. The last word is put together
    /// byte by byte: a copy of a length not known at compile time is a call to `memcpy`, and
    /// the payloads hashed here are a few bytes long.
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.write_u64(u64::from_le_bytes(word.try_into().expect("chunks of 8")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            self.write_u64(rest.iter().rev().fold(0, |word, &b| word << 8 | u64::from(b)));
        }
    }

    fn write_u64(&mut self, word: u64) {
        let x = (self.0 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ x >> 32;
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(words: &[u64]) -> u64 {
        let mut h = Words::default();
        for &w in words {
            h.write_u64(w);
        }
        h.finish()
    }

    /// Words that differ only in their high bits, in one place or two, hash apart (FxHash's
    /// sums of multiples would collide on many of these pairs).
    #[test]
    fn differences_in_high_bits_hash_apart() {
        let mut seen = std::collections::HashSet::new();
        for x in 0..64u64 {
            for y in 0..64u64 {
                assert!(seen.insert(words(&[x << 58, 7, y << 58])), "{x} {y}");
            }
        }
        assert_ne!(words(&[1, 2]), words(&[2, 1]));
        assert_ne!(words(&[0]), words(&[0, 0]));
    }

    /// Bytes hash as the little-endian words they fill, the last one padded with zeros.
    #[test]
    fn bytes_hash_as_the_words_they_fill() {
        let bytes: Vec<u8> = (1..=20).collect();
        for n in 0..=bytes.len() {
            let mut padded = bytes[..n].to_vec();
            padded.resize(n.div_ceil(8) * 8, 0);
            let expected: Vec<u64> = padded.chunks(8).map(|w| u64::from_le_bytes(w.try_into().unwrap())).collect();
            let mut h = Words::default();
            h.write(&bytes[..n]);
            assert_eq!(h.finish(), words(&expected), "{n} bytes");
        }
    }
}
