//! Segments on the wire: a validated [`Segment`] and its IPv4+TCP or IPv6+TCP bytes, built and
//! parsed with etherparse (checksums included, over the family's pseudo-header).
//!
//! Panic contract: [`Segment::from_ip`] accepts any bytes and returns a typed [`WireError`] for
//! anything that is not a well-formed, checksummed IPv4+TCP or IPv6+TCP packet; nothing in this
//! module panics.
//! Contradictory control bits (SYN+RST, …) are legal on the wire and kept as they are: judging them
//! is the model's business.

mod family;
mod seq;

use std::fmt;

use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, NetSlice, SlicedPacket, TcpHeader, TransportSlice};

pub use family::{Addrs, Family};
pub use seq::SeqNum;

use crate::model::Flags;

/// TCP control bits other than ACK (whose presence is `Segment::ack.is_some()`), in header order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Control(u8);

impl Control {
    pub const FIN: Control = Control(0x01);
    pub const SYN: Control = Control(0x02);
    pub const RST: Control = Control(0x04);
    pub const PSH: Control = Control(0x08);
    pub const URG: Control = Control(0x20);
    pub const ECE: Control = Control(0x40);
    pub const CWR: Control = Control(0x80);
    pub const NONE: Control = Control(0);
    const ALL_BITS: u8 = 0xef;

    const NAMED: [(Control, &'static str); 7] = [
        (Control::SYN, "SYN"),
        (Control::FIN, "FIN"),
        (Control::RST, "RST"),
        (Control::PSH, "PSH"),
        (Control::URG, "URG"),
        (Control::ECE, "ECE"),
        (Control::CWR, "CWR"),
    ];

    /// The bits of a TCP flags byte, without ACK (0x10).
    pub const fn from_bits(bits: u8) -> Control {
        Control(bits & Control::ALL_BITS)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, other: Control) -> bool {
        self.0 & other.0 == other.0
    }

    #[must_use]
    pub const fn with(self, other: Control) -> Control {
        Control(self.0 | other.0)
    }
}

/// A TCP segment: the header fields the model and the stacks care about, and the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Segment {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    /// The acknowledgment number; `Some` exactly when the ACK bit is set.
    pub ack: Option<SeqNum>,
    pub ctl: Control,
    pub window: u16,
    /// The MSS option, if present: the one option the table models.
    pub mss: Option<u16>,
    /// The other TCP options, in wire order: the table does not model them (the oracle and
    /// the fuzz loop ignore them), scripts compare them. Written after MSS.
    pub options: Vec<TcpOpt>,
    pub payload: Vec<u8>,
}

/// A TCP option other than MSS ([`Segment::mss`]). EOL is not one: it ends the list, and the
/// zero octets that pad the header to a multiple of four are EOLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TcpOpt {
    /// No-operation (kind 1), RFC 9293 3.2.
    Nop,
    /// SACK-permitted (kind 4), RFC 2018.
    SackPermitted,
    /// Window scale shift count (kind 3), RFC 7323 2.
    WindowScale(u8),
    /// Timestamps (kind 8), RFC 7323 3.
    Timestamp { val: u32, ecr: u32 },
    /// SACK blocks (kind 5), left and right edges, one to four of them (RFC 2018).
    Sack(Vec<(SeqNum, SeqNum)>),
    /// Any other option, or a known kind with an unexpected length: kind and data.
    Other { kind: u8, data: Vec<u8> },
}

/// Option kinds (IANA registry).
mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_OK: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TS: u8 = 8;
}

