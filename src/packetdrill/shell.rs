//! A script's shell commands, read rather than run: nearly all of them configure the Linux the
//! script was written for (`sysctl -q net.ipv4.tcp_timestamps=0`, packetdrill's
//! `common/defaults.sh`, its `set_sysctls.py`). They become [`Setting`]s, which a stack takes as
//! its own parameters where it has them (Linux: the same sysctls, inside the tool's private
//! namespace) or declines, and the script is then skipped saying which. A command that does
//! something else is named as unsupported; a few that change nothing the harness can see are
//! passed over, each with its reason below.

use crate::conform::Sysctl as Setting;

/// What both corpora's `defaults.sh` set before every script: packetdrill's
/// `gtests/net/common/defaults.sh` and the kernel's `tools/testing/selftests/net/packetdrill/defaults.sh`:
/// buffer sizes, the options offered, retry counts, loss recovery, ECN, Fast Open and SYN
/// cookies. (It also flushes the TCP metrics cache and puts a pfifo qdisc on its tun device:
/// see [`interpret`].)
const DEFAULTS: &[(&str, &str)] = &[
    ("net.ipv4.tcp_rmem", "4096 540000 15728640"),
    ("net.ipv4.tcp_wmem", "4096 262144 4194304"),
    ("net.ipv4.tcp_timestamps", "1"),
    ("net.ipv4.tcp_syn_retries", "5"),
    ("net.ipv4.tcp_synack_retries", "5"),
    ("net.ipv4.tcp_frto", "2"),
    ("net.ipv4.tcp_sack", "1"),
    ("net.ipv4.tcp_dsack", "1"),
    ("net.ipv4.tcp_fack", "0"),
    ("net.ipv4.tcp_reordering", "3"),
    ("net.ipv4.tcp_congestion_control", "cubic"),
    ("net.ipv4.tcp_slow_start_after_idle", "0"),
    ("net.ipv4.tcp_early_retrans", "4"),
    ("net.ipv4.tcp_recovery", "1"),
    ("net.ipv4.tcp_tso_win_divisor", "3"),
    ("net.ipv4.tcp_ecn", "0"),
    ("net.ipv4.tcp_pacing_ss_ratio", "200"),
    ("net.ipv4.tcp_pacing_ca_ratio", "120"),
    ("net.ipv4.tcp_notsent_lowat", "4294967295"),
    ("net.ipv4.tcp_fastopen_key", "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"),
    ("net.ipv4.tcp_syncookies", "1"),
];

/// What packetdrill's `common/defaults.sh` sets besides: AccECN's option and all of Fast Open.
const PACKETDRILL_DEFAULTS: &[(&str, &str)] = &[("net.ipv4.tcp_ecn_option", "2"), ("net.ipv4.tcp_fastopen", "0x70403")];

/// What the kernel's selftests' `./defaults.sh` sets besides: Fast Open for clients and
/// servers, no more (each Fast Open script sets the rest itself).
const KERNEL_DEFAULTS: &[(&str, &str)] = &[("net.ipv4.tcp_fastopen", "0x3")];

/// The settings `command` makes, or the first statement that is not a setting (as written).
pub fn interpret(command: &str) -> Result<Vec<Setting>, String> {
    let mut settings = Vec::new();
    for statement in statements(command) {
        let Some(words) = shlex::split(&statement) else { return Err(statement) };
        let words: Vec<&str> = words.iter().map(String::as_str).filter(|w| !is_redirection(w)).collect();
        let Some((&program, args)) = words.split_first() else { continue };
        if program.ends_with("/defaults.sh") && args.is_empty() {
            // The kernel's selftests call theirs from the script's own directory.
            let own = if program == "./defaults.sh" { KERNEL_DEFAULTS } else { PACKETDRILL_DEFAULTS };
            settings.extend(DEFAULTS.iter().chain(own).map(|&(name, value)| Setting {
                name: name.into(),
                value: value.into(),
                optional: true,
            }));
        } else if program == "sysctl" {
            let flags = args.iter().take_while(|a| a.starts_with('-'));
            if flags.clone().any(|f| !matches!(*f, "-q" | "-w" | "-e")) {
                return Err(statement);
            }
            let optional = args.contains(&"-e");
            for arg in args.iter().filter(|a| !a.starts_with('-')) {
                let (name, value) = arg.split_once('=').ok_or_else(|| statement.clone())?;
                settings.push(Setting { name: name.replace('/', "."), value: value.into(), optional });
            }
        } else if program.ends_with("/set_sysctls.py") && !args.is_empty() {
            for arg in args {
                let (path, value) = arg.split_once('=').ok_or_else(|| statement.clone())?;
                let name = path.strip_prefix("/proc/sys/").ok_or_else(|| statement.clone())?;
                settings.push(Setting { name: name.replace('/', "."), value: value.into(), optional: false });
            }
        } else if !no_effect(&words) {
            return Err(statement);
        }
    }
    Ok(settings)
}

