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
//! With `--frontier-dir`, a block is written to a file as soon as a worker has filled it, and
//! read back when it is expanded ([`Spill`]): the frontier then holds in memory only the pages
//! being filled and read, and the search the visited set and the workers' lists.
//!
//! Storing each world as its XOR difference from the one before (siblings differ in few bytes)
//! made the frontier 1.5 times smaller but took a third of the search's time; it was dropped.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::endpoint::pack::{take_varint, varint};

/// States of a level per chunk: the unit of work a worker takes.
pub const CHUNK: usize = 512;

/// Bytes per page. A world's difference never straddles two pages.
const PAGE: usize = 16 << 10;

/// Two files for the frontier's blocks, already unlinked (nothing is left behind, whatever way
/// the process ends): the level being expanded is read from one while the next is written to
/// the other; between levels the one read is emptied and they swap.
pub struct Spill {
    files: [File; 2],
    /// The file the level being built is written to.
    write: AtomicUsize,
    /// Bytes written to each file.
    ends: [AtomicU64; 2],
    /// The first error writing or reading back, if any: the search stops on it.
    failed: Mutex<Option<String>>,
}

/// Where a block is on disk.
#[derive(Clone, Copy, Debug)]
struct OnDisk {
    file: usize,
    offset: u64,
    len: usize,
}

impl Spill {
    /// Two fresh files in `dir`.
    pub fn in_dir(dir: &Path) -> io::Result<Spill> {
        Ok(Spill {
            files: [tempfile::tempfile_in(dir)?, tempfile::tempfile_in(dir)?],
            write: AtomicUsize::new(0),
            ends: [AtomicU64::new(0), AtomicU64::new(0)],
            failed: Mutex::new(None),
        })
    }

    fn fail(&self, what: &str, e: &io::Error) {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| format!("{what}: {e}"));
    }

    /// The first error writing or reading the files, if any.
    pub fn error(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Appends `pages` to the file of the level being built, as one run of bytes.
    fn store(&self, pages: &[Vec<u8>]) -> io::Result<OnDisk> {
        let file = self.write.load(Ordering::Relaxed);
        let len: usize = pages.iter().map(Vec::len).sum();
        let mut at = self.ends[file].fetch_add(len as u64, Ordering::Relaxed);
        let offset = at;
        for page in pages {
            self.files[file].write_all_at(page, at)?;
            at += page.len() as u64;
        }
        Ok(OnDisk { file, offset, len })
    }

    fn load(&self, at: OnDisk) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; at.len];
        self.files[at.file].read_exact_at(&mut bytes, at.offset)?;
        Ok(bytes)
    }

    /// Between levels, once the level read is expanded: empties its file, which the next level's
    /// successors are written to.
    pub fn next_level(&self) {
        let read = 1 - self.write.load(Ordering::Relaxed);
        if let Err(e) = self.files[read].set_len(0) {
            self.fail("emptying a frontier file", &e);
        }
        self.ends[read].store(0, Ordering::Relaxed);
        self.write.store(read, Ordering::Relaxed);
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.ends.iter().map(|e| e.load(Ordering::Relaxed)).sum()
    }
}

/// Pages not in use, and how many bytes of pages exist. Pages are never freed before the search
/// ends: they go back and forth between levels and workers, so the bytes they hold are the
/// frontier's peak. With a [`Spill`], full blocks go to disk.
#[derive(Default)]
pub struct Pool<'s> {
    free: Mutex<Vec<Vec<u8>>>,
    allocated: AtomicU64,
    spill: Option<&'s Spill>,
}

impl<'s> Pool<'s> {
    /// A pool whose full blocks go to `spill`, if given.
    pub fn new(spill: Option<&'s Spill>) -> Self {
        Pool { spill, ..Pool::default() }
    }

    /// The files blocks go to, if any.
    pub fn spill(&self) -> Option<&'s Spill> {
        self.spill
    }

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

/// Packed worlds in order, each after its length, in pages or in a run of a [`Spill`] file.
#[derive(Default)]
pub struct Block {
    pages: Vec<Vec<u8>>,
    count: usize,
    disk: Option<OnDisk>,
}

