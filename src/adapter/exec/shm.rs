//! The stack protocol's shared-memory transport (`docs/stack-protocol.md`, "Shared memory"):
//! the same frames as on the pipes, passed through a mapped file, with waiting by spinning,
//! then yielding, then a futex.
//!
//! Why: a pipe round trip costs two system calls on each side and, when the two processes sit
//! on different cores, a cross-core wakeup. On the 2-core VMs this was built on that is 7 µs on
//! one core and 34 µs across two, against 0.4 µs for a cache line bounced between two spinning
//! cores, while a whole in-process fuzz run of ~28 steps takes 4 to 7 µs. A script step is a
//! round trip, so the transport decides whether an `exec` stack runs at 2 % of in-process speed
//! or at a useful fraction of it.
//!
//! Layout of the file (little-endian, each header on its own 64-byte line):
//! ```text
//!   0  u32 magic "TCPS", u32 version 1, u32 capacity (bytes of each data area)
//!  64  requests: u32 seq, u32 waiting, u32 len        128  data[capacity]
//!  128 + capacity (rounded up to 64): answers, the same
//! ```
//! A side publishes a batch of frames by writing them to its data area, then `len`, then
//! incrementing `seq` (release); if the other side said it is `waiting`, it wakes the futex
//! on `seq`. The two sides alternate strictly (requests, then their answers), so an area is never
//! written while it is read.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

/// "TCPS", little-endian.
const MAGIC: u32 = u32::from_le_bytes(*b"TCPS");
const VERSION: u32 = 1;
const LINE: usize = 64;
const DATA: usize = 2 * LINE;

/// Bytes of each data area the harness asks for: the largest batch, a reset and a frame.
pub const CAPACITY: usize = (super::protocol::MAX_FRAME + 4) * 2;

/// How long a wait spins before it yields: about a microsecond, what a step usually takes on the
/// other side. Longer only wastes a core the other side may be waiting for: with two jobs on two
/// cores (four processes), 256 spins gave a quarter of the runs/s of one job.
const SPINS: usize = 32;

/// How many times a wait yields before it sleeps on the futex.
const YIELDS: usize = 64;

/// The environment variable naming the file.
pub const ENV: &str = "TCPCHECK_SHM";

/// Which way a batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Requests,
    Answers,
}

/// A mapped transport file.
pub struct Region {
    base: NonNull<u8>,
    size: usize,
    capacity: usize,
    /// The `seq` of each way last seen or published here.
    seen: [u32; 2],
}

// SAFETY: the region is plain shared memory reached only through atomics and the strictly
// alternating protocol above; moving the mapping to another thread changes nothing.
unsafe impl Send for Region {}

/// What a wait ended with, besides a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// The `check` callback said to stop (the other side died, a deadline passed).
    Stopped,
}

impl Region {
    fn size_for(capacity: usize) -> usize {
        DATA + 2 * capacity.next_multiple_of(LINE) + DATA
    }

    /// Creates the file at `path` (for a child to open) and maps it.
    pub fn create(path: &Path, capacity: usize) -> std::io::Result<Region> {
        let file = File::options().read(true).write(true).create_new(true).open(path)?;
        let size = Region::size_for(capacity);
        file.set_len(size as u64)?;
        let region = Region::map(&file, size, capacity)?;
        region.word(0).store(MAGIC, Ordering::Relaxed);
        region.word(4).store(VERSION, Ordering::Relaxed);
        region.word(8).store(capacity as u32, Ordering::Release);
        Ok(region)
    }

    /// Maps a file the harness created.
    pub fn open(path: &Path) -> std::io::Result<Region> {
        let file = File::options().read(true).write(true).open(path)?;
        let len = file.metadata()?.len() as usize;
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{ENV}: {what}"));
        if len < DATA {
            return Err(bad("the file is too short"));
        }
        let probe = Region::map(&file, DATA, 0)?;
        let (magic, version, capacity) = (
            probe.word(0).load(Ordering::Acquire),
            probe.word(4).load(Ordering::Acquire),
            probe.word(8).load(Ordering::Acquire) as usize,
        );
        drop(probe);
        if magic != MAGIC || version != VERSION {
            return Err(bad("not a tcpcheck transport file of version 1"));
        }
        if Region::size_for(capacity) > len {
            return Err(bad("the file is shorter than its capacity says"));
        }
        Region::map(&file, Region::size_for(capacity), capacity)
    }

    fn map(file: &File, size: usize, capacity: usize) -> std::io::Result<Region> {
        let length = std::num::NonZeroUsize::new(size).ok_or(std::io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh shared mapping of a file we hold open, of the file's size; it is
        // unmapped in Drop and reached only through this struct.
        let base = unsafe {
            mmap(None, length, ProtFlags::PROT_READ | ProtFlags::PROT_WRITE, MapFlags::MAP_SHARED, file.as_fd(), 0)
        }?;
        Ok(Region { base: base.cast(), size, capacity, seen: [0; 2] })
    }

    /// The atomic word at byte `offset` (4-aligned, inside the headers).
    fn word(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset.is_multiple_of(4) && offset + 4 <= self.size);
        // SAFETY: `offset` is 4-aligned and inside the mapping (the headers are at fixed
        // offsets below DATA and below each area); the mapping is page-aligned and lives as
        // long as `self`; the other process uses the word only atomically too.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    fn header(&self, way: Way) -> usize {
        match way {
            Way::Requests => LINE,
            Way::Answers => DATA + self.capacity.next_multiple_of(LINE),
        }
    }

