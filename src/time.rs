//! Virtual time. Core code never reads a clock: durations are data, parsed from models and flags.

use std::fmt;

/// A span of virtual time, in whole microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// Units a duration may be written in, largest first (the printer picks the largest exact one).
const UNITS: [(&str, u64); 5] = [("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1_000), ("us", 1)];

impl Duration {
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000))
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Parses `120s`, `2min`, `500ms`, `1h`. Returns a message naming the accepted forms on error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let expected = "expected a whole number followed by a unit: `us`, `ms`, `s`, `min` or `h` (e.g. `120s`)";
        if digits.is_empty() {
            return Err(format!("`{text}` is not a duration: {expected}"));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("`{text}` has no known unit: {expected}"));
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(Duration)
            .ok_or_else(|| format!("`{text}` is too large a duration"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let (unit, scale) = UNITS.iter().find(|(_, scale)| self.0.is_multiple_of(*scale)).unwrap_or(&("us", 1));
        write!(f, "{}{unit}", self.0 / scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Duration::parse("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(Duration::parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(Duration::parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(Duration::parse("500ms"), Ok(Duration::from_micros(500_000)));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "s", "12", "12 s", "12sec", "-1s", "99999999999999999999h", "1é"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!(Duration::from_secs(120).to_string(), "2min");
        assert_eq!(Duration::from_secs(90).to_string(), "90s");
        assert_eq!(Duration::from_micros(1500).to_string(), "1500us");
        assert_eq!(Duration::default().to_string(), "0s");
    }
}

/// A point in virtual time: microseconds since the start of a run. There is no `now()`: time is
/// always passed in, so every run is deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time `d` later; saturates rather than wrapping at the end of time.
    pub const fn after(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_micros()))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub const fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Instant {
    /// Seconds with millisecond precision: `12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{}.{:03}s", self.0 / 1_000_000, (self.0 / 1_000) % 1_000);
        f.pad(&text)
    }
}

impl Duration {
    /// `n` times this duration, saturating.
    pub const fn times(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
}

#[cfg(test)]
mod instant_tests {
    use super::*;

    #[test]
    fn instants_add_and_print() {
        let t = Instant::ZERO.after(Duration::from_micros(12_345_678));
        assert_eq!(t.to_string(), "12.345s");
        assert_eq!(t.since(Instant::ZERO), Duration::from_micros(12_345_678));
        assert_eq!(Instant::ZERO.since(t), Duration::default());
        assert_eq!(Instant::from_micros(u64::MAX).after(Duration::from_secs(1)), Instant::from_micros(u64::MAX));
    }
}