impl TcpOpt {
    /// Appends the option's octets.
    fn write(&self, out: &mut Vec<u8>) {
        let mut tlv = |k: u8, data: &[u8]| {
            out.push(k);
            out.push((data.len() + 2).min(255) as u8);
            out.extend_from_slice(data);
        };
        match self {
            TcpOpt::Nop => out.push(kind::NOP),
            TcpOpt::SackPermitted => tlv(kind::SACK_OK, &[]),
            TcpOpt::WindowScale(shift) => tlv(kind::WSCALE, &[*shift]),
            TcpOpt::Timestamp { val, ecr } => {
                let mut data = [0u8; 8];
                data[..4].copy_from_slice(&val.to_be_bytes());
                data[4..].copy_from_slice(&ecr.to_be_bytes());
                tlv(kind::TS, &data);
            }
            TcpOpt::Sack(blocks) => {
                let data: Vec<u8> =
                    blocks.iter().flat_map(|(l, r)| l.0.to_be_bytes().into_iter().chain(r.0.to_be_bytes())).collect();
                tlv(kind::SACK, &data);
            }
            TcpOpt::Other { kind, data } => tlv(*kind, data),
        }
    }

    /// Reads the options area of a TCP header: MSS apart, the others in order, up to the first
    /// EOL. A length that overruns the area or is below two is an error.
    fn read_all(mut area: &[u8]) -> Result<(Option<u16>, Vec<TcpOpt>), WireError> {
        let (mut mss, mut options) = (None, Vec::new());
        while let Some(&k) = area.first() {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    options.push(TcpOpt::Nop);
                    area = &area[1..];
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*area.get(1).ok_or_else(|| WireError::Options(format!("kind {k} has no length")))?);
            if len < 2 || len > area.len() {
                return Err(WireError::Options(format!("kind {k} has length {len}, {} octets left", area.len())));
            }
            let data = &area[2..len];
            let u32_at = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            match (k, data.len()) {
                (kind::MSS, 2) => mss = Some(u16::from_be_bytes([data[0], data[1]])),
                (kind::WSCALE, 1) => options.push(TcpOpt::WindowScale(data[0])),
                (kind::SACK_OK, 0) => options.push(TcpOpt::SackPermitted),
                (kind::TS, 8) => options.push(TcpOpt::Timestamp { val: u32_at(0), ecr: u32_at(4) }),
                (kind::SACK, n) if n > 0 && n % 8 == 0 => options.push(TcpOpt::Sack(
                    (0..n / 8).map(|b| (SeqNum(u32_at(8 * b)), SeqNum(u32_at(8 * b + 4)))).collect(),
                )),
                _ => options.push(TcpOpt::Other { kind: k, data: data.to_vec() }),
            }
            area = &area[len..];
        }
        Ok((mss, options))
    }
}

impl fmt::Display for TcpOpt {
    /// As packetdrill writes it: `nop`, `sackOK`, `wscale 7`, `TS val 1 ecr 0`, `sack 1:2 3:4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOpt::Nop => f.write_str("nop"),
            TcpOpt::SackPermitted => f.write_str("sackOK"),
            TcpOpt::WindowScale(s) => write!(f, "wscale {s}"),
            TcpOpt::Timestamp { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOpt::Sack(blocks) => {
                f.write_str("sack")?;
                blocks.iter().try_for_each(|(l, r)| write!(f, " {}:{}", l.0, r.0))
            }
            TcpOpt::Other { kind, data } => {
                write!(f, "kind {kind}")?;
                data.iter().enumerate().try_for_each(|(i, b)| write!(f, "{}{b:02x}", if i == 0 { " " } else { "" }))
            }
        }
    }
}

impl Segment {
    /// SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 3.4).
    pub fn len(&self) -> u32 {
        let syn = u32::from(self.ctl.contains(Control::SYN));
        let fin = u32::from(self.ctl.contains(Control::FIN));
        // A payload cannot exceed an IP packet, so this cannot overflow; saturate anyway.
        u32::try_from(self.payload.len()).unwrap_or(u32::MAX).saturating_add(syn + fin)
    }

    /// Whether the segment occupies no sequence space.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number just after this segment: SEG.SEQ + SEG.LEN.
    pub fn end(&self) -> SeqNum {
        self.seq.add(self.len())
    }

