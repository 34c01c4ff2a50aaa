//! The visited set of a breadth-first search: every state found, numbered in the order found,
//! with its fingerprint and the number of the state it was first reached from.
//!
//! Per state, 12 bytes (fingerprint and parent) plus an open-addressing table of state numbers
//! keyed by fingerprint (4 bytes a slot, between 3/8 and 3/4 full): 17 to 23 bytes a state. The
//! step taken from the parent is not kept: a path is rebuilt by replaying from the start and
//! taking, at each state, the first step that leads to the next state's fingerprint, which is
//! the step that numbered it (successors are tried in step order). Two different worlds with one
//! fingerprint would merge: with n states the probability is about n^2 / 2^65.
//!
//! Growth is asked for in advance ([`Visited::reserve`]) with the number of states a merge may
//! add, so the bytes it will hold are known before they are allocated, and `--mem-cap` can stop
//! the search first.

use super::bitstate::Bitstate;

/// The parent of the first state.
pub const ROOT: u32 = u32::MAX;
const EMPTY: u32 = u32::MAX;

#[derive(Default)]
pub struct Visited {
    fps: Vec<u64>,
    parent: Vec<u32>,
    table: FpTable,
}

impl Visited {
    pub fn len(&self) -> usize {
        self.fps.len()
    }

    /// The fingerprint of state `id`.
    pub fn fingerprint(&self, id: u32) -> u64 {
        self.fps[id as usize]
    }

    /// The state `id` was first reached from ([`ROOT`] for the first state).
    pub fn parent(&self, id: u32) -> u32 {
        self.parent[id as usize]
    }

    /// The number of the state with fingerprint `fp`, if it was found.
    pub fn get(&self, fp: u64) -> Option<u32> {
        self.table.get(fp, &self.fps)
    }

    /// The state numbered for `fp`, numbering it (first reached from `parent`) if new.
    pub fn insert(&mut self, fp: u64, parent: u32) -> (u32, bool) {
        let (id, new) = self.table.insert(fp, &self.fps);
        if new {
            self.fps.push(fp);
            self.parent.push(parent);
        }
        (id, new)
    }

    /// Makes room for `additional` more states, so inserting them allocates nothing.
    pub fn reserve(&mut self, additional: usize) {
        self.fps.reserve_exact(additional);
        self.parent.reserve_exact(additional);
        self.table.reserve(self.fps.len() + additional, &self.fps);
    }

    /// The bytes held at the most while `additional` states are reserved and inserted: the
    /// lists grown in place (glibc moves a large block by remapping it, not by copying), and
    /// the new table (the old one is dropped first: the fingerprints are enough to rebuild it).
    pub fn bytes_while_reserving(&self, additional: usize) -> u64 {
        let states = self.len() + additional;
        let lists = self.fps.capacity().max(states) * 8 + self.parent.capacity().max(states) * 4;
        lists as u64 + self.table.bytes_for(states)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        (self.fps.capacity() * 8 + self.parent.capacity() * 4) as u64 + self.table.bytes()
    }
}

/// The visited set of a search: exact (every state's fingerprint, numbered), or a bitstate
/// array for spaces whose exact set does not fit (see [`Bitstate`]).
pub enum Seen {
    Exact(Visited),
    Bits(Bitstate),
}

/// How a path reaches a state from its parent: the step that leads to this fingerprint (the
/// first such in step order), or the step with this number.
pub enum Arrival {
    Fingerprint(u64),
    Step(u16),
}

impl Seen {
    pub fn len(&self) -> usize {
        match self {
            Seen::Exact(v) => v.len(),
            Seen::Bits(b) => b.len(),
        }
    }

    /// Whether `fp` was found, with its number where the set keeps one (the exact set does).
    pub fn get(&self, fp: u64) -> Option<Option<u32>> {
        match self {
            Seen::Exact(v) => v.get(fp).map(Some),
            Seen::Bits(b) => b.contains(fp).then_some(None),
        }
    }

    /// Finds or numbers the state with fingerprint `fp`, first reached from `parent` by its
    /// step number `step`: its number where the set keeps one, and whether it is new.
    pub fn insert(&mut self, fp: u64, parent: u32, step: u16) -> (Option<u32>, bool) {
        match self {
            Seen::Exact(v) => {
                let (id, new) = v.insert(fp, parent);
                (Some(id), new)
            }
            Seen::Bits(b) => {
                let id = b.insert(fp, parent, step);
                (id, id.is_some())
            }
        }
    }

