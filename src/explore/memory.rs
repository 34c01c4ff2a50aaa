//! What a search holds in memory: counted from its own structures (so the figure is the same on
//! every machine and can be held against `--mem-cap` before an allocation is made), and measured
//! by the kernel (so allocator overhead and the rest of the process are not forgotten).
//!
//! The kernel's figures come from `/proc/self/status`; elsewhere they are `None` and the cap is
//! held against the counted bytes alone.

use std::io::Write;

/// Where the bytes of a search are, at its peak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The visited set: fingerprints, parent links and the hash table's slots.
    pub visited: u64,
    /// The BFS levels under way: the level being expanded and the one being built, packed.
    pub frontier: u64,
    /// The reachable graph kept for liveness (or `--graph-full`).
    pub graph: u64,
    /// The workers' scratch: successor lists, per-level hash maps, the merge's lists.
    pub scratch: u64,
    /// The search for a fair cycle, after the others: a word a state and its stacks.
    pub cycles: u64,
}

impl Footprint {
    pub fn total(&self) -> u64 {
        self.visited + self.frontier + self.graph + self.scratch + self.cycles
    }
}

/// The memory figures of a search. They depend on the thread count (each worker has its own
/// buffers) and, for the resident sizes, on the allocator: unlike [`super::Stats`] they are
/// measurements, not results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Bytes held at the peak, where they were.
    pub peak: Footprint,
    /// The process's resident set when the search started, in bytes (program, model, libraries).
    pub rss_start: Option<u64>,
    /// The process's peak resident set when the search ended (`VmHWM`), in bytes.
    pub rss_peak: Option<u64>,
    /// With `--frontier-dir`: the most bytes the frontier's files held (two levels at most).
    pub on_disk: u64,
}

impl Memory {
    /// Peak bytes held per distinct state.
    pub fn bytes_per_state(&self, states: u64) -> u64 {
        self.peak.total() / states.max(1)
    }

    /// Of which the liveness graph's, with its search for a fair cycle.
    pub fn graph_bytes_per_state(&self, states: u64) -> u64 {
        (self.peak.graph + self.peak.cycles) / states.max(1)
    }

    /// What the search added to the process's peak resident set, per distinct state.
    pub fn rss_per_state(&self, states: u64) -> Option<u64> {
        Some(self.rss_peak?.saturating_sub(self.rss_start?) / states.max(1))
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let kb: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kb.checked_mul(1024)
}

/// The process's resident set now, in bytes.
pub fn resident() -> Option<u64> {
    status_field("VmRSS")
}

/// The process's peak resident set (since it started or since [`reset_peak`]), in bytes.
pub fn peak_resident() -> Option<u64> {
    status_field("VmHWM")
}

/// Resets the peak resident set to the current one (Linux 4.0's `clear_refs` value 5), so one
/// process can measure several searches in turn. Returns whether the kernel took it.
pub fn reset_peak() -> bool {
    std::fs::OpenOptions::new().write(true).open("/proc/self/clear_refs").and_then(|mut f| f.write_all(b"5")).is_ok()
}

/// Has glibc serve every block of 4 MiB or more by a mapping of its own, given back to the
/// kernel when freed. By default glibc raises that threshold whenever such a block is freed (up
/// to 32 MiB) and keeps blocks below it, freed, resident in its heap (up to twice the threshold
/// at the heap's top): the search's tables and lists, grown and dropped as it goes, left 43 MB
/// resident that nothing used at `--dup 1` (3 bytes a state, 8 % of its peak). A threshold set
/// once turns that adjustment off. At 256 KiB the blocks a batch allocates and frees were
/// mapped afresh each time, which cost about 2 % of the time at `--workload reopen`; at 4 MiB
/// they stay in the heap and the same 37 of the 43 MB go back. Elsewhere than glibc this does
/// nothing.
pub fn give_back_freed_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of glibc's allocator, under the allocator's own
    // lock; no memory is passed or touched. A refusal (return 0) leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED as i32);
    }
}

/// Gives the kernel back the pages of freed blocks that glibc keeps in its heap
/// (`malloc_trim`). A search frees its frontier's pages (16 KiB blocks, in the heap) as it
/// ends, and a second search in the same process takes them again without the resident set
/// growing: `bench check`, which runs several searches in one process, counted as little as a
/// quarter of the resident bytes per state of a search at `--dup 1` after the first, until it
/// trimmed before each. Elsewhere than glibc this does nothing.
pub fn trim_freed_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns whole free pages of glibc's heap to the kernel, under
    // the allocator's own lock; no memory in use is touched and no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The size from which a block has a mapping of its own ([`give_back_freed_blocks`]).
const MAPPED: usize = 4 << 20;

/// The capacity a list of `len` items of `size` bytes with room for `cap` has once [`grow`]
/// makes room for `more`.
pub fn grown(len: usize, cap: usize, more: usize, size: usize) -> usize {
    let need = len + more;
    match need {
        _ if need <= cap => cap,
        _ if need * size >= MAPPED => need + need / 8,
        _ => need.max(len + len / 2),
    }
}

/// The bytes a list of `len` items of `size` bytes with room for `cap` holds: all its block
/// while that is in the heap, whose pages are used again; in a mapping of its own, the pages
/// its items lie in. [`grow`] never writes the room past the items, and the kernel maps a
/// page only once it is written.
pub fn held(len: usize, cap: usize, size: usize) -> usize {
    const PAGE: usize = 4 << 10;
    if in_heap(cap * size) {
        cap * size
    } else {
        (len * size).next_multiple_of(PAGE)
    }
}

