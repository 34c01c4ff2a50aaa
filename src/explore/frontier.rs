//! The BFS frontier: worlds packed losslessly ([`World::pack`](super::World::pack)), never whole
//! worlds, in blocks of fixed-size pages shared through a [`Pool`].
//!
//! The frontier is the largest thing a breadth-first search holds: a level being expanded and
//! the successors found for the next one, at ~120 bytes a packed world. Three things keep it
//! small:
//! - A level is stored chunk by chunk ([`Level`]), one [`Block`] per chunk of [`CHUNK`]
//!   states, and a chunk's pages go back to the pool as soon as it is expanded, where the
//!   workers take them for the successors they find. So the frontier peaks near the larger of
//!   the two levels, not at their sum.
//! - Consecutive worlds in a block are mostly siblings and differ in a few bytes, so each is
//!   stored as its difference from the one before: the bytes XORed, runs of zeros skipped.
//!   A block is read from its start, in order, as the search reads it.
//! - Nothing else per world: a block's worlds are numbered by their position, and the encoding
//!   says where each one ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::endpoint::pack::{take_varint, varint};

/// States of a level per chunk: the unit of work a worker takes.
pub const CHUNK: usize = 512;

/// Bytes per page. A world's difference never straddles two pages.
const PAGE: usize = 64 << 10;

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
            encode(&self.last, world, page);
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
/// then (zeros to skip, bytes that differ, their XOR) runs up to its length.
fn encode(prev: &[u8], next: &[u8], out: &mut Vec<u8>) {
    varint(out, next.len() as u64);
    let old = |i: usize| prev.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < next.len() {
        let skip = next[i..].iter().enumerate().take_while(|&(j, &b)| b == old(i + j)).count();
        i += skip;
        let differ = next[i..].iter().enumerate().take_while(|&(j, &b)| b != old(i + j)).count();
        varint(out, skip as u64);
        varint(out, differ as u64);
        out.extend(next[i..i + differ].iter().enumerate().map(|(j, &b)| b ^ old(i + j)));
        i += differ;
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

/// A BFS level: its states numbered from `first` in order, a [`Block`] per chunk of
/// [`CHUNK`]. A worker takes a chunk's block out (and returns its pages to the pool once
/// expanded), so the lock on each block is taken once.
#[derive(Default)]
pub struct Level {
    pub first: u32,
    len: usize,
    chunks: Vec<Mutex<Block>>,
}

impl Level {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Takes chunk `c` out of the level.
    pub fn take(&self, c: usize) -> Block {
        self.chunks
            .get(c)
            .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    /// Returns the pages of every chunk left to `pool` and empties the level.
    pub fn clear(&mut self, pool: &Pool) {
        for m in self.chunks.drain(..) {
            m.into_inner().unwrap_or_else(|e| e.into_inner()).recycle(pool);
        }
        self.len = 0;
    }
}

/// Builds a level in order: each world appended to the last chunk, a new chunk every [`CHUNK`].
#[derive(Default)]
pub struct LevelBuilder {
    writer: Writer,
    current: Block,
    chunks: Vec<Mutex<Block>>,
    len: usize,
}

impl LevelBuilder {
    pub fn push(&mut self, pool: &Pool, world: &[u8]) {
        if self.current.count == CHUNK {
            self.chunks.push(Mutex::new(std::mem::take(&mut self.current)));
        }
        self.writer.push(&mut self.current, pool, world);
        self.len += 1;
    }

    /// The level built, its states numbered from `first`; the builder is empty again.
    pub fn finish(&mut self, first: u32) -> Level {
        if !self.current.is_empty() {
            self.chunks.push(Mutex::new(std::mem::take(&mut self.current)));
        }
        let len = std::mem::take(&mut self.len);
        Level { first, len, chunks: std::mem::take(&mut self.chunks) }
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
    fn a_level_is_built_in_chunks_and_taken_chunk_by_chunk() {
        let (pool, worlds) = (Pool::default(), worlds(1300));
        let mut builder = LevelBuilder::default();
        for w in &worlds {
            builder.push(&pool, w);
        }
        let mut level = builder.finish(7);
        assert_eq!((level.first, level.len(), level.chunks()), (7, 1300, 3));
        let mut back = Vec::new();
        for c in 0..level.chunks() {
            let mut block = level.take(c);
            back.extend(read(&block));
            block.recycle(&pool);
        }
        assert_eq!(back, worlds);
        assert!(level.take(0).is_empty(), "taken once");
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
