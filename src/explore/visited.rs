//! The visited set of a breadth-first search: every state found, numbered in the order found,
//! with its fingerprint and the number of the state it was first reached from.
//!
//! Per state, 12 bytes (fingerprint and parent) plus an open-addressing table of state numbers
//! keyed by fingerprint (4 bytes a slot, between 1/2 and 3/4 full): 17 to 20 bytes a state. The
//! step taken from the parent is not kept: a path is rebuilt by replaying from the start and
//! taking, at each state, the first step that leads to the next state's fingerprint, which is
//! the step that numbered it (successors are tried in step order). Two different worlds with one
//! fingerprint would merge: with n states the probability is about n^2 / 2^65.
//!
//! A level's successors are numbered together, by every thread ([`Visited::number`]): each
//! thread places a run of them in the shared table (an atomic slot keeps the earliest position
//! that reached it), so which are new, and their numbers, are those a merge one by one in the
//! search's order would give, whatever the threads and their timing.
//!
//! Growth is asked for in advance ([`Visited::reserve`]) with the number of states a merge may
//! add, so the bytes it will hold are known before they are allocated, and `--mem-cap` can stop
//! the search first. While they are small, the table and lists are grown ahead, while a batch
//! is expanded ([`Visited::grows_to`]), not by the merge.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use super::bitstate::Bitstate;
use super::memory;
use super::parallel::{extend_with, fan_out, pieces, runs};

/// The parent of the first state.
pub const ROOT: u32 = u32::MAX;
const EMPTY: u32 = u32::MAX;
/// Marks a slot taken, during [`Visited::number`], by the successor at this position of the
/// level (the slot's other bits), not numbered yet.
const PLACED: u32 = 1 << 31;
/// Fingerprints whose first slots are read together ([`FpTable::in_regions`]): about as many misses
/// as a core keeps under way at once.
const GROUP: usize = 16;
/// A table with fewer slots than this is filled by one thread ([`FpTable::in_regions`]): its
/// work is a few hundred microseconds, not much more than handing half of it to another thread.
const ONE_REGION: usize = 1 << 16;
/// Tables and lists of at most this many bytes are grown ahead of the merge that grows them,
/// beside the ones in use ([`Visited::grows_to`]). Holding both costs little below it, and the
/// growths that matter for time are the many small ones: at the default bounds rebuilding the
/// table took a fifth of the merges' time, and copying the lists a tenth, all of it on one
/// thread while the others waited.
const AHEAD: u64 = 16 << 20;

#[derive(Default)]
pub struct Visited {
    fps: Vec<u64>,
    parent: Vec<u32>,
    table: FpTable,
}

impl Visited {
    /// The most states the set can number (a slot's top bit marks a successor being placed).
    pub const MAX_STATES: usize = PLACED as usize - 1;

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
    #[cfg(test)]
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

    /// Frees the table that finds a state by its fingerprint, once the search is over: what
    /// stays (each state's fingerprint and parent) is what replaying a path needs, and the
    /// room goes to the search for a fair cycle. [`Visited::get`] finds nothing after this.
    pub fn forget_lookup(&mut self) {
        self.table = FpTable::default();
    }

