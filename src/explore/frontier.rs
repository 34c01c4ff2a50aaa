//! The BFS frontier: worlds packed losslessly ([`World::pack`](super::World::pack)), never whole
//! worlds, in blocks of fixed-size pages shared through a [`Pool`].
//!
//! The frontier is the largest thing a breadth-first search holds: a level being expanded and
//! the successors found for the next one, at ~120 bytes a packed world. Two things keep it
//! small:
//! - A level is stored in slices ([`Level`], [`Slice`]) of at most [`CHUNK`] worlds, the
//!   blocks the workers wrote, and a slice's pages go back to the pool as soon as it is
//!   expanded, where the workers take them for the successors they find. So the frontier peaks
//!   near the larger of the two levels, not at their sum.
//! - Nothing else per world but its length and a bit: a slice's new worlds are numbered in
//!   order from its first.
//!
//! Storing each world as its XOR difference from the one before (siblings differ in few bytes)
//! made the frontier 1.5 times smaller but took a third of the search's time; it was dropped.

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
    /// A page with room for `need` bytes (a world longer than a page, which none is near,
    /// gets a page of its own size).
    fn take(&self, need: usize) -> Vec<u8> {
        let page = if need <= PAGE { self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() } else { None };
        page.unwrap_or_else(|| {
            let size = need.max(PAGE);
            self.allocated.fetch_add(size as u64, Ordering::Relaxed);
            Vec::with_capacity(size)
        })
    }

    fn give(&self, pages: impl IntoIterator<Item = Vec<u8>>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        for mut page in pages {
            if page.capacity() == PAGE {
                page.clear();
                free.push(page);
            } else {
                self.allocated.fetch_sub(page.capacity() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Bytes of pages, in use or not.
    pub fn bytes(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }
}

/// Packed worlds in order, each after its length, in pages.
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

    /// Calls `each` with the worlds in order, in place; stops at the first error it returns.
    /// `Err(None)` if the block is corrupt, which it cannot be unless this module is wrong.
    pub fn each<E>(&self, mut each: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), Option<E>> {
        let mut left = self.count;
        for page in &self.pages {
            let mut input = &page[..];
            while !input.is_empty() {
                let len = usize::try_from(take_varint(&mut input).ok_or(None)?).map_err(|_| None)?;
                let (world, rest) = input.split_at_checked(len).ok_or(None)?;
                left = left.checked_sub(1).ok_or(None)?;
                each(world).map_err(Some)?;
                input = rest;
            }
        }
        if left == 0 {
            Ok(())
        } else {
            Err(None)
        }
    }

    /// Appends `world` (bytes of [`World::pack`](super::World::pack)) after its length.
    pub fn push(&mut self, pool: &Pool, world: &[u8]) {
        let need = world.len() + 10;
        if self.pages.last().is_none_or(|p| p.capacity() - p.len() < need) {
            self.pages.push(pool.take(need));
        }
        if let Some(page) = self.pages.last_mut() {
            varint(page, world.len() as u64);
            page.extend_from_slice(world);
            self.count += 1;
        }
    }
}

/// Packs worlds into blocks through a reusable buffer.
#[derive(Default)]
pub struct Writer {
    scratch: Vec<u8>,
}

impl Writer {
    /// Packs a world (with `pack`, which appends it to the buffer it is given) at the end of
    /// `block`.
    pub fn push_with(&mut self, block: &mut Block, pool: &Pool, pack: impl FnOnce(&mut Vec<u8>) -> usize) {
        self.scratch.clear();
        pack(&mut self.scratch);
        block.push(pool, &self.scratch);
    }
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
        block
            .each(|w| {
                out.push(w.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        out
    }

    #[test]
    fn worlds_read_back_in_order_and_pages_are_used_again() {
        let (pool, mut worlds) = (Pool::default(), worlds(1000));
        worlds.push(vec![7; 3 * PAGE]);
        let mut block = Block::default();
        let mut writer = Writer::default();
        for w in &worlds {
            writer.push_with(&mut block, &pool, |buf| {
                buf.extend_from_slice(w);
                w.len()
            });
        }
        assert!(block.pages.len() > 2, "several pages");
        assert!(block.pages.iter().all(|p| p.capacity() == PAGE || p.capacity() > 3 * PAGE), "pages never grow");
        assert_eq!(read(&block), worlds);
        let before = pool.bytes();
        block.recycle(&pool);
        assert!(pool.bytes() < before, "a page of its own size is freed");
        worlds.pop();
        let before = pool.bytes();
        for w in &worlds {
            block.push(&pool, w);
        }
        assert_eq!((pool.bytes(), read(&block)), (before, worlds));
    }

    #[test]
    fn a_level_counts_and_numbers_only_its_fresh_worlds() {
        let (pool, worlds) = (Pool::default(), worlds(100));
        let mut slice = Slice { first: 7, fresh: vec![0b1011, 1 << 35], ..Slice::default() };
        for w in &worlds[..40] {
            slice.block.push(&pool, w);
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
    fn a_corrupt_block_is_refused() {
        let pool = Pool::default();
        let mut block = Block::default();
        block.push(&pool, &[1, 2, 3]);
        block.count = 2;
        assert!(block.each(|_| Ok::<(), ()>(())).is_err(), "a world missing");
        block.count = 1;
        block.pages[0].push(5);
        assert!(block.each(|_| Ok::<(), ()>(())).is_err(), "a world cut short");
    }
}
