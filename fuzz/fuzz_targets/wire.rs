//! Arbitrary bytes as an IPv4+TCP or IPv6+TCP packet: parsing must give a segment or a typed error, never a
//! panic; a segment that parses must write back to bytes that parse to the same segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::wire::Segment;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Segment::from_ip(data) else { return };
    let bytes = packet.segment.to_ip(packet.addrs).expect("a parsed segment can be written");
    let again = Segment::from_ip(&bytes).expect("written bytes parse");
    assert_eq!(again, packet);
});
