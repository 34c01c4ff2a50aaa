//! A private network namespace for the kernel under test, created by us and removed by us.
//!
//! Why a namespace: the kernel's TCP is judged on a TUN device whose far end is the harness, with
//! addresses, routes and sysctls of its own. Doing that in the host's namespace would add a device
//! and routes to the machine's real network and mix its traffic with ours; in a fresh namespace
//! nothing else talks, and nothing outside it is touched.
//!
//! Why named (`ip netns add tcpcheck-<pid>-<n>`) rather than anonymous: a name lets a person look
//! inside while a run is going (`ip netns exec tcpcheck-… ss -tanoi`, `tcpdump -i tcpcheck0`).
//! The price is that a name outlives the process unless it is removed, so removal is guaranteed
//! in three ways:
//! - [`Drop`] removes it (and Drop runs on a panic's unwind);
//! - every live name is in a process-wide registry, and [`cleanup_all`] removes them all: the
//!   CLI's Ctrl-C handler calls it;
//! - names of processes that no longer exist (killed with SIGKILL, which nothing can catch) are
//!   removed when the next namespace is created ([`Netns::create`]).
//!
//! Code that must run *inside* the namespace (creating the TUN device, sockets, reading the
//! namespace's `/proc/sys/net` and `/proc/thread-self/net/tcp`) runs on a short-lived thread that
//! `setns`es into it ([`Netns::run`]): the caller's thread never changes namespace, so nothing
//! else the process does can land in the wrong one by accident.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use nix::sched::{setns, CloneFlags};

/// Every namespace name prefix we create: `tcpcheck-<pid>-<n>`.
pub const PREFIX: &str = "tcpcheck-";

/// Where `ip netns` keeps its names.
const RUN_NETNS: &str = "/run/netns";

/// The names of the namespaces this process has created and not yet removed.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes names unique within the process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The registry, even if a thread panicked while holding it: a list of names cannot be left
/// half-updated in a way that matters for removing them.
fn live() -> MutexGuard<'static, Vec<String>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The names of the namespaces this process has alive now.
pub fn live_names() -> Vec<String> {
    live().clone()
}

/// Removes every namespace this process created and has not removed yet. Safe to call from a
/// signal handler thread (the ctrlc crate's) and more than once: a name already gone is fine.
/// Sockets and TUN devices still open in a removed namespace keep working until they are closed;
/// the kernel frees the namespace with its last reference.
pub fn cleanup_all() {
    let names = std::mem::take(&mut *live());
    for name in names {
        let _ = delete(&name);
    }
}

/// `ip netns del NAME`; whether it is gone (a name that did not exist counts as gone).
fn delete(name: &str) -> bool {
    let _ = ip(&["netns", "del", name]);
    !std::path::Path::new(RUN_NETNS).join(name).exists()
}

/// Runs `ip ARGS`, returning its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!("cannot run `ip {}`: {e}\n  help: the linux stack needs iproute2's `ip`", args.join(" "))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Removes `tcpcheck-<pid>-<n>` namespaces whose process is gone: left by a SIGKILL or a crash
/// that skipped unwinding. A pid that was reused by another process keeps its name: harmless.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(RUN_NETNS) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != std::process::id() && !std::path::Path::new("/proc").join(pid.to_string()).exists() {
            let _ = delete(&name);
        }
    }
}

/// A named network namespace, removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// `/run/netns/NAME`, open: what [`Netns::run`] enters.
    fd: OwnedFd,
}

impl Netns {
    /// Creates `tcpcheck-<pid>-<n>` with its loopback up. Fails with a message saying what is
    /// missing (root or CAP_NET_ADMIN + CAP_SYS_ADMIN, iproute2) when it cannot.
    pub fn create() -> Result<Netns, String> {
        remove_stale();
        let name = format!("{PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        // Registered before it exists, so a Ctrl-C between the two still removes it.
        live().push(name.clone());
        let made = ip(&["netns", "add", &name]).and_then(|()| {
            let path = std::path::Path::new(RUN_NETNS).join(&name);
            let file = File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            Ok(Netns { name: name.clone(), fd: OwnedFd::from(file) })
        });
        match made {
            Ok(netns) => {
                netns.ip(&["link", "set", "lo", "up"])?;
                Ok(netns)
            }
            Err(e) => {
                let _ = delete(&name);
                live().retain(|n| *n != name);
                Err(format!(
                    "cannot create a network namespace: {e}\n  help: the linux stack needs root (or \
                     CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip`"
                ))
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS`: configuration inside the namespace only.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `f` on a thread inside the namespace and returns what it returned. Sockets and
    /// devices it creates belong to the namespace for good; the thread ends with `f`.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    setns(&self.fd, CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("cannot enter network namespace {}: {e}", self.name))?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|_| Err(format!("a thread inside network namespace {} panicked", self.name)))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = delete(&self.name);
        live().retain(|n| *n != self.name);
    }
}
