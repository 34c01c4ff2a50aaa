//! Sequence numbers: 32-bit, compared modulo 2^32 (RFC 9293 3.4). Only wrapping arithmetic and
//! modular comparison are offered; nothing here can panic or overflow.

use std::cmp::Ordering;
use std::fmt;

/// A TCP sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self + n`, wrapping.
    #[must_use]
    pub const fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// `self - n`, wrapping.
    #[must_use]
    pub const fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }

    /// The signed distance from `base` to `self`: positive if `self` is after `base`.
    pub const fn distance_from(self, base: SeqNum) -> i32 {
        self.0.wrapping_sub(base.0) as i32
    }

    /// How far `self` lies at or after `base`, or `None` if it lies before it.
    pub const fn offset_from(self, base: SeqNum) -> Option<u32> {
        let d = self.distance_from(base);
        if d >= 0 {
            Some(d as u32)
        } else {
            None
        }
    }

    /// Whether `lo <= self < lo + len` in sequence space.
    pub const fn in_window(self, lo: SeqNum, len: u32) -> bool {
        self.0.wrapping_sub(lo.0) < len
    }
}

impl PartialOrd for SeqNum {
    /// Modular order: `a < b` if b is less than 2^31 ahead of a. Numbers exactly 2^31 apart are
    /// unordered, which keeps the order antisymmetric.
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        match self.distance_from(*other) {
            0 => Some(Ordering::Equal),
            i32::MIN => None,
            d if d > 0 => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        }
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn order_holds_across_the_wrap() {
        let a = SeqNum(u32::MAX - 5);
        let b = a.add(10);
        assert_eq!(b, SeqNum(4));
        assert!(a < b);
        assert_eq!(b.partial_cmp(&a), Some(Ordering::Greater));
        assert_eq!(b.offset_from(a), Some(10));
        assert_eq!(a.offset_from(b), None);
        assert!(SeqNum(2).in_window(a, 10) && !SeqNum(5).in_window(a, 10));
        assert_eq!(SeqNum(0).partial_cmp(&SeqNum(1 << 31)), None);
    }

    proptest! {
        #[test]
        fn comparison_is_antisymmetric_within_2_pow_31(a in any::<u32>(), d in 1u32..(1 << 31)) {
            let (x, y) = (SeqNum(a), SeqNum(a).add(d));
            prop_assert_eq!(x.partial_cmp(&y), Some(Ordering::Less));
            prop_assert_eq!(y.partial_cmp(&x), Some(Ordering::Greater));
        }

        #[test]
        fn offsets_round_trip(a in any::<u32>(), d in 0u32..(1 << 31)) {
            let base = SeqNum(a);
            prop_assert_eq!(base.add(d).offset_from(base), Some(d));
            prop_assert_eq!(base.add(d).sub(d), base);
            prop_assert_eq!(base.add(d).distance_from(base), d as i32);
        }

        #[test]
        fn window_membership_matches_offsets(a in any::<u32>(), x in any::<u32>(), len in any::<u32>()) {
            let (lo, s) = (SeqNum(a), SeqNum(x));
            prop_assert_eq!(s.in_window(lo, len), s.0.wrapping_sub(lo.0) < len);
        }
    }
}