    /// The state `id` was first reached from ([`ROOT`] for the first state), and how.
    pub fn parent(&self, id: u32) -> (u32, Arrival) {
        match self {
            Seen::Exact(v) => (v.parent(id), Arrival::Fingerprint(v.fingerprint(id))),
            Seen::Bits(b) => {
                let (parent, step) = b.parent(id);
                (parent, Arrival::Step(step))
            }
        }
    }

    pub fn reserve(&mut self, additional: usize) {
        match self {
            Seen::Exact(v) => v.reserve(additional),
            Seen::Bits(b) => b.reserve(additional),
        }
    }

    pub fn bytes_while_reserving(&self, additional: usize) -> u64 {
        match self {
            Seen::Exact(v) => v.bytes_while_reserving(additional),
            Seen::Bits(b) => b.bytes_while_reserving(additional),
        }
    }

    pub fn bytes(&self) -> u64 {
        match self {
            Seen::Exact(v) => v.bytes(),
            Seen::Bits(b) => b.bytes(),
        }
    }
}

/// An open-addressing table (linear probing, at most 3/4 full) of numbers keyed by
/// fingerprints kept elsewhere: number `id` has fingerprint `fps[id]`, and the next number is
/// `fps.len()`. 4 bytes a slot, so 5.3 to 10.7 bytes a number.
pub struct FpTable {
    slots: Vec<u32>,
    shift: u32,
}

impl Default for FpTable {
    fn default() -> Self {
        FpTable { slots: vec![EMPTY; 1 << 10], shift: 64 - 10 }
    }
}

impl FpTable {
    fn home(&self, fp: u64) -> usize {
        (fp.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The number with fingerprint `fp`, if any.
    pub fn get(&self, fp: u64, fps: &[u64]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                return None;
            }
            if fps[id as usize] == fp {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// The number with fingerprint `fp`, and whether it is new: then it is `fps.len()`, and
    /// the caller pushes `fp` onto `fps`.
    pub fn insert(&mut self, fp: u64, fps: &[u64]) -> (u32, bool) {
        if (fps.len() + 1) * 4 > self.slots.len() * 3 {
            self.rehash(self.slots.len() * 2, fps);
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(fp);
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                let id = fps.len() as u32;
                self.slots[i] = id;
                return (id, true);
            }
            if fps[id as usize] == fp {
                return (id, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Forgets every number, keeping the slots.
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
    }

    /// The slot count that keeps `n` numbers at most 3/4 full.
    fn slots_for(&self, n: usize) -> usize {
        let mut size = self.slots.len();
        while n * 4 > size * 3 {
            size *= 2;
        }
        size
    }

    /// Makes room for `n` numbers in all (`fps` holds those so far).
    pub fn reserve(&mut self, n: usize, fps: &[u64]) {
        let size = self.slots_for(n);
        if size > self.slots.len() {
            self.rehash(size, fps);
        }
    }

    fn bytes_for(&self, n: usize) -> u64 {
        self.slots_for(n) as u64 * 4
    }

    pub fn bytes(&self) -> u64 {
        self.slots.capacity() as u64 * 4
    }

    fn rehash(&mut self, size: usize, fps: &[u64]) {
        // The old table goes first, so the two are never held together.
        self.slots = Vec::new();
        self.slots = vec![EMPTY; size];
        self.shift = 64 - size.trailing_zeros();
        let mask = size - 1;
        for (id, &fp) in fps.iter().enumerate() {
            let mut i = self.home(fp);
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = id as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_numbered_in_order_found_and_found_again() {
        let mut v = Visited::default();
        let fps: Vec<u64> = (0..5000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 7).collect();
        v.reserve(100);
        for (k, &fp) in fps.iter().enumerate() {
            assert_eq!(v.insert(fp, k as u32 / 2), (k as u32, true));
        }
        for (k, &fp) in fps.iter().enumerate() {
            assert_eq!(v.insert(fp, 0), (k as u32, false));
            assert_eq!((v.get(fp), v.parent(k as u32), v.fingerprint(k as u32)), (Some(k as u32), k as u32 / 2, fp));
        }
        assert_eq!(v.get(1), None);
    }

    #[test]
    fn reserving_allocates_what_it_said_it_would() {
        let mut v = Visited::default();
        for more in [10, 1000, 50_000, 7] {
            let said = v.bytes_while_reserving(more);
            v.reserve(more);
            let after = v.bytes();
            for k in 0..more {
                v.insert((v.len() as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd), k as u32);
            }
            assert_eq!(v.bytes(), after, "inserting what was reserved allocates nothing");
            assert!(after <= said, "{after} > {said}");
        }
    }
}
