//! The BFS frontier: worlds packed losslessly ([`World::pack`](super::World::pack)), one buffer
//! per worker, never whole worlds. A level is read in place from the buffers the workers wrote
//! it to during the level before (no copy), and each state is unpacked once into a reusable
//! world by the worker that expands it.
//!
//! The frontier is the largest thing a search holds after the visited set: two levels at once,
//! and a packed world is about 120 bytes. Consecutive worlds in a buffer are mostly siblings
//! (successors of one state) and differ in a few bytes, so each is stored as its difference
//! from the one before: the bytes XORed, runs of zeros skipped. Every [`KEY`]th world is stored
//! whole, so reading a world decodes at most `KEY` differences; reading in order, as the
//! workers do, decodes each once ([`Cursor`]).

use crate::endpoint::pack::{take_varint, varint};

/// Every `KEY`th world of a buffer is stored whole (its difference from nothing).
const KEY: usize = 32;

/// Packed worlds in one buffer, each as its difference from the one before.
#[derive(Default)]
pub struct Packed {
    bytes: Vec<u8>,
    /// Where each world's bytes end.
    ends: Vec<usize>,
    /// The last world pushed, whole, and a buffer to pack the next one into.
    last: Vec<u8>,
    scratch: Vec<u8>,
}

impl Packed {
    /// Packs a world at the end.
    pub fn push_with(&mut self, pack: impl FnOnce(&mut Vec<u8>) -> usize) {
        self.scratch.clear();
        pack(&mut self.scratch);
        if self.ends.len().is_multiple_of(KEY) {
            self.last.clear();
        }
        encode(&self.last, &self.scratch, &mut self.bytes);
        std::mem::swap(&mut self.last, &mut self.scratch);
        self.ends.push(self.bytes.len());
    }

    fn encoded(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.bytes[start..self.ends[k]]
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.last.clear();
    }

    pub fn heap_bytes(&self) -> u64 {
        (self.bytes.capacity() + self.ends.capacity() * 8 + self.last.capacity() + self.scratch.capacity()) as u64
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

/// Turns `world` (the previous world, whole) into the next one, from its difference `input`.
/// `None` if `input` is not such a difference.
fn decode(mut input: &[u8], world: &mut Vec<u8>) -> Option<()> {
    let input = &mut input;
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
    input.is_empty().then_some(())
}

/// Where a reader is in one buffer: the world it decoded last, whole.
#[derive(Default)]
pub struct Cursor {
    at: Option<usize>,
    world: Vec<u8>,
}

impl Cursor {
    /// World `k` of `packed`, decoded from the world this cursor holds when that one is
    /// before it (since the last whole world), else from the last whole world before it.
    fn read<'c>(&'c mut self, packed: &Packed, k: usize) -> Option<&'c [u8]> {
        let key = k - k % KEY;
        let from = match self.at {
            Some(at) if at <= k && at >= key => at + 1,
            _ => key,
        };
        if from == key {
            self.world.clear();
        }
        for j in from..=k {
            decode(packed.encoded(j), &mut self.world)?;
        }
        self.at = Some(k);
        Some(&self.world)
    }
}

/// A BFS level: its states, packed in the buffers the workers wrote them to, with their state
/// numbers, in the order they were numbered.
#[derive(Default)]
pub struct Level {
    pub parts: Vec<Packed>,
    /// (state number, part, index in the part).
    pub states: Vec<(u32, u32, u32)>,
}

impl Level {
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The number of state `k`.
    pub fn id(&self, k: usize) -> u32 {
        self.states[k].0
    }

    /// State `k`: its number and its packed world, decoded with `cursors` (one per part, kept
    /// by the reader between calls so that reading in order decodes each world once). `None` if
    /// the buffers are corrupt, which they cannot be unless this module is wrong.
    pub fn get<'c>(&self, k: usize, cursors: &'c mut Vec<Cursor>) -> Option<(u32, &'c [u8])> {
        let (id, part, i) = self.states[k];
        if cursors.len() < self.parts.len() {
            cursors.resize_with(self.parts.len(), Cursor::default);
        }
        let world = cursors[part as usize].read(&self.parts[part as usize], i as usize)?;
        Some((id, world))
    }

    /// Forgets where `cursors` were: the buffers are about to hold another level.
    pub fn reset(cursors: &mut [Cursor]) {
        for c in cursors {
            c.at = None;
        }
    }

    pub fn heap_bytes(&self) -> u64 {
        self.parts.iter().map(Packed::heap_bytes).sum::<u64>() + self.states.capacity() as u64 * 12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worlds of varied lengths that share most bytes, like siblings.
    fn worlds() -> Vec<Vec<u8>> {
        (0..200u32)
            .map(|i| {
                let mut w: Vec<u8> = (0..100 + (i % 7) as usize * 9).map(|j| (j as u8).wrapping_mul(31)).collect();
                w[(i as usize * 13) % 90] ^= i as u8 | 1;
                w[5] = (i / 3) as u8;
                w
            })
            .collect()
    }

    #[test]
    fn worlds_read_back_in_any_order_and_take_less_room() {
        let worlds = worlds();
        let mut packed = Packed::default();
        for w in &worlds {
            packed.push_with(|buf| {
                buf.extend_from_slice(w);
                w.len()
            });
        }
        let raw: usize = worlds.iter().map(Vec::len).sum();
        assert!(packed.bytes.len() * 4 < raw, "{} of {raw}", packed.bytes.len());
        let mut cursor = Cursor::default();
        let order = (0..200).chain((0..200).rev()).chain((0..200).map(|i| (i * 37) % 200)).chain((0..200).step_by(3));
        for k in order {
            assert_eq!(cursor.read(&packed, k).unwrap(), &worlds[k][..], "world {k}");
        }
    }

    #[test]
    fn a_corrupt_difference_is_refused() {
        let mut world = vec![1, 2, 3];
        assert!(decode(&[3, 0, 5, 1], &mut world).is_none());
        assert!(decode(&[3, 9, 1, 1], &mut world).is_none());
        assert!(decode(&[2, 0, 1, 7, 9], &mut world).is_none());
        let mut world = vec![1, 2, 3];
        assert!(decode(&[4, 1, 1, 6, 1, 1, 4], &mut world).is_some());
        assert_eq!(world, [1, 4, 3, 4]);
    }
}
