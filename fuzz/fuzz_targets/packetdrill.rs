//! packetdrill's parser, the plan and the diagnostics renderer on arbitrary bytes: none may
//! panic, every diagnostic points inside the file, and every plan stays within the steps the
//! harness runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::conform::oracle::MAX_STEPS;
use tcpcheck::model::{render, Source};
use tcpcheck::packetdrill::{parse, plan};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let source = Source::new("fuzz.pkt", text.as_ref());
    match parse(&source) {
        Ok(script) => {
            if let Ok(plan) = plan(&script, true) {
                assert!(plan.script.steps.len() <= MAX_STEPS);
                assert_eq!(plan.script.steps.len(), plan.step_spans.len());
            }
        }
        Err(problems) => {
            for p in &problems.problems {
                for (span, _) in &p.labels {
                    assert!(span.offset + span.len <= text.len(), "span {span:?} outside the text");
                }
            }
            let _ = render(&problems, false);
        }
    }
});