    /// The segment in brief, as diagrams label it: flags, seq and ack relative to the bases
    /// (absolute and marked `(abs)` without one), and the length when it carries text:
    /// `FIN|ACK seq=1 ack=2`.
    pub fn brief(&self, seq_base: Option<SeqNum>, ack_base: Option<SeqNum>) -> String {
        let rel = |n: SeqNum, base: Option<SeqNum>| match base {
            Some(b) => n.distance_from(b).to_string(),
            None => format!("{}(abs)", n.0),
        };
        let mut text = format!("{} seq={}", self.flags().without(Flags::DATA), rel(self.seq, seq_base));
        if let Some(ack) = self.ack {
            text += &format!(" ack={}", rel(ack, ack_base));
        }
        if !self.payload.is_empty() {
            text += &format!(" len={}", self.payload.len());
        }
        text
    }

    /// The input alphabet's view of this segment: SYN, FIN, RST, ACK and DATA.
    pub fn flags(&self) -> Flags {
        let mut f = Flags::NONE;
        for (ctl, flag) in [(Control::SYN, Flags::SYN), (Control::FIN, Flags::FIN), (Control::RST, Flags::RST)] {
            if self.ctl.contains(ctl) {
                f = f.union(flag);
            }
        }
        if self.ack.is_some() {
            f = f.union(Flags::ACK);
        }
        if !self.payload.is_empty() {
            f = f.union(Flags::DATA);
        }
        f
    }

    /// The IP+TCP packet between `addrs`, with valid checksums.
    pub fn to_ip(&self, addrs: Addrs) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.write_ip(addrs, &mut out)?;
        Ok(out)
    }

    /// Appends the IP+TCP packet between `addrs` to `out`, with valid checksums: an IPv4 header
    /// or an IPv6 one (no extension headers) as the family of `addrs` says. The headers are filled
    /// in place rather than through etherparse's by-value builder, whose moves of whole headers
    /// dominated the fuzz loop's profile.
    pub fn write_ip(&self, addrs: Addrs, out: &mut Vec<u8>) -> Result<(), WireError> {
        let build = |e: &dyn fmt::Display| WireError::Build(e.to_string());
        let mut tcp = TcpHeader::new(self.src_port, self.dst_port, self.seq.0, self.window);
        let c = self.ctl;
        tcp.syn = c.contains(Control::SYN);
        tcp.fin = c.contains(Control::FIN);
        tcp.rst = c.contains(Control::RST);
        tcp.psh = c.contains(Control::PSH);
        tcp.urg = c.contains(Control::URG);
        tcp.ece = c.contains(Control::ECE);
        tcp.cwr = c.contains(Control::CWR);
        if let Some(ack) = self.ack {
            tcp.ack = true;
            tcp.acknowledgment_number = ack.0;
        }
        if self.mss.is_some() || !self.options.is_empty() {
            let mut area = Vec::with_capacity(40);
            if let Some(mss) = self.mss {
                area.extend_from_slice(&[kind::MSS, 4]);
                area.extend_from_slice(&mss.to_be_bytes());
            }
            self.options.iter().for_each(|o| o.write(&mut area));
            area.resize(area.len().next_multiple_of(4), kind::EOL);
            tcp.set_options_raw(&area).map_err(|e| build(&e))?;
        }
        let tcp_len = tcp.header_len() + self.payload.len();
        let ip_payload = u16::try_from(tcp_len).map_err(|e| build(&e))?;
        out.reserve(addrs.family().header_len() + tcp_len);
        match addrs {
            Addrs::V4 { src, dst } => {
                let ip = Ipv4Header::new(ip_payload, 64, IpNumber::TCP, src.octets(), dst.octets())
                    .map_err(|e| build(&e))?;
                tcp.checksum = tcp.calc_checksum_ipv4(&ip, &self.payload).map_err(|e| build(&e))?;
                ip.write(out).map_err(|e| build(&e))?;
            }
            Addrs::V6 { src, dst } => {
                let ip = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::ZERO,
                    payload_length: ip_payload,
                    next_header: IpNumber::TCP,
                    hop_limit: 64,
                    source: src.octets(),
                    destination: dst.octets(),
                };
                tcp.checksum = tcp.calc_checksum_ipv6(&ip, &self.payload).map_err(|e| build(&e))?;
                ip.write(out).map_err(|e| build(&e))?;
            }
        }
        tcp.write(out).map_err(|e| build(&e))?;
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    /// Parses an IPv4+TCP or IPv6+TCP packet, checking the TCP checksum over its family's
    /// pseudo-header. IPv6 extension headers are skipped (etherparse knows them); a fragment
    /// of either family is refused.
    pub fn from_ip(bytes: &[u8]) -> Result<Packet, WireError> {
        let sliced = SlicedPacket::from_ip(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        let (addrs, fragmented) = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                (Addrs::V4 { src: h.source_addr(), dst: h.destination_addr() }, ip.payload().fragmented)
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header();
                (Addrs::V6 { src: h.source_addr(), dst: h.destination_addr() }, ip.payload().fragmented)
            }
            _ => return Err(WireError::NotIp),
        };
        if fragmented {
            return Err(WireError::Fragmented);
        }
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
            return Err(WireError::NotTcp);
        };
        let expected = match addrs {
            Addrs::V4 { src, dst } => tcp.calc_checksum_ipv4(src.octets(), dst.octets()),
            Addrs::V6 { src, dst } => tcp.calc_checksum_ipv6(src.octets(), dst.octets()),
        }
        .map_err(|e| WireError::Malformed(e.to_string()))?;
        if expected != tcp.checksum() {
            return Err(WireError::Checksum { found: tcp.checksum(), expected });
        }
        let (mss, options) = TcpOpt::read_all(tcp.options())?;
        let flags_byte = tcp.header_slice().get(13).copied().unwrap_or(0);
        let segment = Segment {
            src_port: tcp.source_port(),
            dst_port: tcp.destination_port(),
            seq: SeqNum(tcp.sequence_number()),
            ack: tcp.ack().then(|| SeqNum(tcp.acknowledgment_number())),
            ctl: Control::from_bits(flags_byte),
            window: tcp.window_size(),
            mss,
            options,
            payload: tcp.payload().to_vec(),
        };
        Ok(Packet { addrs, segment })
    }
}

