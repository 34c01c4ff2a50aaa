//! Arbitrary bytes as an IPv4+TCP packet: parsing must give a segment or a typed error, never a
//! panic; a segment that parses must write back to bytes that parse to the same segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::wire::Segment;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Segment::from_ipv4(data) else { return };
    let bytes = packet.segment.to_ipv4(packet.src, packet.dst).expect("a parsed segment can be written");
    let again = Segment::from_ipv4(&bytes).expect("written bytes parse");
    assert_eq!(again, packet);
});
