//! Arbitrary bytes as a file for `tcpcheck replay`: a finding (JSON) or a libFuzzer artifact.
//! Reading must give an input or a diagnostic, never a panic; every diagnostic must point inside
//! the file and render; a finding that reads must write back to the same finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpcheck::conform::finding::{read, Input};
use tcpcheck::model::render;

fuzz_target!(|data: &[u8]| {
    match read("fuzz.json", data) {
        Ok(Input::Finding(finding)) => {
            let again = read("again.json", finding.to_json().as_bytes()).expect("a written finding reads");
            assert_eq!(again, Input::Finding(finding));
        }
        Ok(Input::Artifact(_)) => {}
        Err(problems) => {
            for p in &problems.problems {
                for (span, _) in &p.labels {
                    assert!(span.end() <= data.len(), "label beyond the file");
                }
            }
            let _ = render(&problems, false);
        }
    }
});