    /// Numbers a level's new-looking successors, given in the order the search found them, on
    /// `threads` threads: each part's `ids` gets its successors' numbers. New states are
    /// numbered after every state so far in order of first appearance, as inserting them one
    /// by one would. Room must be reserved for them ([`Visited::reserve`]).
    ///
    /// Every successor is placed in the table, each thread placing those whose probe starts in
    /// its own region of the table, in the level's order ([`FpTable::in_regions`]), so a slot
    /// keeps the earliest position that reaches it; a successor is new where it took an empty
    /// slot. Then the new ones of each run of consecutive parts are counted, and each run,
    /// knowing its first number from the counts before it, numbers its new ones in their
    /// slots; last each repeat reads its number from its slot. The table is far larger than the
    /// caches, so each round's visit to a slot is a miss: a new successor's slot is visited
    /// twice (placed, numbered), and a repeat's twice (placed, read).
    pub fn number(&mut self, parts: &mut [Part<'_>], threads: usize) {
        let level: Vec<u64> = parts.iter().flat_map(|p| p.fps.iter().copied()).collect();
        assert!(level.len() < PLACED as usize, "a level's positions fit a slot's 31 bits");
        let runs = runs(parts.iter().map(|p| p.fps.len()), threads);
        // Each run's successors: where they start in the level, and how many.
        let spans: Vec<(usize, usize)> =
            runs.iter().map(|(_, len)| *len).scan(0, |at, len| Some((std::mem::replace(at, *at + len), len))).collect();
        let (table, fps) = (&self.table, &self.fps[..]);
        // Each successor's slot, and whether it is new.
        let placed: Vec<AtomicU32> = (0..level.len()).map(|_| AtomicU32::new(0)).collect();
        let fresh: Vec<AtomicBool> = (0..level.len()).map(|_| AtomicBool::new(false)).collect();
        table.in_regions(&level, threads, |p, fp, home, end| {
            let slot = table.place(fp, home, end, p as u32, fps, &level);
            slot.inspect(|&(i, new)| {
                placed[p].store(i, Relaxed);
                fresh[p].store(new, Relaxed);
            })
            .is_some()
        });
        let slots: Vec<u32> = placed.into_iter().map(AtomicU32::into_inner).collect();
        let new: Vec<bool> = fresh.into_iter().map(AtomicBool::into_inner).collect();
        let counts: Vec<usize> =
            spans.iter().map(|&(at, len)| new[at..at + len].iter().filter(|&&f| f).count()).collect();
        let first = self.fps.len();
        let total: usize = counts.iter().sum();
        extend_with(&mut self.fps, total, || 0);
        extend_with(&mut self.parent, total, || 0);
        // Where each run's new states' numbers start, after `first`.
        let numbered: Vec<usize> = counts.iter().scan(0, |at, &n| Some(std::mem::replace(at, *at + n))).collect();
        let lists = pieces(&mut self.fps[first..], counts.iter().copied())
            .into_iter()
            .zip(pieces(&mut self.parent[first..], counts.iter().copied()));
        let run_lens = || runs.iter().map(|(run, _)| run.len());
        let work: Vec<_> = pieces(parts, run_lens()).into_iter().zip(&spans).zip(lists).zip(&numbered).collect();
        fan_out(work, |(((run, &(at, _)), (fps, parents)), &before)| {
            let successors = run.iter_mut().flat_map(|p| p.fps.iter().zip(p.parents).zip(p.ids.iter_mut()));
            let mut k = 0;
            for (p, ((&fp, &parent), id)) in (at..).zip(successors) {
                if new[p] {
                    *id = (first + before + k) as u32;
                    table.set(slots[p], *id, fp);
                    (fps[k], parents[k]) = (fp, parent);
                    k += 1;
                }
            }
        });
        // A repeat reads the number its first took (one thread finds none: its worker's own
        // table kept each successor once).
        if total < level.len() {
            let work: Vec<_> = pieces(parts, run_lens()).into_iter().zip(&spans).collect();
            fan_out(work, |(run, &(at, _))| {
                let ids = run.iter_mut().flat_map(|p| p.ids.iter_mut());
                for (p, id) in (at..).zip(ids).filter(|&(p, _)| !new[p]) {
                    *id = table.number_in(slots[p]);
                }
            });
        }
    }

    /// How the set will grow once `expected` more states are numbered, where its table or its
    /// lists must grow and are small enough ([`AHEAD`]) to be grown ahead, beside the ones in
    /// use ([`Visited::grown`]). The lists only while they are in the heap, where growing copies
    /// them: a larger block is remapped, which costs nothing to do in the merge.
    pub fn grows_to(&self, expected: usize) -> Option<Growth> {
        let slots = self.table.slots_for(self.len() + expected);
        let slots = (slots > self.table.slots.len() && slots as u64 * 4 <= AHEAD).then_some(slots);
        let fps = memory::grown(self.len(), self.fps.capacity(), expected, 8);
        let parents = memory::grown(self.len(), self.parent.capacity(), expected, 4);
        let copied = fps > self.fps.capacity() && memory::in_heap(fps * 8);
        let room = (copied && (fps * 8 + parents * 4) as u64 <= AHEAD).then_some((fps, parents));
        (slots.is_some() || room.is_some()).then_some(Growth { slots, room })
    }

    /// The table and lists grown as `growth` says, from the states so far, on this thread. The
    /// set is only read while a batch is expanded, so one worker can grow them then, while the
    /// others expand, for the merge to take ([`Visited::adopt`]) instead of growing them itself
    /// with the other threads waiting.
    pub fn grown(&self, growth: Growth) -> Grown {
        let table = growth.slots.map(|slots| {
            let table = FpTable::with_slots(slots);
            table.fill(&self.fps, 1);
            table
        });
        // The room beyond the states so far is written too, and so faulted in here: the
        // merge then writes the new states into pages it does not wait for.
        let lists = growth.room.map(|(fps, parents)| (prefilled(&self.fps, fps), prefilled(&self.parent, parents)));
        Grown { table, lists }
    }

    /// Takes what was grown from the states so far ([`Visited::grown`]) in place of what is in
    /// use, where it has more room.
    pub fn adopt(&mut self, grown: Grown) {
        if let Some(table) = grown.table.filter(|t| t.slots.len() > self.table.slots.len()) {
            self.table = table;
        }
        if let Some((fps, parent)) = grown.lists.filter(|(f, _)| f.capacity() > self.fps.capacity()) {
            debug_assert_eq!((fps.len(), parent.len()), (self.fps.len(), self.parent.len()));
            (self.fps, self.parent) = (fps, parent);
        }
    }

    /// Makes room for `additional` more states, so inserting them allocates nothing; a table
    /// that grows is rebuilt on `threads` threads.
    pub fn reserve(&mut self, additional: usize, threads: usize) {
        memory::grow(&mut self.fps, additional);
        memory::grow(&mut self.parent, additional);
        self.table.reserve(self.fps.len() + additional, &self.fps, threads);
    }

    /// The bytes held at the most while `additional` states are reserved and inserted: the
    /// lists grown ([`memory::held_after`]; glibc moves a large block by remapping it, not by
    /// copying), and the new table (the old one is dropped first: the fingerprints are enough
    /// to rebuild it). While they are numbered, each successor's fingerprint is copied, its
    /// slot noted and whether it is new.
    pub fn bytes_while_reserving(&self, additional: usize) -> u64 {
        let states = self.len() + additional;
        let lists = memory::held_after(&self.fps, additional) + memory::held_after(&self.parent, additional);
        (lists + additional * 13) as u64 + self.table.bytes_for(states)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        (memory::held_by(&self.fps) + memory::held_by(&self.parent)) as u64 + self.table.bytes()
    }
}

/// A copy of `v` with room for `capacity` items, the room written (with zeros) once.
fn prefilled<T: Copy + Default>(v: &[T], capacity: usize) -> Vec<T> {
    let mut copy = Vec::with_capacity(capacity);
    copy.extend_from_slice(v);
    copy.resize(capacity, T::default());
    copy.truncate(v.len());
    copy
}

/// How a visited set is expected to grow at the next merge ([`Visited::grows_to`]): its
/// table's slots and its lists' room for fingerprints and parents, where they grow ahead.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    slots: Option<usize>,
    room: Option<(usize, usize)>,
}

