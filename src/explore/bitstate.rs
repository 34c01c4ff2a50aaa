//! A bitstate visited set (Holzmann's supertrace, as in SPIN's `-DBITSTATE`): for spaces whose
//! exact visited set does not fit. Each state sets [`HASHES`] bits of a fixed array, chosen from
//! its 64-bit fingerprint; a state whose bits are all set already is taken as seen. So a new
//! state is sometimes taken for one seen before and not explored (nor, through it, states only
//! it leads to): the search may miss states, never reports one that is not reachable, and every
//! violation it reports is real and replayable.
//!
//! The chance of that miss is known as the search goes: with a fraction `f` of the bits set, a
//! new state's bits are all set already with probability `f^k` (`k` = [`HASHES`]; fingerprints
//! are uniform). [`Bitstate::expected_missed`] sums it over every state found, which estimates
//! how many new states were taken for old ones (their successors come on top, when those can be
//! reached no other way).
//!
//! States are still numbered, each with its parent and the index of the step that led to it
//! (6 bytes a state besides the bits), so a counterexample is replayed from the start as in the
//! exact search. What it gives up is a state's number from its fingerprint: the liveness graph
//! cannot be built, and `eventually-closed` is not checked in this mode.

use super::fingerprint::mix;

/// Bits set per state. Three is SPIN's default and near the best for the fills that keep the
/// miss probability low (a few percent of the bits set).
pub const HASHES: u32 = 3;

/// The smallest array: 2^16 bits.
const MIN_BITS_LOG2: u32 = 16;

/// What a bitstate search traded, for its report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coverage {
    /// The array's size in bits, and bits set per state.
    pub bits: u64,
    pub hashes: u32,
    /// The fraction of the bits set at the end.
    pub fill: f64,
    /// The estimated number of new states taken for seen ones (see [`Bitstate`]).
    pub expected_missed: f64,
}

pub struct Bitstate {
    words: Vec<u64>,
    /// The array holds 2^bits_log2 bits.
    bits_log2: u32,
    /// Bits set.
    set: u64,
    parent: Vec<u32>,
    step: Vec<u16>,
    /// The sum over every state found of the probability that a new state was taken for a seen
    /// one when it was looked up.
    missed: f64,
}

impl Bitstate {
    /// An array of at most `bytes` bytes (rounded down to a power of two, at least 8 KiB).
    pub fn new(bytes: u64) -> Self {
        let bits = bytes.saturating_mul(8).max(1 << MIN_BITS_LOG2);
        let bits_log2 = 63 - bits.leading_zeros();
        Bitstate {
            words: vec![0; 1 << (bits_log2 - 6)],
            bits_log2,
            set: 0,
            parent: Vec::new(),
            step: Vec::new(),
            missed: 0.0,
        }
    }

    /// The bit positions of fingerprint `fp`: double hashing, two independent halves of the
    /// 128 bits of `fp` and a remix of it.
    fn positions(&self, fp: u64) -> [u64; HASHES as usize] {
        let (h1, h2) = (fp, mix(fp ^ 0x5851_f42d_4c95_7f2d) | 1);
        let shift = 64 - self.bits_log2;
        std::array::from_fn(|i| h1.wrapping_add((i as u64).wrapping_mul(h2)) >> shift)
    }

