//! A conformance run as a pcap file, so a finding can be opened in Wireshark or `tcpdump -r`
//! next to the oracle's verdict.
//!
//! One packet per segment on the wire: what the peer (the harness) sent the stack, what the
//! stack sent, and the raw bytes of anything the stack sent that did not parse. Timestamps are
//! the run's virtual time, so the capture starts at the epoch (1970-01-01 00:00:00) and the gaps
//! between packets are the gaps the script made.
//!
//! The link type is `LINKTYPE_RAW` (101, "raw IP"): the packets are bare IPv4 or IPv6, told apart
//! by their version nibble, so one link type serves both families (`LINKTYPE_IPV4`, 228, would
//! not). tcpdump 4.99 with libpcap 1.10 reads both 101 and 228; 101 is the one every libpcap, tcpdump
//! and Wireshark release has read for decades, so it is the safer choice for files handed around.
//! The file is written little-endian with microsecond timestamps whatever the host, so the same
//! run gives the same bytes everywhere.
//!
//! What is not the stack's own bytes: a well-formed segment the stack sent is recorded parsed
//! ([`Record::Outbound`] keeps the [`crate::wire::Segment`], not the packet), so it is rebuilt
//! here with fresh checksums, TTL 64 and only the MSS option. Flags, numbers, window and payload
//! are the stack's; other options and IP header details are lost. Malformed packets
//! ([`Record::Garbled`]) are written byte for byte.

use std::time::Duration as StdDuration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::conform::{Params, Record};
use crate::time::Instant;

/// The capture length: the largest IP packet (without IPv6 jumbograms). Longer garbage is truncated (its original
/// length is kept in the packet header, as a capture with a short snaplen would have it).
const SNAPLEN: u32 = 65_535;