impl Block {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the pages to `pool`, leaving the block empty (its bytes on disk, if any, go
    /// when the level's file is emptied).
    pub fn recycle(&mut self, pool: &Pool<'_>) {
        pool.give(self.pages.drain(..));
        self.count = 0;
        self.disk = None;
    }

    /// With a [`Spill`] in `pool`, writes the block to disk and returns its pages to the pool.
    /// If the write fails the block stays in memory, and the error is kept for the search to
    /// stop on.
    pub fn spill(&mut self, pool: &Pool<'_>) {
        let Some(spill) = pool.spill else { return };
        if self.disk.is_some() || self.pages.is_empty() {
            return;
        }
        match spill.store(&self.pages) {
            Ok(at) => {
                pool.give(self.pages.drain(..));
                self.disk = Some(at);
            }
            Err(e) => spill.fail("writing the frontier to disk", &e),
        }
    }

    /// Calls `each` with the worlds in order, in place; stops at the first error it returns.
    /// `Err(None)` if the block is corrupt, which it cannot be unless this module is wrong, or
    /// cannot be read back from disk (the error is then kept in the pool's [`Spill`]).
    pub fn each<E>(&self, pool: &Pool<'_>, mut each: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), Option<E>> {
        let loaded;
        let pages = match (self.disk, pool.spill) {
            (Some(at), Some(spill)) => match spill.load(at) {
                Ok(bytes) => {
                    loaded = [bytes];
                    &loaded[..]
                }
                Err(e) => {
                    spill.fail("reading the frontier back from disk", &e);
                    return Err(None);
                }
            },
            (Some(_), None) => return Err(None),
            (None, _) => &self.pages[..],
        };
        let mut left = self.count;
        for page in pages {
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
    pub fn push(&mut self, pool: &Pool<'_>, world: &[u8]) {
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
    pub fn push_with(&mut self, block: &mut Block, pool: &Pool<'_>, pack: impl FnOnce(&mut Vec<u8>) -> usize) {
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

    /// How many new states the slices `range` hold (none, once taken out).
    pub fn states_in(&self, range: std::ops::Range<usize>) -> usize {
        self.slices[range].iter().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// Takes slice `c` out of the level.
    pub fn take(&self, c: usize) -> Slice {
        self.slices
            .get(c)
            .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    /// Returns the pages of every slice left to `pool` and empties the level.
    pub fn clear(&mut self, pool: &Pool<'_>) {
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

    fn read(block: &Block, pool: &Pool<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        block
            .each(pool, |w| {
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
        assert_eq!(read(&block, &pool), worlds);
        let before = pool.bytes();
        block.recycle(&pool);
        assert!(pool.bytes() < before, "a page of its own size is freed");
        worlds.pop();
        let before = pool.bytes();
        for w in &worlds {
            block.push(&pool, w);
        }
        assert_eq!((pool.bytes(), read(&block, &pool)), (before, worlds));
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
        assert_eq!((back.first, read(&back.block, &pool)), (7, worlds[..40].to_vec()));
        assert!(level.take(0).block.is_empty(), "taken once");
        level.clear(&pool);
        assert!(level.is_empty());
    }

    /// Spilled blocks read back as they were written, from either file, and the file of a level
    /// expanded is emptied when the next level begins.
    #[test]
    fn spilled_blocks_read_back_and_their_pages_are_used_again() {
        let spill = Spill::in_dir(&std::env::temp_dir()).unwrap();
        let (pool, worlds) = (Pool::new(Some(&spill)), worlds(2000));
        let fill = |part: &[Vec<u8>]| {
            let mut block = Block::default();
            for w in part {
                block.push(&pool, w);
            }
            block.spill(&pool);
            block
        };
        let (first, second) = (fill(&worlds[..700]), fill(&worlds[700..1500]));
        assert!(first.pages.is_empty() && second.pages.is_empty(), "the pages went back to the pool");
        let held = pool.bytes();
        assert_eq!(spill.bytes(), (first.disk.unwrap().len + second.disk.unwrap().len) as u64);
        spill.next_level();
        let third = fill(&worlds[1500..]);
        assert_eq!(pool.bytes(), held, "the pages were used again");
        assert_eq!([read(&first, &pool), read(&second, &pool)].concat(), worlds[..1500].to_vec());
        assert_eq!(read(&third, &pool), worlds[1500..].to_vec());
        spill.next_level();
        assert_eq!(spill.bytes(), third.disk.unwrap().len as u64, "the first level's file is emptied");
        assert!(first.each(&pool, |_| Ok::<(), ()>(())).is_err(), "what was emptied is not read as worlds");
        assert_eq!(spill.error().map(|e| e.contains("reading the frontier back")), Some(true));
    }

    #[test]
    fn a_corrupt_block_is_refused() {
        let pool = Pool::default();
        let mut block = Block::default();
        block.push(&pool, &[1, 2, 3]);
        block.count = 2;
        assert!(block.each(&pool, |_| Ok::<(), ()>(())).is_err(), "a world missing");
        block.count = 1;
        block.pages[0].push(5);
        assert!(block.each(&pool, |_| Ok::<(), ()>(())).is_err(), "a world cut short");
    }
}
