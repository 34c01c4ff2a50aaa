//! The BFS frontier: worlds packed losslessly ([`World::pack`](super::World::pack)), never whole
//! worlds, in blocks of fixed-size pages shared through a [`Pool`].
//!
//! The frontier is the largest thing a breadth-first search holds: a level being expanded and
//! the successors found for the next one, at ~120 bytes a packed world. Three things keep it
//! small:
//! - A level is stored in slices ([`Level`], [`Slice`]) of at most [`CHUNK`] worlds, the
//!   blocks the workers wrote, and a slice's pages go back to the pool as soon as it is
//!   expanded, where the workers take them for the successors they find. So the frontier peaks
//!   near the larger of the two levels, not at their sum.
//! - Consecutive worlds in a block are mostly siblings and differ in a few bytes, so each is
//!   stored as its difference from the one before: the bytes XORed, runs of zeros skipped.
//!   A block is read from its start, in order, as the search reads it.
//! - Nothing else per world but a bit: a slice's new worlds are numbered in order from its
//!   first, and the encoding says where each one ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::endpoint::pack::{take_varint, varint};

/// States of a level per chunk: the unit of work a worker takes.
pub const CHUNK: usize = 512;

/// Bytes per page. A world's difference never straddles two pages.
const PAGE: usize = 16 << 10;

/// Pages not in use, and how many bytes of pages exist. Pages are never freed before the search
/// ends: they go back and forth between levels and workers, so the bytes they hold are the
/// frontier's peak.
#[derive(Default)]
pub struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    allocated: AtomicU64,
}

impl Pool {
    fn take(&self) -> Vec<u8> {
        let page = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        page.unwrap_or_else(|| {
            self.allocated.fetch_add(PAGE as u64, Ordering::Relaxed);
            Vec::with_capacity(PAGE)
        })
    }

    fn give(&self, pages: impl IntoIterator<Item = Vec<u8>>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.extend(pages.into_iter().map(|mut p| {
            p.clear();
            p
        }));
    }

    /// Bytes of pages, in use or not.
    pub fn bytes(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }
}

/// Worlds in order, each as its difference from the one before, in pages.
#[derive(Default)]
pub struct Block {
    pages: Vec<Vec<u8>>,
    count: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the pages to `pool`, leaving the block empty.
    pub fn recycle(&mut self, pool: &Pool) {
        pool.give(self.pages.drain(..));
        self.count = 0;
    }
}

/// Appends worlds to blocks; keeps the last world written, whole, to encode the next against.
#[derive(Default)]
pub struct Writer {
    last: Vec<u8>,
    scratch: Vec<u8>,
    xor: Vec<u8>,
}

impl Writer {
    /// Packs a world (with `pack`) at the end of `block`.
    pub fn push_with(&mut self, block: &mut Block, pool: &Pool, pack: impl FnOnce(&mut Vec<u8>) -> usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        pack(&mut scratch);
        self.push(block, pool, &scratch);
        self.scratch = scratch;
    }

    /// Appends `world` (bytes of [`World::pack`](super::World::pack)) at the end of `block`.
    pub fn push(&mut self, block: &mut Block, pool: &Pool, world: &[u8]) {
        if block.count == 0 {
            self.last.clear();
        }
        // The most an encoding takes: its length, and per byte a skip, a count and the byte.
        let most = 3 * world.len() + 20;
        let full = block.pages.last().is_none_or(|p| p.capacity() - p.len() < most);
        if full {
            block.pages.push(pool.take());
        }
        if let Some(page) = block.pages.last_mut() {
            encode(&self.last, world, page, &mut self.xor);
        }
        block.count += 1;
        self.last.clear();
        self.last.extend_from_slice(world);
    }
}

/// Reads a block's worlds in order, into a reusable buffer.
#[derive(Default)]
pub struct Reader {
    world: Vec<u8>,
}

impl Reader {
    /// Calls `each` with the block's worlds in order; stops at the first error it returns.
    /// `Err(None)` if the block is corrupt, which it cannot be unless this module is wrong.
    pub fn each<E>(&mut self, block: &Block, mut each: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), Option<E>> {
        self.world.clear();
        let mut left = block.count;
        for page in &block.pages {
            let mut input = &page[..];
            while !input.is_empty() {
                if left == 0 {
                    return Err(None);
                }
                decode(&mut input, &mut self.world).ok_or(None)?;
                each(&self.world).map_err(Some)?;
                left -= 1;
            }
        }
        if left == 0 {
            Ok(())
        } else {
            Err(None)
        }
    }
}

/// Appends `next` as its difference from `prev` (both read as if padded with zeros): its length,
/// then (zeros to skip, bytes that differ, their XOR) runs up to its length. This runs for every
/// state found, so the XOR is taken in one pass into `xor` and zeros are skipped 8 at a time.
fn encode(prev: &[u8], next: &[u8], out: &mut Vec<u8>, xor: &mut Vec<u8>) {
    xor.clear();
    xor.extend_from_slice(next);
    for (x, p) in xor.iter_mut().zip(prev) {
        *x ^= p;
    }
    let n = xor.len();
    varint(out, n as u64);
    let mut i = 0;
    while i < n {
        let start = i;
        while xor.get(i..i + 8).is_some_and(|w| w == [0u8; 8]) {
            i += 8;
        }
        while i < n && xor[i] == 0 {
            i += 1;
        }
        let from = i;
        while i < n && xor[i] != 0 {
            i += 1;
        }
        varint(out, (from - start) as u64);
        varint(out, (i - from) as u64);
        out.extend_from_slice(&xor[from..i]);
    }
}

