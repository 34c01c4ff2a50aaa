//! Arbitrary bytes as what a child process sends the harness, or the harness a child: the stack
//! protocol's frames (`docs/stack-protocol.md`). Every read must give frames or an error that
//! points inside the stream, never a panic; every request and report that reads must write back
//! to the same bytes; a hello must read or be refused with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::adapter::exec::protocol::{Frames, Hello, Report, ReportView, Request};

fuzz_target!(|data: &[u8]| {
    let mut frames = Frames::default();
    // In two pieces, as reads return them.
    let (a, b) = data.split_at(data.len() / 2);
    frames.push(a);
    let mut view = ReportView::default();
    for piece in [b, &[][..]] {
        loop {
            match frames.take() {
                Ok(Some((kind, body))) => {
                    let bytes = &frames.bytes()[body.clone()];
                    let mut written = Vec::new();
                    if let Ok(request) = Request::parse(kind, bytes) {
                        request.write(&mut written);
                        assert_eq!(&written[5..], bytes, "a request writes back as it read");
                    }
                    if view.parse_into(bytes, 0).is_ok() {
                        let report = Report {
                            state: view.state,
                            calls: view.calls,
                            deadline: view.deadline,
                            text: &bytes[view.text.clone()],
                            packets: view.packets.iter().map(|r| &bytes[r.clone()]).collect(),
                        };
                        written.clear();
                        report.write(&mut written);
                        assert_eq!(&written[5..], bytes, "a report writes back as it read");
                    }
                    if let Ok(text) = std::str::from_utf8(bytes) {
                        if let Ok(hello) = Hello::parse(text) {
                            assert_eq!(Hello::parse(&hello.to_text()), Ok(hello), "a hello reads back");
                        }
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(error.offset <= data.len() as u64, "{error}");
                    return;
                }
            }
        }
        frames.push(piece);
    }
});
