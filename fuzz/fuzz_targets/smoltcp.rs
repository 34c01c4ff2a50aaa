//! Fuzz bytes as a conformance script, run against smoltcp in process and judged by the oracle
//! table: `tcpcheck fuzz --stack smoltcp` under libFuzzer. A verdict panics with its text, and
//! so does smoltcp itself if hostile input makes it panic (cargo fuzz builds with debug
//! assertions, so its `debug_assert!`s are checked too). Either way libFuzzer keeps the input
//! as an artifact for `tcpcheck replay --stack smoltcp`.
//!
//! smoltcp deviates from the table in known ways (docs/findings/smoltcp.md): its fixed 10 s
//! TIME-WAIT, RST in TIME-WAIT, no challenge ACKs. Those verdicts come within seconds; set
//! `TCPCHECK_SMOLTCP_PANICS_ONLY=1` to keep only smoltcp's own panics as crashes and look past
//! them. The oracle table comes from `TCPCHECK_ORACLE` (default rfc9293):
//!
//!     cargo fuzz run smoltcp --sanitizer none
//!     TCPCHECK_SMOLTCP_PANICS_ONLY=1 cargo fuzz run smoltcp --sanitizer none -- -max_total_time=60
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tcpcheck::adapter::Smoltcp;
use tcpcheck::conform::finding::decode;
use tcpcheck::conform::{Oracle, Stack};
use tcpcheck::model::shipped::load_arg;
use tcpcheck::model::Model;

fn load(var: &str) -> Model {
    let arg = std::env::var(var).unwrap_or_else(|_| "rfc9293".into());
    load_arg(&arg).unwrap_or_else(|e| panic!("{var}={arg}: {e}"))
}

fn oracle_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| load("TCPCHECK_ORACLE"))
}

fn panics_only() -> bool {
    static FLAG: OnceLock<bool> = OnceLock::new();
    *FLAG.get_or_init(|| std::env::var_os("TCPCHECK_SMOLTCP_PANICS_ONLY").is_some())
}

fuzz_target!(|data: &[u8]| {
    // The seed the replay command gives artifacts, so `tcpcheck replay --stack smoltcp` sees
    // the same ISNs.
    let mut stack = Smoltcp::new(7);
    let oracle = Oracle::new(oracle_model(), stack.params().clone());
    if let Some(verdict) = oracle.run(&mut stack, &decode(data), false).verdict {
        if !panics_only() {
            panic!("{verdict}");
        }
    }
});