    fn bit(&self, at: u64) -> bool {
        self.words[(at >> 6) as usize] >> (at & 63) & 1 != 0
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether `fp` looks seen: all its bits are set.
    pub fn contains(&self, fp: u64) -> bool {
        self.positions(fp).iter().all(|&at| self.bit(at))
    }

    /// The state numbered for `fp` if it looks new (first reached from `parent` by its step
    /// number `step`), and whether it did; a state that looks seen has no number here.
    pub fn insert(&mut self, fp: u64, parent: u32, step: u16) -> Option<u32> {
        let fill = self.fill();
        let mut new = false;
        for at in self.positions(fp) {
            let word = &mut self.words[(at >> 6) as usize];
            let mask = 1 << (at & 63);
            if *word & mask == 0 {
                *word |= mask;
                self.set += 1;
                new = true;
            }
        }
        if !new {
            return None;
        }
        // The lookup of a truly new state says "seen" with probability p; of the lookups of
        // new states, those that said "new" are a fraction 1 - p.
        let p = fill.powi(HASHES as i32);
        self.missed += p / (1.0 - p).max(f64::MIN_POSITIVE);
        self.parent.push(parent);
        self.step.push(step);
        Some(self.parent.len() as u32 - 1)
    }

    /// What the search traded so far.
    pub fn coverage(&self) -> Coverage {
        Coverage { bits: self.bits(), hashes: HASHES, fill: self.fill(), expected_missed: self.expected_missed() }
    }

    /// The fraction of the bits set.
    pub fn fill(&self) -> f64 {
        self.set as f64 / (1u64 << self.bits_log2) as f64
    }

    /// The estimated number of new states taken for seen ones so far.
    pub fn expected_missed(&self) -> f64 {
        self.missed
    }

    /// The array's size in bits.
    pub fn bits(&self) -> u64 {
        1 << self.bits_log2
    }

    /// The state `id` was first reached from, and the number of the step (in
    /// [`World::steps`](super::World::steps) order) that led there.
    pub fn parent(&self, id: u32) -> (u32, u16) {
        (self.parent[id as usize], self.step[id as usize])
    }

    /// Makes room for `additional` more states.
    pub fn reserve(&mut self, additional: usize) {
        self.parent.reserve_exact(additional);
        self.step.reserve_exact(additional);
    }

    /// The bytes held once `additional` more states are reserved.
    pub fn bytes_while_reserving(&self, additional: usize) -> u64 {
        let states = self.len() + additional;
        (self.words.len() * 8 + self.parent.capacity().max(states) * 4 + self.step.capacity().max(states) * 2) as u64
    }

    pub fn bytes(&self) -> u64 {
        (self.words.len() * 8 + self.parent.capacity() * 4 + self.step.capacity() * 2) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fps(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| mix(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 11))
    }

    #[test]
    fn states_are_numbered_in_order_and_seen_again() {
        let mut b = Bitstate::new(1 << 20);
        for (k, fp) in fps(10_000).enumerate() {
            assert_eq!(b.insert(fp, k as u32 / 2, k as u16 % 7), Some(k as u32), "a sparse array misses nothing here");
        }
        for (k, fp) in fps(10_000).enumerate() {
            assert!(b.contains(fp));
            assert_eq!(b.insert(fp, 0, 0), None);
            assert_eq!(b.parent(k as u32), (k as u32 / 2, k as u16 % 7));
        }
        assert_eq!((b.len(), b.set), (10_000, b.words.iter().map(|w| u64::from(w.count_ones())).sum()));
        assert!(b.expected_missed() < 1e-3, "{}", b.expected_missed());
    }

    /// In a crowded array, the states taken for seen ones are about as many as predicted.
    #[test]
    fn the_estimate_of_missed_states_matches_what_a_crowded_array_misses() {
        let mut b = Bitstate::new(1 << 13);
        let n = 40_000;
        let found = fps(n).filter(|&fp| b.insert(fp, 0, 0).is_some()).count() as f64;
        let missed = n as f64 - found;
        let expected = b.expected_missed();
        assert!(missed > 1000.0, "crowded enough to measure: {missed}");
        assert!((missed - expected).abs() < 0.1 * missed, "missed {missed}, expected {expected}");
    }

    #[test]
    fn sizes_are_powers_of_two_and_counted() {
        let b = Bitstate::new(3 << 20);
        assert_eq!((b.bits(), b.bytes()), (1 << 24, 2 << 20));
        assert_eq!(Bitstate::new(0).bits(), 1 << MIN_BITS_LOG2);
        assert_eq!(b.bytes_while_reserving(10), (2 << 20) + 60);
    }
}