/// Turns `world` (the previous world, whole) into the next one, from its difference at the
/// start of `input`, and moves `input` past it. `None` if `input` does not start with one.
fn decode(input: &mut &[u8], world: &mut Vec<u8>) -> Option<()> {
    let len = usize::try_from(take_varint(input)?).ok()?;
    world.resize(len, 0);
    let mut i = 0;
    while i < len {
        i = i.checked_add(usize::try_from(take_varint(input)?).ok()?)?;
        let differ = usize::try_from(take_varint(input)?).ok()?;
        let (xor, rest) = input.split_at_checked(differ)?;
        for (b, x) in world.get_mut(i..i.checked_add(differ)?)?.iter_mut().zip(xor) {
            *b ^= x;
        }
        *input = rest;
        i += differ;
    }
    Some(())
}

/// A slice of a level: a block of worlds that a worker found expanding the level before, in
/// the order found, and which of them were new at the merge (`fresh`, a bit each). The new ones
/// are numbered in order from `first`; the others were found first by another worker, or by
/// this one in an earlier slice, and are skipped. So the merge never reads or rewrites a world:
/// each world is encoded once, by the worker that found it, and decoded once.
#[derive(Default)]
pub struct Slice {
    pub block: Block,
    pub first: u32,
    pub fresh: Vec<u64>,
}

impl Slice {
    /// Whether world `j` of the block is a new state.
    pub fn is_fresh(&self, j: usize) -> bool {
        self.fresh.get(j / 64).is_some_and(|w| w >> (j % 64) & 1 != 0)
    }

    /// How many of the block's worlds are new states.
    pub fn len(&self) -> usize {
        self.fresh.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// A BFS level: its new states in order, in slices of at most [`CHUNK`] worlds. A worker takes
/// a slice out (and returns its pages to the pool once expanded), so the lock on each slice is
/// taken once.
#[derive(Default)]
pub struct Level {
    len: usize,
    slices: Vec<Mutex<Slice>>,
}

impl Level {
    /// A level of the given slices.
    pub fn new(slices: Vec<Slice>) -> Self {
        let len = slices.iter().map(Slice::len).sum();
        Level { len, slices: slices.into_iter().map(Mutex::new).collect() }
    }

    /// How many new states.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn slices(&self) -> usize {
        self.slices.len()
    }

    /// Takes slice `c` out of the level.
    pub fn take(&self, c: usize) -> Slice {
        self.slices
            .get(c)
            .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    /// Returns the pages of every slice left to `pool` and empties the level.
    pub fn clear(&mut self, pool: &Pool) {
        for m in self.slices.drain(..) {
            m.into_inner().unwrap_or_else(|e| e.into_inner()).block.recycle(pool);
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worlds of varied lengths that share most bytes, like siblings.
    fn worlds(n: u32) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut w: Vec<u8> = (0..100 + (i % 7) as usize * 9).map(|j| (j as u8).wrapping_mul(31)).collect();
                w[(i as usize * 13) % 90] ^= i as u8 | 1;
                w[5] = (i / 3) as u8;
                w
            })
            .collect()
    }

    fn read(block: &Block) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        Reader::default()
            .each(block, |w| {
                out.push(w.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        out
    }

    #[test]
    fn worlds_read_back_in_order_and_take_less_room() {
        let (pool, worlds) = (Pool::default(), worlds(12_000));
        let mut block = Block::default();
        let mut writer = Writer::default();
        for w in &worlds {
            writer.push(&mut block, &pool, w);
        }
        assert!(block.pages.len() > 1, "several pages");
        let raw: usize = worlds.iter().map(Vec::len).sum();
        let stored: usize = block.pages.iter().map(Vec::len).sum();
        assert!(stored * 4 < raw, "{stored} of {raw}");
        assert!(block.pages.iter().all(|p| p.capacity() == PAGE), "pages never grow");
        assert_eq!(read(&block), worlds);
        // Pages go back to the pool and are used again.
        let before = pool.bytes();
        block.recycle(&pool);
        for w in &worlds {
            writer.push(&mut block, &pool, w);
        }
        assert_eq!((pool.bytes(), read(&block)), (before, worlds));
    }

    #[test]
    fn a_level_counts_and_numbers_only_its_fresh_worlds() {
        let (pool, worlds) = (Pool::default(), worlds(100));
        let mut writer = Writer::default();
        let mut slice = Slice { first: 7, fresh: vec![0b1011, 1 << 35], ..Slice::default() };
        for w in &worlds[..40] {
            writer.push(&mut slice.block, &pool, w);
        }
        let fresh: Vec<usize> = (0..200).filter(|&j| slice.is_fresh(j)).collect();
        assert_eq!((slice.len(), fresh), (4, vec![0, 1, 3, 99]));
        let mut level = Level::new(vec![slice, Slice::default()]);
        assert_eq!((level.len(), level.slices()), (4, 2));
        let back = level.take(0);
        assert_eq!((back.first, read(&back.block)), (7, worlds[..40].to_vec()));
        assert!(level.take(0).block.is_empty(), "taken once");
        level.clear(&pool);
        assert!(level.is_empty());
    }

    #[test]
    fn a_corrupt_difference_is_refused() {
        let mut world = vec![1, 2, 3];
        assert!(decode(&mut &[3, 0, 5, 1][..], &mut world).is_none());
        assert!(decode(&mut &[3, 9, 1, 1][..], &mut world).is_none());
        assert!(decode(&mut &[2, 0, 1, 7, 9][..], &mut world).is_none());
        let mut world = vec![1, 2, 3];
        let mut input = &[4, 1, 1, 6, 1, 1, 4, 99][..];
        assert!(decode(&mut input, &mut world).is_some());
        assert_eq!((world, input), (vec![1, 4, 3, 4], &[99][..]));
    }
}