    fn data(&self, way: Way) -> *mut u8 {
        // SAFETY: both areas lie inside the mapping (see `size_for`).
        unsafe { self.base.as_ptr().add(self.header(way) + LINE) }
    }

    /// Publishes `bytes` (whole frames) as the next batch going `way`.
    pub fn send(&mut self, way: Way, bytes: &[u8]) -> Result<(), String> {
        if bytes.len() > self.capacity {
            return Err(format!("a batch of {} bytes exceeds the shared area's {}", bytes.len(), self.capacity));
        }
        // SAFETY: the area has `capacity` bytes; by the alternation the other side does not
        // read it until `seq` moves, below.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data(way), bytes.len()) };
        let h = self.header(way);
        self.word(h + 8).store(bytes.len() as u32, Ordering::Relaxed);
        let seq = self.seen[way as usize].wrapping_add(1);
        self.seen[way as usize] = seq;
        self.word(h).store(seq, Ordering::SeqCst);
        if self.word(h + 4).swap(0, Ordering::SeqCst) != 0 {
            futex_wake(self.word(h));
        }
        Ok(())
    }

    /// Waits for the next batch coming `way` and returns it. Spins briefly (the other side is
    /// usually busy on the other core for a microsecond), then yields (it may be waiting for
    /// this core), then sleeps on the futex in slices of `slice_us`, calling `check` after each:
    /// a check that fails ends the wait.
    pub fn recv(
        &mut self,
        way: Way,
        slice_us: u32,
        mut check: impl FnMut() -> Result<(), Interrupted>,
    ) -> Result<&[u8], Interrupted> {
        let h = self.header(way);
        let last = self.seen[way as usize];
        let seq = self.word(h);
        let arrived = |seq: &AtomicU32| seq.load(Ordering::Acquire) != last;
        let mut ready = (0..SPINS).any(|_| {
            std::hint::spin_loop();
            arrived(seq)
        });
        for _ in 0..YIELDS {
            if ready {
                break;
            }
            std::thread::yield_now();
            ready = arrived(seq);
        }
        while !ready {
            self.word(h + 4).store(1, Ordering::SeqCst);
            if !arrived(seq) {
                futex_wait(seq, last, slice_us);
            }
            ready = arrived(seq);
            if !ready {
                check()?;
            }
        }
        self.seen[way as usize] = seq.load(Ordering::Acquire);
        let len = (self.word(h + 8).load(Ordering::Acquire) as usize).min(self.capacity);
        // SAFETY: `len` bytes of the area, published before `seq` moved (release/acquire);
        // the other side does not write the area again until we answer.
        Ok(unsafe { std::slice::from_raw_parts(self.data(way), len) })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of `size` bytes, not used after this.
        let _ = unsafe { munmap(self.base.cast(), self.size) };
    }
}

/// Sleeps while `word` holds `value`, at most `timeout_us`.
fn futex_wait(word: &AtomicU32, value: u32, timeout_us: u32) {
    let timeout =
        libc::timespec { tv_sec: (timeout_us / 1_000_000) as _, tv_nsec: ((timeout_us % 1_000_000) * 1000) as _ };
    // SAFETY: FUTEX_WAIT on a live, aligned u32 shared with the other process (so not
    // FUTEX_PRIVATE), with a valid timeout; it only reads the word. Spurious returns are fine:
    // the caller re-checks.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, value, &timeout as *const libc::timespec);
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a live, aligned u32; wakes at most one waiter, touches no memory.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cross_between_two_mappings_of_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shm");
        let mut harness = Region::create(&path, 1024).unwrap();
        let mut child = Region::open(&path).unwrap();
        let echo = std::thread::spawn(move || {
            for _ in 0..100 {
                let got = child.recv(Way::Requests, 1000, || Ok(())).unwrap().to_vec();
                child.send(Way::Answers, &got).unwrap();
            }
        });
        for i in 0..100u32 {
            let batch = i.to_le_bytes().repeat(i as usize % 7 + 1);
            harness.send(Way::Requests, &batch).unwrap();
            assert_eq!(harness.recv(Way::Answers, 1000, || Ok(())).unwrap(), batch.as_slice());
        }
        echo.join().unwrap();
        assert!(harness.send(Way::Requests, &[0; 2048]).is_err());
    }

    #[test]
    fn a_wait_ends_when_the_check_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut region = Region::create(&dir.path().join("shm"), 64).unwrap();
        let mut checks = 0;
        let waited = region.recv(Way::Answers, 100, || {
            checks += 1;
            if checks < 3 {
                Ok(())
            } else {
                Err(Interrupted::Stopped)
            }
        });
        assert_eq!(waited, Err(Interrupted::Stopped));
        assert_eq!(checks, 3);
    }

    #[test]
    fn a_file_that_is_not_a_region_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk");
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        assert!(Region::open(&path).is_err());
        std::fs::write(&path, b"short").unwrap();
        assert!(Region::open(&path).is_err());
    }
}