impl Growth {
    /// The bytes of what is grown.
    pub fn bytes(self) -> u64 {
        let (fps, parents) = self.room.unwrap_or_default();
        (self.slots.unwrap_or(0) * 4 + fps * 8 + parents * 4) as u64
    }
}

/// A visited set's table and lists grown ahead of the merge that needs them
/// ([`Visited::grown`]).
pub struct Grown {
    table: Option<FpTable>,
    lists: Option<(Vec<u64>, Vec<u32>)>,
}

/// A run of a level's new-looking successors, in the search's order: their fingerprints, the
/// numbers of the states they were reached from and the steps that reached them, and where
/// their numbers go ([`Seen::number`]).
pub struct Part<'a> {
    pub fps: &'a [u64],
    pub parents: &'a [u32],
    pub steps: &'a [u16],
    pub ids: &'a mut [u32],
}

/// The visited set of a search: exact (every state's fingerprint, numbered), or a bitstate
/// array for spaces whose exact set does not fit (see [`Bitstate`]).
pub enum Seen {
    Exact(Visited),
    Bits(Bitstate),
}

/// A lookup in the visited set under way ([`Seen::begin`]): the fingerprint looked for, and
/// the slot where its probe starts with what it held when read.
pub struct Lookup {
    fp: u64,
    at: usize,
    held: u32,
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

    /// Begins the lookup of `fp` ([`Seen::end`] ends it): in the exact set, reads the slot
    /// where its probe starts, so that work done in between overlaps that read's miss.
    pub fn begin(&self, fp: u64) -> Lookup {
        match self {
            Seen::Exact(v) => v.table.begin(fp),
            Seen::Bits(_) => Lookup { fp, at: 0, held: EMPTY },
        }
    }

