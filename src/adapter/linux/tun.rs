//! A TUN device (`IFF_TUN | IFF_NO_PI`): the kernel's end is a network interface carrying raw
//! IP packets (IPv4 or IPv6, the version nibble says which), our end is a file descriptor. A `write` is a packet arriving on the interface;
//! a `read` is a packet the kernel sent out of it. This is the only code in tcpcheck that needs
//! `unsafe`: the `TUNSETIFF` and `TUNSETOFFLOAD` ioctls have no safe wrapper.
//!
//! **Offloads.** The device takes checksum and TCP segmentation offload (TSO), as an everyday
//! Ethernet device does and as packetdrill's own TUN device does: the kernel then hands it a
//! `write` of several MSS as one large segment, where without TSO it cuts the text at the MSS
//! itself. Scripts written for Linux (packetdrill's corpus, the kernel's selftests) expect the
//! one large segment (`> P. 1:5841(5840)`). Each packet on the descriptor is then preceded by a
//! `struct virtio_net_hdr` (`IFF_VNET_HDR`, include/uapi/linux/virtio_net.h): on the way out it
//! says how the device would segment the packet and where its checksum, left partial, goes;
//! [`Tun::recv`] completes that checksum, so callers see ordinary packets with valid checksums.
//! On the way in, a zeroed header says "no segmentation, checksum complete".

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::libc;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

/// The clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";

/// Larger than any packet the device can carry: an IP packet's length field is 16 bits, and a
/// TSO segment is at most that.
const MAX_PACKET: usize = 65_536;

/// `sizeof(struct virtio_net_hdr)`, the device's default `TUNSETVNETHDRSZ`.
const VNET_HDR: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header's sum; the rest is the device's (here: ours) to add.
const NEEDS_CSUM: u8 = 1;

/// The offloads of "a typical Ethernet device": checksum, TSO over IPv4 and IPv6, with ECN.
const OFFLOADS: libc::c_uint = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

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
            flags: (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
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
        // SAFETY: `file` is the TUN device just attached to an interface; TUNSETOFFLOAD takes
        // its argument by value (an unsigned int of TUN_F_* flags) and keeps no pointer.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETOFFLOAD, libc::c_ulong::from(OFFLOADS)) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return Err(format!("cannot enable checksum and TSO offload on TUN device {name} (TUNSETOFFLOAD): {e}"));
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
        let mut frame = Vec::with_capacity(VNET_HDR + packet.len());
        frame.extend_from_slice(&[0; VNET_HDR]);
        frame.extend_from_slice(packet);
        let _ = (&self.file).write(&frame);
    }

    /// The oldest packet the kernel sent out of the interface, into `out`; false if none is
    /// queued.
    pub fn recv(&self, out: &mut Vec<u8>) -> bool {
        out.resize(VNET_HDR + MAX_PACKET, 0);
        loop {
            match (&self.file).read(out) {
                Ok(n) => {
                    out.truncate(n);
                    let header: Vec<u8> = out.drain(..VNET_HDR.min(n)).collect();
                    complete_checksum(&header, out);
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

    /// Waits up to `wait` for a packet to be queued; whether one is. To the microsecond
    /// (`ppoll`): a wait in whole milliseconds, as `poll` takes it, would end up to one late,
    /// and the harness's inputs with it.
    pub fn readable_within(&self, wait: std::time::Duration) -> bool {
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        matches!(ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None), Ok(n) if n > 0)
    }
}

/// Completes a checksum the kernel left partial (`header`'s `VIRTIO_NET_HDR_F_NEEDS_CSUM`): the
/// ones'-complement sum of `packet` from `csum_start` to its end, the field at `csum_start +
/// csum_offset` included (it holds the pseudo-header's sum), complemented into that field, as
/// a device that offloads checksums computes it. Anything out of range is left as it is: the
/// packet then fails the wire's checksum test, as a corrupt frame would.
fn complete_checksum(header: &[u8], packet: &mut [u8]) {
    let word = |at: usize| header.get(at..at + 2).map(|b| usize::from(u16::from_ne_bytes([b[0], b[1]])));
    if header.first().is_none_or(|flags| flags & NEEDS_CSUM == 0) {
        return;
    }
    let (Some(start), Some(offset)) = (word(6), word(8)) else { return };
    let field = start + offset;
    if field + 2 > packet.len() {
        return;
    }
    let mut sum: u32 =
        packet[start..].chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    packet[field..field + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Control, Segment, SeqNum};
    use std::net::Ipv4Addr;

    /// A packet as the kernel hands a checksum-offloading device: the TCP checksum field holds
    /// the pseudo-header's folded sum, and the header says where the rest goes.
    fn partial() -> (Vec<u8>, Vec<u8>) {
        let seg = Segment {
            seq: SeqNum(7),
            ack: Some(SeqNum(9)),
            ctl: Control::PSH,
            payload: b"hello, world".to_vec(),
            ..Segment::default()
        };
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let mut packet = Vec::new();
        seg.write_ip(crate::wire::Addrs::V4 { src, dst }, &mut packet).unwrap();
        let tcp_len = (packet.len() - 20) as u32;
        let mut pseudo: u32 = [src.octets(), dst.octets()]
            .iter()
            .flat_map(|a| [u16::from_be_bytes([a[0], a[1]]), u16::from_be_bytes([a[2], a[3]])])
            .map(u32::from)
            .sum::<u32>()
            + 6
            + tcp_len;
        while pseudo > 0xffff {
            pseudo = (pseudo & 0xffff) + (pseudo >> 16);
        }
        packet[36..38].copy_from_slice(&(pseudo as u16).to_be_bytes());
        let mut header = vec![NEEDS_CSUM, 0, 0, 0, 0, 0];
        header.extend_from_slice(&20u16.to_ne_bytes());
        header.extend_from_slice(&16u16.to_ne_bytes());
        (header, packet)
    }

    #[test]
    fn a_partial_checksum_is_completed_to_one_the_wire_accepts() {
        let (header, mut packet) = partial();
        assert!(Segment::from_ip(&packet).is_err());
        complete_checksum(&header, &mut packet);
        assert_eq!(Segment::from_ip(&packet).unwrap().segment.payload, b"hello, world");
    }

    #[test]
    fn a_complete_or_out_of_range_checksum_is_left_alone() {
        let (mut header, packet) = partial();
        let mut same = packet.clone();
        complete_checksum(&[0; VNET_HDR], &mut same);
        assert_eq!(same, packet);
        header[6..8].copy_from_slice(&60_000u16.to_ne_bytes());
        complete_checksum(&header, &mut same);
        assert_eq!(same, packet);
        complete_checksum(&header[..3], &mut same);
        assert_eq!(same, packet);
    }
}