impl fmt::Display for Segment {
    /// `SYN|ACK seq=100 ack=200 win=4096 len=0 <mss 1460,sackOK,nop,wscale 7>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> =
            Control::NAMED.iter().filter(|(c, _)| self.ctl.contains(*c)).map(|(_, n)| *n).collect();
        if self.ack.is_some() {
            let at = names.iter().position(|n| !matches!(*n, "SYN" | "FIN" | "RST")).unwrap_or(names.len());
            names.insert(at, "ACK");
        }
        let flags = if names.is_empty() { "NONE".to_string() } else { names.join("|") };
        write!(f, "{flags} seq={}", self.seq)?;
        if let Some(ack) = self.ack {
            write!(f, " ack={ack}")?;
        }
        write!(f, " win={} len={}", self.window, self.payload.len())?;
        let mss = self.mss.map(|m| format!("mss {m}"));
        let options: Vec<String> = mss.into_iter().chain(self.options.iter().map(TcpOpt::to_string)).collect();
        if !options.is_empty() {
            write!(f, " <{}>", options.join(","))?;
        }
        Ok(())
    }
}

/// A parsed packet: addresses and segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub addrs: Addrs,
    pub segment: Segment,
}

/// Why bytes are not a segment we can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// etherparse rejected the headers (too short, bad lengths, bad IP header checksum…).
    Malformed(String),
    /// Neither IPv4 nor IPv6.
    NotIp,
    /// A packet of one family where the other was expected (a run's packets are all of one).
    Family {
        expected: Family,
        found: Family,
    },
    NotTcp,
    /// A fragment: the TCP header may be incomplete; reassembly is not modelled.
    Fragmented,
    Checksum {
        found: u16,
        expected: u16,
    },
    Options(String),
    /// The segment could not be written (e.g. a payload larger than an IP packet).
    Build(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Malformed(e) => write!(f, "malformed packet: {e}"),
            WireError::NotIp => f.write_str("neither an IPv4 nor an IPv6 packet"),
            WireError::Family { expected, found } => write!(f, "an {found} packet where {expected} was expected"),
            WireError::NotTcp => f.write_str("not a TCP segment"),
            WireError::Fragmented => f.write_str("IP fragment (reassembly is not modelled)"),
            WireError::Checksum { found, expected } => {
                write!(f, "bad TCP checksum {found:#06x}, expected {expected:#06x}")
            }
            WireError::Options(e) => write!(f, "malformed TCP options: {e}"),
            WireError::Build(e) => write!(f, "cannot build packet: {e}"),
        }
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const V4: Addrs = Addrs::V4 { src: A, dst: B };
    const V6: Addrs = Addrs::V6 {
        src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        dst: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
    };

    fn addrs() -> impl Strategy<Value = Addrs> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, d)| Addrs::V4 { src: s.into(), dst: d.into() }),
            (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(s, d)| Addrs::V6 { src: s.into(), dst: d.into() }),
        ]
    }

    fn option() -> impl Strategy<Value = TcpOpt> {
        let seq = || any::<u32>().prop_map(SeqNum);
        prop_oneof![
            Just(TcpOpt::Nop),
            Just(TcpOpt::SackPermitted),
            any::<u8>().prop_map(TcpOpt::WindowScale),
            (any::<u32>(), any::<u32>()).prop_map(|(val, ecr)| TcpOpt::Timestamp { val, ecr }),
            proptest::collection::vec((seq(), seq()), 1..4).prop_map(TcpOpt::Sack),
            (9u8.., proptest::collection::vec(any::<u8>(), 0..6)).prop_map(|(kind, data)| TcpOpt::Other { kind, data }),
        ]
    }

    /// Options that fit in the header's 40 octets beside an MSS option.
    fn options() -> impl Strategy<Value = Vec<TcpOpt>> {
        proptest::collection::vec(option(), 0..5).prop_filter("fits in 36 octets", |list| {
            let mut area = Vec::new();
            list.iter().for_each(|o| o.write(&mut area));
            area.len() <= 36
        })
    }

    fn segment() -> impl Strategy<Value = Segment> {
        (
            (any::<u16>(), any::<u16>(), any::<u32>(), proptest::option::of(any::<u32>())),
            (any::<u8>(), any::<u16>(), proptest::option::of(any::<u16>()), options()),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(|((src_port, dst_port, seq, ack), (bits, window, mss, options), payload)| Segment {
                src_port,
                dst_port,
                seq: SeqNum(seq),
                ack: ack.map(SeqNum),
                ctl: Control::from_bits(bits),
                window,
                mss,
                options,
                payload,
            })
    }

    proptest! {
        #[test]
        fn bytes_round_trip_with_valid_checksums(seg in segment(), addrs in addrs()) {
            let bytes = seg.to_ip(addrs).unwrap();
            // Independently of our parser: etherparse's own view, and a checksum that verifies
            // over the family's pseudo-header (RFC 9293 3.1, RFC 8200 8.1).
            let sliced = SlicedPacket::from_ip(&bytes).unwrap();
            let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else { panic!("not tcp") };
            let sum = match addrs {
                Addrs::V4 { src, dst } => tcp.calc_checksum_ipv4(src.octets(), dst.octets()).unwrap(),
                Addrs::V6 { src, dst } => tcp.calc_checksum_ipv6(src.octets(), dst.octets()).unwrap(),
            };
            prop_assert_eq!(sum, tcp.checksum());
            prop_assert_eq!(bytes[0] >> 4, match addrs.family() { Family::V4 => 4, Family::V6 => 6 });
            prop_assert_eq!(bytes.len(), addrs.family().header_len() + tcp.slice().len());
            let packet = Segment::from_ip(&bytes).unwrap();
            prop_assert_eq!(packet.addrs, addrs);
            prop_assert_eq!(packet.segment, seg);
        }

        #[test]
        fn the_same_segment_differs_in_both_families_only_by_the_ip_header(seg in segment()) {
            // The TCP octets are the same but for the checksum (octets 16-17), whose pseudo-header
            // differs: what the rest of the harness relies on to judge both families alike.
            let (four, six) = (seg.to_ip(V4).unwrap(), seg.to_ip(V6).unwrap());
            let (mut t4, mut t6) = (four[20..].to_vec(), six[40..].to_vec());
            t4[16..18].fill(0);
            t6[16..18].fill(0);
            prop_assert_eq!(t4, t6);
        }

        #[test]
        fn any_bytes_give_a_segment_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Segment::from_ip(&bytes);
        }

        #[test]
        fn corrupted_bytes_never_panic(seg in segment(), addrs in addrs(), at in any::<usize>(), x in 1u8..) {
            let mut bytes = seg.to_ip(addrs).unwrap();
            let i = at % bytes.len();
            bytes[i] ^= x;
            let _ = Segment::from_ip(&bytes);
        }
    }

    #[test]
    fn flipped_payload_bit_is_a_checksum_error() {
        let seg = Segment { ack: Some(SeqNum(7)), payload: b"hi".to_vec(), ..Segment::default() };
        for addrs in [V4, V6] {
            let mut bytes = seg.to_ip(addrs).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            assert!(matches!(Segment::from_ip(&bytes), Err(WireError::Checksum { .. })), "{addrs:?}");
        }
    }

    #[test]
    fn a_v6_checksum_is_over_the_v6_pseudo_header() {
        // An address octet changes the checksum (it is in the pseudo-header, RFC 8200 8.1), and
        // the same bytes read with the other pair's addresses do not verify.
        let seg = Segment { ctl: Control::SYN, mss: Some(1440), ..Segment::default() };
        let mut bytes = seg.to_ip(V6).unwrap();
        bytes[8 + 15] ^= 0x10; // the source address's last octet
        assert!(matches!(Segment::from_ip(&bytes), Err(WireError::Checksum { .. })));
    }

    #[test]
    fn flags_and_length_follow_the_rfc() {
        let seg = Segment {
            ctl: Control::SYN.with(Control::FIN),
            ack: Some(SeqNum(1)),
            payload: vec![0; 3],
            ..Segment::default()
        };
        assert_eq!(seg.len(), 5);
        assert_eq!(seg.flags().to_string(), "SYN|FIN|ACK|DATA");
        assert_eq!(seg.to_string(), "SYN|FIN|ACK seq=0 ack=1 win=0 len=3");
    }

    #[test]
    fn options_are_written_after_mss_in_order_and_read_back() {
        let options =
            vec![TcpOpt::SackPermitted, TcpOpt::Timestamp { val: 7, ecr: 0 }, TcpOpt::Nop, TcpOpt::WindowScale(7)];
        let seg = Segment { ctl: Control::SYN, mss: Some(1460), options, ..Segment::default() };
        let bytes = seg.to_ip(V4).unwrap();
        // Linux's SYN: 20 octets of options, no padding.
        assert_eq!(&bytes[40..60], &[2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0, 1, 3, 3, 7]);
        assert_eq!(Segment::from_ip(&bytes).unwrap().segment, seg);
        assert_eq!(seg.to_string(), "SYN seq=0 win=0 len=0 <mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7>");
    }

    #[test]
    fn eol_ends_the_options_and_a_bad_length_is_an_error() {
        assert_eq!(TcpOpt::read_all(&[1, 0, 3, 3, 7]).unwrap(), (None, vec![TcpOpt::Nop]));
        assert!(matches!(TcpOpt::read_all(&[3, 9, 7]), Err(WireError::Options(_))));
        assert!(matches!(TcpOpt::read_all(&[8, 1]), Err(WireError::Options(_))));
        assert_eq!(TcpOpt::read_all(&[3, 4, 1, 2]).unwrap(), (None, vec![TcpOpt::Other { kind: 3, data: vec![1, 2] }]));
    }
}
