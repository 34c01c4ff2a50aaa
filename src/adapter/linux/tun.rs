//! A TUN device (`IFF_TUN | IFF_NO_PI`): the kernel's end is a network interface carrying raw
//! IP packets (IPv4 or IPv6, the version nibble says which), our end is a file descriptor. A `write` is a packet arriving on the interface;
//! a `read` is a packet the kernel sent out of it. This is the only code in tcpcheck that needs
//! `unsafe`: the `TUNSETIFF` ioctl has no safe wrapper.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";

/// Larger than any packet the device can carry (its MTU is far below 64 KiB).
const MAX_PACKET: usize = 65_536;

/// `struct ifreq` as `TUNSETIFF` reads it: the name and the flags (a `short`), padded to the
/// kernel's 40 octets (the union's largest member is `struct ifmap`).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// An open TUN device; closing it removes the interface (it is not persistent).
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

impl Tun {
    /// Creates interface `name` in the *calling thread's* network namespace (call it inside
    /// [`super::netns::Netns::run`]). Non-blocking: reads return at once when nothing is queued.
    pub fn open(name: &str) -> Result<Tun, String> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(format!("bad interface name `{name}`: 1 to {} octets", libc::IFNAMSIZ - 1));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(CLONE_DEVICE)
            .map_err(|e| {
                format!(
                    "cannot open {CLONE_DEVICE}: {e}\n  help: the linux stack needs the tun driver \
                     (`modprobe tun`) and root or CAP_NET_ADMIN"
                )
            })?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: `file` is an open descriptor of the TUN clone device, TUNSETIFF reads (and
        // writes back the name into) a `struct ifreq`, and `req` is a live, properly aligned
        // `#[repr(C)]` struct of the kernel's 40-octet `ifreq` layout with a NUL-terminated name
        // (at most IFNAMSIZ - 1 octets were copied into a zeroed array). The kernel does not
        // keep the pointer after the call returns.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("cannot create TUN device {name} (TUNSETIFF): {e}\n  help: needs CAP_NET_ADMIN"));
        }
        Ok(Tun { file, name: name.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands the kernel one packet, as if it arrived on the interface. Whatever the kernel
    /// refuses (not IPv4 or IPv6, empty) it drops, as a host drops a bad frame: that is the
    /// kernel's answer and not an error of ours.
    pub fn send(&self, packet: &[u8]) {
        let _ = (&self.file).write(packet);
    }

    /// The oldest packet the kernel sent out of the interface, into `out`; false if none is
    /// queued.
    pub fn recv(&self, out: &mut Vec<u8>) -> bool {
        out.resize(MAX_PACKET, 0);
        loop {
            match (&self.file).read(out) {
                Ok(n) => {
                    out.truncate(n);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    out.clear();
                    return false;
                }
            }
        }
    }

    /// Waits up to `ms` milliseconds for a packet to be queued; whether one is.
    pub fn readable_within(&self, ms: u16) -> bool {
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
    }
}