    /// Whether the fingerprint of `lookup` was found, with its number where the set keeps one
    /// (the exact set does).
    pub fn end(&self, lookup: Lookup) -> Option<Option<u32>> {
        match self {
            Seen::Exact(v) => v.table.end(lookup, &v.fps).map(Some),
            Seen::Bits(b) => b.contains(lookup.fp).then_some(None),
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

    /// Numbers a level's new-looking successors (see [`Visited::number`]), in the search's
    /// order: each part's `ids` gets each successor's number, the next number where it is new.
    /// A bitstate set numbers only new states (others get [`ROOT`]), and one at a time: which
    /// states it takes for seen depends on the order its bits were set in.
    pub fn number(&mut self, parts: &mut [Part<'_>], threads: usize) {
        match self {
            Seen::Exact(v) => v.number(parts, threads),
            Seen::Bits(b) => {
                for part in parts {
                    for (k, id) in part.ids.iter_mut().enumerate() {
                        *id = b.insert(part.fps[k], part.parents[k], part.steps[k]).unwrap_or(ROOT);
                    }
                }
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

    /// See [`Visited::grows_to`]; a bitstate set does not grow.
    pub fn grows_to(&self, expected: usize) -> Option<Growth> {
        match self {
            Seen::Exact(v) => v.grows_to(expected),
            Seen::Bits(_) => None,
        }
    }

    /// See [`Visited::grown`].
    pub fn grown(&self, growth: Growth) -> Option<Grown> {
        match self {
            Seen::Exact(v) => Some(v.grown(growth)),
            Seen::Bits(_) => None,
        }
    }

    /// See [`Visited::adopt`].
    pub fn adopt(&mut self, grown: Grown) {
        if let Seen::Exact(v) = self {
            v.adopt(grown);
        }
    }

    pub fn reserve(&mut self, additional: usize, threads: usize) {
        match self {
            Seen::Exact(v) => v.reserve(additional, threads),
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
/// `fps.len()`. 4 bytes a slot, so 5.3 to 8 bytes a number. Any number of slots: the table
/// grows by half (see [`FpTable::slots_for`]).
///
/// A slot holds its number in its low bits and, in the bits above up to the top one, a tag:
/// low bits of the number's fingerprint. A probe reads `fps` only where the tag matches. The
/// table and `fps` are far larger than the caches, so each read of `fps` is a miss; a lookup
/// that finds nothing passes about 1.5 to 8.5 held slots (1/2 to 3/4 full), and without tags
/// each cost one. Most lookups of a search find nothing, so this was its largest cost. The
/// table sizes its numbers' bits for the most numbers it can hold before it grows: 8 bits of
/// tag at a few million states, 3 at two hundred million.
pub struct FpTable {
    /// Atomic, so that the threads numbering a level can place its successors together.
    slots: Vec<AtomicU32>,
    /// The bits of a slot that hold its number.
    id_bits: u32,
}

impl Default for FpTable {
    fn default() -> Self {
        FpTable::with_slots(1 << 10)
    }
}

/// `size` empty slots, on huge pages where the kernel gives them ([`memory::huge_pages`]),
/// written on every thread ([`extend_with`]).
fn empty(size: usize) -> Vec<AtomicU32> {
    let mut slots = Vec::with_capacity(size);
    memory::huge_pages(&mut slots);
    extend_with(&mut slots, size, || AtomicU32::new(EMPTY));
    slots
}

impl FpTable {
    fn with_slots(size: usize) -> Self {
        // Numbers stay below 3/4 of the slots (and below the top bit, which marks a placed
        // successor and `EMPTY`).
        let most = (size * 3 / 4).max(1);
        let id_bits = (usize::BITS - (most - 1).leading_zeros()).min(31);
        FpTable { slots: empty(size), id_bits }
    }

    /// What a slot holds for number `id` with fingerprint `fp`: the number, and above it the
    /// fingerprint's low bits as its tag.
    fn entry(&self, id: u32, fp: u64) -> u32 {
        debug_assert!(id >> self.id_bits == 0, "numbers stay below 3/4 of the slots");
        id | self.tag(fp)
    }

    /// `fp`'s tag, in place in a slot.
    fn tag(&self, fp: u64) -> u32 {
        let tag_bits = 31 - self.id_bits;
        ((fp as u32) & ((1 << tag_bits) - 1)) << self.id_bits
    }

    /// The number a numbered slot holds.
    fn id(&self, held: u32) -> u32 {
        held & ((1 << self.id_bits) - 1)
    }

    /// Whether numbered slot `held` is `fp`'s: its tag, then its fingerprint, match.
    fn holds(&self, held: u32, fp: u64, fps: &[u64]) -> bool {
        held & !((1 << self.id_bits) - 1) == self.tag(fp) && fps[self.id(held) as usize] == fp
    }

    /// Where `fp`'s probe starts: the mixed fingerprint's high bits scaled to the table's size
    /// (Lemire's multiply-shift), so the size need not be a power of two.
    fn home(&self, fp: u64) -> usize {
        let mixed = fp.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(mixed) * self.slots.len() as u128) >> 64) as usize
    }

    /// Calls `put` with each of `fps` (its index, fingerprint, home slot, and the end of the
    /// region it may probe in), on `threads` threads, each taking, in order, the fingerprints
    /// whose home lies in its own region of the table. No two threads then write one slot, so
    /// plain loads and stores do: a compare and swap, which waits for the core's earlier
    /// stores, made a rebuild at `--workload reopen` a third slower on one thread. A `put` that
    /// would probe past its region returns false and is made again afterwards, on this thread,
    /// in order, free to go round the table (`end` is then `None`, as it is with one region).
    ///
    /// Each thread reads the home slots of [`GROUP`] of its fingerprints before probing any of
    /// them: the reads do not depend on one another, so the processor overlaps their misses,
    /// where probing one fingerprint after another waits for each miss in turn (each probe's
    /// next move depends on the slot it read). Then each probe finds its first slot in the
    /// cache.
    fn in_regions(&self, fps: &[u64], threads: usize, put: impl Fn(usize, u64, usize, Option<usize>) -> bool + Sync) {
        let size = self.slots.len();
        let regions = if size < ONE_REGION { 1 } else { threads.max(1) };
        let left = fan_out((0..regions).collect(), |r| {
            let (start, end) = (size * r / regions, size * (r + 1) / regions);
            let (width, end) = (end - start, (regions > 1).then_some(end));
            let mut left = Vec::new();
            let mut group = [(0, 0, 0); GROUP];
            let mut held = 0;
            let probe = |group: &[(usize, u64, usize)], left: &mut Vec<usize>| {
                let read = group.iter().fold(0, |x, &(_, _, home)| x ^ self.slots[home].load(Relaxed));
                std::hint::black_box(read);
                left.extend(group.iter().filter(|&&(k, fp, home)| !put(k, fp, home, end)).map(|g| g.0));
            };
            for (k, &fp) in fps.iter().enumerate() {
                // Each fingerprint is written to the group, and kept by counting it where its
                // home is in the region: a branch there would be mispredicted half the time.
                let home = self.home(fp);
                group[held] = (k, fp, home);
                held += usize::from(home.wrapping_sub(start) < width);
                if held == GROUP {
                    probe(&group, &mut left);
                    held = 0;
                }
            }
            probe(&group[..held], &mut left);
            left
        });
        for k in left.into_iter().flatten() {
            let fp = fps[k];
            let put_anywhere = put(k, fp, self.home(fp), None);
            debug_assert!(put_anywhere, "a probe free to go round the table ends");
        }
    }

    /// The slot probed after slot `i`: the next, round the table, or none past `end`.
    fn next(&self, i: usize, end: Option<usize>) -> Option<usize> {
        match end {
            Some(end) => (i + 1 < end).then_some(i + 1),
            None if i + 1 == self.slots.len() => Some(0),
            None => Some(i + 1),
        }
    }

    /// The number with fingerprint `fp`, if any.
    pub fn get(&self, fp: u64, fps: &[u64]) -> Option<u32> {
        self.end(self.begin(fp), fps)
    }

    /// Begins the lookup of `fp`: reads the slot where its probe starts, in a large table a
    /// miss to memory. Begun before other work and ended after it ([`FpTable::end`]), the
    /// lookup waits for its miss beside that work, not after it.
    fn begin(&self, fp: u64) -> Lookup {
        let at = self.home(fp);
        Lookup { fp, at, held: self.slots[at].load(Relaxed) }
    }

    /// The number with the fingerprint of `lookup`, if any.
    fn end(&self, lookup: Lookup, fps: &[u64]) -> Option<u32> {
        let Lookup { fp, mut at, mut held } = lookup;
        loop {
            if held == EMPTY {
                return None;
            }
            if self.holds(held, fp, fps) {
                return Some(self.id(held));
            }
            at = self.next(at, None)?;
            held = self.slots[at].load(Relaxed);
        }
    }

    /// The number with fingerprint `fp`, and whether it is new: then it is `fps.len()`, and
    /// the caller pushes `fp` onto `fps`.
    pub fn insert(&mut self, fp: u64, fps: &[u64]) -> (u32, bool) {
        if (fps.len() + 1) * 4 > self.slots.len() * 3 {
            self.rehash(self.slots_for(fps.len() + 1), fps, 1);
        }
        let mut i = self.home(fp);
        loop {
            let held = *self.slots[i].get_mut();
            if held == EMPTY {
                let id = fps.len() as u32;
                *self.slots[i].get_mut() = self.entry(id, fp);
                return (id, true);
            }
            if self.holds(held, fp, fps) {
                return (self.id(held), false);
            }
            i = self.next(i, None).expect("a probe free to go round the table ends");
        }
    }

    /// Places the successor at `position` of the level being numbered, whose fingerprints are
    /// `level`, beside the numbered ones (`fps`), probing from `home` up to `end`; returns its
    /// slot and whether it is new (it took the slot empty), or `None` where the probe would pass
    /// `end`. Successors of one fingerprint share a home, so one thread places them all, in
    /// order ([`FpTable::in_regions`]): their slot holds the earliest's position. Room for all
    /// was reserved: the table never grows here.
    fn place(
        &self,
        fp: u64,
        home: usize,
        end: Option<usize>,
        position: u32,
        fps: &[u64],
        level: &[u64],
    ) -> Option<(u32, bool)> {
        let mut i = home;
        loop {
            let held = self.slots[i].load(Relaxed);
            if held == EMPTY {
                self.slots[i].store(PLACED | position, Relaxed);
                return Some((i as u32, true));
            }
            let found =
                if held & PLACED == 0 { self.holds(held, fp, fps) } else { level[(held & !PLACED) as usize] == fp };
            if found {
                return Some((i as u32, false));
            }
            i = self.next(i, end)?;
        }
    }

    fn slot(&self, i: u32) -> u32 {
        self.slots[i as usize].load(Relaxed)
    }

    /// Numbers slot `i`'s successor, of fingerprint `fp`.
    fn set(&self, i: u32, id: u32, fp: u64) {
        self.slots[i as usize].store(self.entry(id, fp), Relaxed);
    }

    /// The number slot `i` holds, once numbered.
    fn number_in(&self, i: u32) -> u32 {
        self.id(self.slot(i))
    }

    /// Forgets every number, keeping the slots.
    pub fn clear(&mut self) {
        for slot in &mut self.slots {
            *slot.get_mut() = EMPTY;
        }
    }

    /// The slot count that keeps `n` numbers at most 3/4 full (past that, linear probing's
    /// probes grow fast): the present count while it does, else half as many again at least,
    /// so that a search of n states rebuilds about 3n slots in all. Doubling would rebuild 2n
    /// but leave the table between 3/8 and 3/4 full, not 1/2 and 3/4: up to 10.7 bytes a
    /// state, not 8, and the table is the largest part of the visited set.
    fn slots_for(&self, n: usize) -> usize {
        let size = self.slots.len();
        if n * 4 <= size * 3 {
            size
        } else {
            (n * 4).div_ceil(3).max(size + size / 2)
        }
    }

    /// Makes room for `n` numbers in all (`fps` holds those so far).
    pub fn reserve(&mut self, n: usize, fps: &[u64], threads: usize) {
        let size = self.slots_for(n);
        if size > self.slots.len() {
            self.rehash(size, fps, threads);
        }
    }

    fn bytes_for(&self, n: usize) -> u64 {
        self.slots_for(n) as u64 * 4
    }

    pub fn bytes(&self) -> u64 {
        self.slots.capacity() as u64 * 4
    }

    /// Rebuilds the table with `size` slots from the fingerprints, on `threads` threads each
    /// filling a region of it ([`FpTable::in_regions`]).
    fn rehash(&mut self, size: usize, fps: &[u64], threads: usize) {
        // The old table goes first, so the two are never held together (only small ones are,
        // grown ahead: see `AHEAD`).
        self.slots = Vec::new();
        *self = FpTable::with_slots(size);
        self.fill(fps, threads);
    }

    /// Numbers `fps` in this empty table, on `threads` threads each filling a region of it
    /// ([`FpTable::in_regions`]).
    fn fill(&self, fps: &[u64], threads: usize) {
        self.in_regions(fps, threads, |id, fp, home, end| {
            let mut i = home;
            loop {
                if self.slots[i].load(Relaxed) == EMPTY {
                    self.slots[i].store(self.entry(id as u32, fp), Relaxed);
                    return true;
                }
                match self.next(i, end) {
                    Some(next) => i = next,
                    None => return false,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_numbered_in_order_found_and_found_again() {
        let mut v = Visited::default();
        let fps: Vec<u64> = (0..5000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 7).collect();
        v.reserve(100, 1);
        for (k, &fp) in fps.iter().enumerate() {
            assert_eq!(v.insert(fp, k as u32 / 2), (k as u32, true));
        }
        for (k, &fp) in fps.iter().enumerate() {
            assert_eq!(v.insert(fp, 0), (k as u32, false));
            assert_eq!((v.get(fp), v.parent(k as u32), v.fingerprint(k as u32)), (Some(k as u32), k as u32 / 2, fp));
        }
        assert_eq!(v.get(1), None);
    }

    /// Fingerprints that share their tag bits (and so are told apart only by `fps`), and that
    /// differ only in their tag bits (and so only by the tag), are each found as themselves,
    /// across the table's growth.
    #[test]
    fn tags_filter_but_fingerprints_decide() {
        let mut v = Visited::default();
        let same_tag: Vec<u64> = (0..3000u64).map(|i| (i + 1) << 40 | 0x5a).collect();
        let tags_only: Vec<u64> = (0..200u64).map(|i| 1 << 60 | i).collect();
        for (k, &fp) in same_tag.iter().chain(&tags_only).enumerate() {
            assert_eq!(v.insert(fp, 0), (k as u32, true), "{fp:#x}");
        }
        for (k, &fp) in same_tag.iter().chain(&tags_only).enumerate() {
            assert_eq!(v.get(fp), Some(k as u32), "{fp:#x}");
        }
        assert_eq!(v.get(3001 << 40 | 0x5a), None);
        assert_eq!(v.get(1 << 60 | 200), None);
    }

    /// Levels with repeats inside a part, across parts and of earlier levels, cut into parts
    /// of uneven sizes (some empty): every thread count numbers them as one by one would.
    #[test]
    fn a_level_is_numbered_as_one_by_one_whatever_the_threads() {
        let fp = |i: u64| (i % 7000).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 3;
        let levels: Vec<Vec<u64>> = (0..4u64).map(|l| (0..4000).map(|i| fp(i * 7 + l * 1777)).collect()).collect();
        let mut one = Visited::default();
        let expected: Vec<Vec<u32>> = levels
            .iter()
            .map(|level| {
                one.reserve(level.len(), 1);
                level.iter().enumerate().map(|(k, &f)| one.insert(f, k as u32).0).collect()
            })
            .collect();
        for threads in [1, 2, 3, 8] {
            let mut v = Visited::default();
            for (level, expected) in levels.iter().zip(&expected) {
                let parents: Vec<u32> = (0..level.len() as u32).collect();
                let steps = vec![0u16; level.len()];
                let mut ids = vec![0u32; level.len()];
                let cuts = [0, 0, 1, 900, 900, 2500, 3999, level.len()];
                let mut parts = Vec::new();
                let mut rest = &mut ids[..];
                for w in cuts.windows(2) {
                    let (i, r) = std::mem::take(&mut rest).split_at_mut(w[1] - w[0]);
                    rest = r;
                    let range = w[0]..w[1];
                    parts.push(Part {
                        fps: &level[range.clone()],
                        parents: &parents[range.clone()],
                        steps: &steps[range],
                        ids: i,
                    });
                }
                v.reserve(level.len(), threads);
                v.number(&mut parts, threads);
                assert_eq!(&ids, expected, "{threads} threads");
            }
            assert_eq!((v.fps, v.parent), (one.fps.clone(), one.parent.clone()), "{threads} threads");
        }
    }

    /// Probes that start at the last slot of a region, or of the table, leave it: they are
    /// placed after the regions, in order, and the level is still numbered as one by one would,
    /// the earliest of a repeated fingerprint first.
    #[test]
    fn probes_that_leave_their_region_are_placed_after_in_order() {
        let mut level: Vec<u64> = (1..=60_000u64).map(|i| i.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ 5).collect();
        let crafted = 12;
        let mut sized = Visited::default();
        sized.reserve(level.len() + 2 * crafted, 1);
        let size = sized.table.slots.len();
        let ends = [size / 2 - 1, size - 1];
        let at_ends: Vec<u64> = (1u64..)
            .map(|i| i.wrapping_mul(0x2545_f491_4f6c_dd1d))
            .filter(|&fp| ends.contains(&sized.table.home(fp)))
            .take(crafted)
            .collect();
        for (k, &fp) in at_ends.iter().enumerate() {
            level.insert(k * 4000, fp);
            level.insert(k * 4000 + 2000, fp);
        }
        let mut one = Visited::default();
        one.reserve(level.len(), 1);
        let expected: Vec<u32> = level.iter().enumerate().map(|(k, &fp)| one.insert(fp, k as u32).0).collect();
        for threads in [1, 2, 3] {
            let mut v = Visited::default();
            v.reserve(level.len(), threads);
            assert_eq!(v.table.slots.len(), size);
            let parents: Vec<u32> = (0..level.len() as u32).collect();
            let steps = vec![0u16; level.len()];
            let mut ids = vec![0u32; level.len()];
            v.number(&mut [Part { fps: &level, parents: &parents, steps: &steps, ids: &mut ids }], threads);
            assert_eq!(ids, expected, "{threads} threads");
            assert_eq!((&v.fps, &v.parent), (&one.fps, &one.parent), "{threads} threads");
            for (k, &fp) in one.fps.iter().enumerate() {
                assert_eq!(v.get(fp), Some(k as u32));
            }
        }
    }

    /// The table grows by half when it would pass 3/4 full, to any number of slots, so once
    /// past its first size it is between 1/2 and 3/4 full; states are found across its wrap.
    #[test]
    fn the_table_stays_between_half_and_three_quarters_full() {
        let mut v = Visited::default();
        let first = v.table.slots.len();
        for k in 0..200_000u64 {
            let fp = k.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ 11;
            v.insert(fp, 0);
            let (n, slots) = (v.len(), v.table.slots.len());
            assert!(n * 4 <= slots * 3, "{n} in {slots}");
            assert!(slots == first || n * 2 + 2 >= slots, "{n} in {slots}");
        }
        assert!(!v.table.slots.len().is_power_of_two());
        for k in 0..200_000u64 {
            assert_eq!(v.get(k.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ 11), Some(k as u32));
        }
    }

    /// A table and lists grown ahead of a merge, while the set is only read, replace the ones
    /// in use with room for what the merge adds; a set that need not grow, or is too large to
    /// grow beside what it holds, is not grown ahead.
    #[test]
    fn what_is_grown_ahead_takes_the_place_of_what_is_in_use() {
        let fp = |k: u64| k.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ 13;
        let mut v = Visited::default();
        for k in 0..3000 {
            v.insert(fp(k), k as u32);
        }
        v.reserve(100, 1);
        assert!(v.grows_to(0).is_none());
        assert!(v.grows_to(AHEAD as usize).is_none(), "too large to grow ahead");
        let growth = v.grows_to(10_000).expect("3,000 states and 10,000 more need more room");
        let grown = v.grown(growth);
        v.adopt(grown);
        let (slots, room) = (v.table.slots.len(), v.fps.capacity());
        assert_eq!((slots * 4 + room * 8 + v.parent.capacity() * 4) as u64, growth.bytes());
        v.reserve(10_000, 2);
        assert_eq!((v.table.slots.len(), v.fps.capacity()), (slots, room), "what was adopted has room for the merge");
        for k in 3000..13_000 {
            assert_eq!(v.insert(fp(k), k as u32), (k as u32, true));
        }
        assert_eq!((v.table.slots.len(), v.fps.capacity()), (slots, room));
        for k in 0..13_000 {
            assert_eq!((v.get(fp(k)), v.parent(k as u32)), (Some(k as u32), k as u32));
        }
    }

    #[test]
    fn reserving_allocates_what_it_said_it_would() {
        let mut v = Visited::default();
        for more in [10, 1000, 50_000, 7] {
            let said = v.bytes_while_reserving(more);
            v.reserve(more, 2);
            let after = v.bytes();
            for k in 0..more {
                v.insert((v.len() as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd), k as u32);
            }
            assert_eq!(v.bytes(), after, "inserting what was reserved allocates nothing");
            assert!(after <= said, "{after} > {said}");
        }
    }
}
