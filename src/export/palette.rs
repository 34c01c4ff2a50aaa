//! The colours of every drawing, named for what they mean: a user call is the same blue and a
//! verdict the same red on a ladder, on the machine and on a learned machine, so a reader who
//! has learned one picture's colours can read the others. Each is `#rrggbb`, valid in SVG and
//! in Graphviz.

/// Text, segments, lines and boxes.
pub const INK: &str = "#222222";
/// What is said about a thing rather than the thing: time ticks, kept states, an edge of
/// several kinds.
pub const GREY: &str = "#666666";
/// Notes beside a line: table lines, hit counts, learned states.
pub const NOTE: &str = "#888888";
/// Section titles and rules inside a box, a caption.
pub const FAINT: &str = "#777777";
pub const RULE: &str = "#bbbbbb";
/// The fill of a state's box.
pub const PAPER: &str = "#fbfbf4";
/// The user's calls (OPEN, SEND, CLOSE, …).
pub const USER: &str = "#1f4fbf";
/// Timers that fire.
pub const TIMER: &str = "#b35c00";
/// Whatever is wrong: a verdict, a lost segment, a row no run fired, a transition a learned
/// machine makes otherwise than the table.
pub const RED: &str = "#c0161b";
/// The fill behind a verdict's text.
pub const RED_PAPER: &str = "#fff4f4";
/// Partly wrong: an edge some of whose rows never fired.
pub const ORANGE: &str = "#e6850e";
/// Segments an off-path attacker forged.
pub const FORGED: &str = "#8a3ab9";