/// Commands that change nothing the harness can see:
/// - `/tmp/sysctl_restore_${PPID}.sh`, which undoes what `set_sysctls.py` set: a stack takes a
///   script's settings for that script's runs alone;
/// - `ip tcp_metrics flush all`: every run uses a fresh local port and the harness's peer has no
///   other connection, and packetdrill's defaults turn nothing on that the cache would carry
///   between them but Fast Open cookies, which scripts that use them are skipped for;
/// - `tc qdisc add|replace dev tun0 root pfifo`: the harness's device is not packetdrill's
///   `tun0`, and it sends what the kernel hands it without pacing;
/// - `nstat` with its output thrown away (it resets counters no script here reads).
fn no_effect(words: &[&str]) -> bool {
    match words {
        ["ip", "tcp_metrics", "flush", "all"] | ["nstat"] => true,
        [restore] => restore.starts_with("/tmp/sysctl_restore_"),
        ["tc", "qdisc", "add" | "replace", "dev", "tun0", "root", "pfifo"] => true,
        _ => false,
    }
}

/// `> /dev/null`, `2>&1`, `&> /dev/null`: where output goes, which the harness does not keep.
fn is_redirection(word: &str) -> bool {
    matches!(word, ">" | "&>" | "2>" | "1>" | "/dev/null" | "2>&1" | ">/dev/null" | "&>/dev/null" | "2>/dev/null")
}

/// The statements of a command: lines joined where they end in `\`, split at newlines and `;`
/// (outside quotes), `#` comments dropped. A `|`, `&&` or `||` stays inside its statement, which
/// then is not a setting.
fn statements(command: &str) -> Vec<String> {
    let joined = command.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let mut current = String::new();
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (None, '#') => break,
                (None, ';') => out.push(std::mem::take(&mut current)),
                (None, '"' | '\'') => {
                    quote = Some(c);
                    current.push(c);
                }
                (Some(q), _) if c == q => {
                    quote = None;
                    current.push(c);
                }
                _ => current.push(c),
            }
        }
        out.push(current);
    }
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(command: &str) -> Vec<(String, String, bool)> {
        interpret(command).unwrap().into_iter().map(|s| (s.name, s.value, s.optional)).collect()
    }

    #[test]
    fn sysctl_lines_become_settings() {
        assert_eq!(
            names("sysctl -q net.ipv4.tcp_timestamps=0 net/ipv4/tcp_sack=0"),
            [("net.ipv4.tcp_timestamps".into(), "0".into(), false), ("net.ipv4.tcp_sack".into(), "0".into(), false)]
        );
        let set = "../../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n  \
                   /proc/sys/net/ipv4/tcp_wmem=\"4096 50000 4194304\"";
        assert_eq!(
            names(set),
            [
                ("net.ipv4.tcp_timestamps".into(), "0".into(), false),
                ("net.ipv4.tcp_wmem".into(), "4096 50000 4194304".into(), false)
            ]
        );
        assert!(names("sysctl -e -q net.ipv4.tcp_min_tso_segs=2   # comment")[0].2);
    }

    #[test]
    fn defaults_then_a_setting_of_the_scripts_own() {
        let s = names("../common/defaults.sh\nsysctl -q net.ipv4.tcp_ecn=2 > /dev/null 2>&1");
        assert_eq!(s.len(), DEFAULTS.len() + PACKETDRILL_DEFAULTS.len() + 1);
        assert!(s[..s.len() - 1].iter().all(|(_, _, optional)| *optional));
        assert_eq!(s.last().unwrap(), &("net.ipv4.tcp_ecn".into(), "2".into(), false));
        assert_eq!(names("/tmp/sysctl_restore_${PPID}.sh; ip tcp_metrics flush all > /dev/null 2>&1"), []);
    }

    #[test]
    fn the_kernels_defaults_differ_from_packetdrills_in_fast_open_and_accecn() {
        let value = |command: &str, name: &str| names(command).into_iter().find(|s| s.0 == name).map(|s| s.1);
        for (command, fastopen, ecn_option) in
            [("../common/defaults.sh", "0x70403", Some("2".to_string())), ("./defaults.sh", "0x3", None)]
        {
            assert_eq!(value(command, "net.ipv4.tcp_fastopen").as_deref(), Some(fastopen), "{command}");
            assert_eq!(value(command, "net.ipv4.tcp_ecn_option"), ecn_option, "{command}");
        }
    }

    #[test]
    fn anything_else_is_named() {
        assert_eq!(interpret("ethtool -K tun0 gso off tso off"), Err("ethtool -K tun0 gso off tso off".into()));
        assert_eq!(
            interpret("nstat | grep TcpExtOutOfWindowIcmps > /dev/null"),
            Err("nstat | grep TcpExtOutOfWindowIcmps > /dev/null".into())
        );
        assert_eq!(interpret("sysctl -q net.ipv4.tcp_ecn"), Err("sysctl -q net.ipv4.tcp_ecn".into()));
        assert_eq!(interpret("echo 'unclosed"), Err("echo 'unclosed".into()));
    }
}