/// The bytes `v` holds ([`held`]).
pub fn held_by<T>(v: &Vec<T>) -> usize {
    held(v.len(), v.capacity(), std::mem::size_of::<T>())
}

/// The bytes a list holds once [`grow`] makes room for `more` items and they are written.
pub fn held_after<T>(v: &Vec<T>, more: usize) -> usize {
    let size = std::mem::size_of::<T>();
    held(v.len() + more, grown(v.len(), v.capacity(), more, size), size)
}

/// Whether a block of `bytes` is in the heap, where growing it copies it, rather than a mapping
/// of its own ([`give_back_freed_blocks`]).
pub fn in_heap(bytes: usize) -> bool {
    bytes < MAPPED
}

/// Makes room for `more` items after `v`'s end: half as much again at least while `v` is in the
/// heap, since growing a block there copies it (the search's lists grow every batch: copying
/// the liveness graph's two 1-byte-a-state lists each time took 1.5 % of a `reopen` run, on one
/// thread while the other waited), and an eighth more than asked once it has a mapping of its
/// own. glibc grows a mapping by remapping it, without a copy, but a remapping that moves it
/// (the space after it is seldom free) flushes the TLB of every core running the process:
/// growing by exactly what was asked remapped the lists 1,400 times at `--dup 1`, with 70,000
/// TLB flushes on two threads, 0.3 to 0.6 s of the merges. The room is not written, so it holds
/// no memory ([`held`]).
pub fn grow<T>(v: &mut Vec<T>, more: usize) {
    let cap = grown(v.len(), v.capacity(), more, std::mem::size_of::<T>());
    v.reserve_exact(cap - v.len());
}

/// Asks the kernel to back the room `v` has not used yet with huge pages (2 MiB on x86-64),
/// where whole ones fit, before it is first written. The visited set's table is read at random,
/// far beyond the caches: with 4 KiB pages nearly every read also misses the TLB, and in a
/// virtual machine a TLB miss walks two page tables. With `transparent_hugepage` at `madvise`
/// (the usual default) a process gets huge pages only where it asks. For the table this made
/// a `reopen` search 3 % faster on one thread and 4–5 % on two. Elsewhere than Linux, and where
/// the kernel refuses, the pages stay small.
pub fn huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let spare = v.spare_capacity_mut();
        let start = spare.as_ptr() as usize;
        let (from, to) = (start.next_multiple_of(HUGE), (start + std::mem::size_of_val(spare)) / HUGE * HUGE);
        if let Some(at) = std::ptr::NonNull::new(from as *mut std::ffi::c_void).filter(|_| from < to) {
            // SAFETY: [from, to) lies inside `v`'s allocation, which stays mapped while `v`
            // lives; MADV_HUGEPAGE changes only how the kernel backs those pages, never what
            // they hold, and nothing is read or written through the pointer. A refusal (an old
            // kernel, THP off) leaves the small pages.
            let _ = unsafe { nix::sys::mman::madvise(at, to - from, nix::sys::mman::MmapAdvise::MADV_HUGEPAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_figures_are_read_where_the_kernel_gives_them() {
        if cfg!(target_os = "linux") {
            let (now, peak) = (resident().unwrap(), peak_resident().unwrap());
            assert!(now > 0 && peak >= now, "{now} {peak}");
        }
    }

    #[test]
    fn small_lists_grow_by_half_large_ones_by_an_eighth_more_than_asked() {
        assert_eq!(grown(100, 150, 20, 8), 150, "room enough");
        assert_eq!(grown(100, 100, 20, 8), 150, "small: by half at least");
        assert_eq!(grown(100, 100, 80, 8), 180, "small: or what is asked");
        let need = (1 << 20) + 8;
        assert_eq!(grown(1 << 20, 1 << 20, 8, 4), need + need / 8, "4 MiB: an eighth more");
        let mut v = vec![0u8; 1000];
        grow(&mut v, 10);
        assert_eq!(v.capacity(), grown(1000, 1000, 10, 1));
    }

    #[test]
    fn a_mapped_list_holds_the_pages_of_its_items() {
        assert_eq!(held(10, 100, 8), 800, "in the heap: the whole block");
        assert_eq!(held(1 << 20, 2 << 20, 4), 4 << 20, "mapped: the items' pages");
        assert_eq!(held((1 << 20) + 1, 2 << 20, 4), (4 << 20) + 4096, "a page begun is held");
        let v: Vec<u32> = Vec::with_capacity(2 << 20);
        assert_eq!(held_after(&v, 1 << 20), 4 << 20, "room enough, half of it written");
    }

    #[test]
    fn per_state_figures_divide_what_was_held() {
        let m = Memory {
            peak: Footprint { visited: 500, frontier: 300, graph: 100, scratch: 0, cycles: 100 },
            rss_start: Some(1000),
            rss_peak: Some(3000),
            on_disk: 0,
        };
        assert_eq!((m.bytes_per_state(10), m.graph_bytes_per_state(10), m.rss_per_state(10)), (100, 20, Some(200)));
        assert_eq!(Memory::default().rss_per_state(10), None);
    }
}