/// The run as a pcap file: one raw IP packet (IPv4 or IPv6, the run's family: `LINKTYPE_RAW`
/// tells them apart by the version nibble) per [`Record::Inbound`], [`Record::Outbound`] and
/// [`Record::Garbled`], in trace order, stamped with the virtual time.
///
/// Fails only if a segment cannot be written as an IP packet (a payload larger than a packet) or a time
/// does not fit pcap's 32-bit seconds; the message names the record.
pub fn pcap(trace: &[Record], params: &Params) -> Result<Vec<u8>, String> {
    let header = PcapHeader {
        datalink: DataLink::RAW,
        snaplen: SNAPLEN,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut writer =
        PcapWriter::with_header(Vec::new(), header).map_err(|e| format!("cannot write the pcap header: {e}"))?;
    let hosts = params.hosts;
    for (index, record) in trace.iter().enumerate() {
        let (at, bytes) = match record {
            Record::Inbound { at, segment } => (*at, segment.to_ip(hosts.inbound()).map_err(|e| e.to_string())),
            Record::Outbound { at, segment } => (*at, segment.to_ip(hosts.outbound()).map_err(|e| e.to_string())),
            Record::Garbled { at, bytes, .. } => (*at, Ok(bytes.clone())),
            _ => continue,
        };
        let bytes = bytes.map_err(|e| format!("record {index} at {at}: {e}"))?;
        let orig_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let kept = &bytes[..bytes.len().min(SNAPLEN as usize)];
        let packet = PcapPacket::new(timestamp(at), orig_len, kept);
        writer.write_packet(&packet).map_err(|e| format!("record {index} at {at}: cannot write packet: {e}"))?;
    }
    Ok(writer.into_writer())
}

/// Virtual microseconds as a pcap timestamp (time since the epoch).
fn timestamp(at: Instant) -> StdDuration {
    StdDuration::from_micros(at.as_micros())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::adapter::Reference;
    use crate::conform::script::SEEDS;
    use crate::conform::{Oracle, Run};
    use crate::model::shipped::Shipped;
    use crate::model::Model;
    use crate::wire::Segment;
    use pcap_file::pcap::PcapReader;

    fn model(name: &str) -> Model {
        Shipped::find(name).unwrap().load().unwrap()
    }

    /// The trace of `seed` with the rfc9293 stack under the rfc9293 oracle.
    fn run(seed: &str) -> (Run, Params) {
        let m = model("rfc9293");
        let mut stack = Reference::new(&m, 7);
        let seed = SEEDS.iter().find(|s| s.name == seed).unwrap();
        let params = crate::conform::Stack::params(&stack).clone();
        let run = Oracle::new(&m, params.clone()).run(&mut stack, &seed.script(), true);
        (run, params)
    }

    fn on_wire(trace: &[Record]) -> Vec<&Record> {
        trace.iter().filter(|r| matches!(r, Record::Inbound { .. } | Record::Outbound { .. })).collect()
    }

    #[test]
    fn pcap_parses_back_with_every_packet_and_its_time() {
        // Retransmissions with backoff: packets at 0s, 1s, 3s, ... so the times are not all zero.
        let (run, params) = run("retransmit-and-give-up");
        let bytes = pcap(&run.trace, &params).unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let mut packets = Vec::new();
        while let Some(packet) = reader.next_packet() {
            packets.push(packet.unwrap().into_owned());
        }
        let expected = on_wire(&run.trace);
        assert_eq!(packets.len(), expected.len());
        assert!(packets.len() >= 3, "a SYN and its retransmissions: {}", packets.len());
        for (packet, record) in packets.iter().zip(&expected) {
            assert_eq!(packet.timestamp, timestamp(record.at()));
            let parsed = Segment::from_ip(&packet.data).unwrap();
            let (segment, from) = match record {
                Record::Inbound { segment, .. } => (segment, params.hosts.peer()),
                Record::Outbound { segment, .. } => (segment, params.hosts.stack()),
                _ => unreachable!(),
            };
            assert_eq!(&parsed.segment, segment);
            assert_eq!(parsed.addrs.src(), from.ip());
        }
        assert_eq!(packets[0].timestamp, StdDuration::ZERO);
        assert!(packets.windows(2).all(|w| w[0].timestamp < w[1].timestamp), "{packets:?}");
    }

    #[test]
    fn pcap_keeps_garbled_bytes_as_sent() {
        let (run, params) = run("passive-data-close");
        let mut trace = run.trace;
        let garbage = vec![0x45, 0, 0, 3];
        trace.push(Record::Garbled { at: Instant::from_micros(2_500_001), bytes: garbage.clone(), error: "x".into() });
        let bytes = pcap(&trace, &params).unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        let mut last = None;
        while let Some(packet) = reader.next_packet() {
            last = Some(packet.unwrap().into_owned());
        }
        let last = last.unwrap();
        assert_eq!(&last.data[..], &garbage[..]);
        assert_eq!(last.timestamp, StdDuration::from_micros(2_500_001));
    }

    #[test]
    fn pcap_of_an_empty_trace_is_just_the_header() {
        let (_, params) = run("closed-port");
        assert_eq!(pcap(&[], &params).unwrap().len(), 24);
    }

    #[test]
    fn pcap_refuses_times_beyond_32_bit_seconds() {
        let (run, params) = run("closed-port");
        let mut trace = run.trace;
        if let Some(Record::Inbound { at, .. }) = trace.iter_mut().find(|r| matches!(r, Record::Inbound { .. })) {
            *at = Instant::from_micros(u64::MAX);
        }
        let error = pcap(&trace, &params).unwrap_err();
        assert!(error.starts_with("record 0 at "), "{error}");
        assert!(error.contains("timestamp"), "{error}");
    }

    /// tcpdump must read the file and show the flags: that is what proves the link type right.
    #[test]
    fn tcpdump_reads_the_pcap() {
        let (run, params) = run("passive-data-close");
        let bytes = pcap(&run.trace, &params).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.pcap");
        std::fs::write(&file, &bytes).unwrap();
        let output = match std::process::Command::new("tcpdump").arg("-nr").arg(&file).output() {
            Ok(output) => output,
            Err(e) => {
                // Straight to stderr, past the test harness's capture: a skip must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED tcpdump_reads_the_pcap: cannot run tcpdump ({e}); \
                     run scripts/setup to install it ***\n"
                );
                return;
            }
        };
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "tcpdump failed: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(text.lines().count(), on_wire(&run.trace).len(), "{text}");
        for flags in ["Flags [S]", "Flags [S.]", "Flags [.]", "Flags [P.]", "Flags [F.]"] {
            assert!(text.contains(flags), "no {flags} in\n{text}");
        }
        assert!(text.contains("192.0.2.2.40000 > 192.0.2.1.8080"), "{text}");
    }
}
