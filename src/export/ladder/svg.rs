//! A [`Ladder`] as SVG: hand-written, no script, no external resources, so the file renders in
//! any browser, in `rsvg-convert`, and inline in an HTML page.
//!
//! Layout. Items are placed top to bottom in the order they happened; each lifeline keeps its
//! own cursor, so one side's labels do not push the other side down. Time only moves down: a
//! later instant starts below everything drawn so far and gets a tick in the margin. Virtual
//! time is not to scale: every step between instants takes the same small space, and a gap much
//! longer than the shortest one (an RTO among 10 ms deliveries, the 2·MSL wait) is drawn as a
//! break in the lifelines, labelled with how long nothing happened. An arrow falls at least
//! [`SLANT`] pixels, so a segment delivered in the instant it was sent still slants the way a
//! textbook draws it.
//!
//! Arrowheads are polygons rather than SVG markers, and the picture defines no ids: several
//! ladders inlined in one HTML page cannot clash.
//!
//! Text is measured as a monospace font at [`FONT`] px (0.6 em a glyph), the font every label
//! asks for, so the layout does not depend on the reader's fonts.

use std::fmt::Write;

use super::{ArrowId, Cite, Ladder, Lane, Style, What};
use crate::export::palette::{FORGED, GREY, INK, RED, RED_PAPER, USER};
use crate::time::{Duration, Instant};

const FONT: f64 = 12.0;
const CHAR: f64 = FONT * 0.6;
const LINE: f64 = 16.0;
const PAD: f64 = 12.0;
/// Where the first item goes: below the title and the lifelines' names.
const TOP: f64 = 70.0;
/// The least drop of an arrow.
const SLANT: f64 = 36.0;
/// The space between two instants.
const STEP: f64 = 10.0;
/// The height of a break in the lifelines.
const BREAK: f64 = 34.0;
/// A gap this many times the shortest one is drawn as a break.
const BREAK_RATIO: u64 = 50;
/// How far along a lost arrow gets before its cross.
const LOST_AT: f64 = 0.6;

/// Written beside the right lifeline where a lasso's loop starts.
const LOOP: &str = "from here on the run repeats forever";

/// Text as SVG character data or an attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters; a label never needs them.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

/// Where each item went, and what the margin shows.
struct Layout {
    ys: Vec<f64>,
    /// Where each arrow leaves its lifeline.
    sent: Vec<f64>,
    /// Whether each arrow arrived, was lost or expired (else it was in flight at the end).
    ended: Vec<bool>,
    ticks: Vec<(f64, Instant)>,
    /// Breaks in the lifelines: top, bottom, and how long nothing happened.
    breaks: Vec<(f64, f64, Duration)>,
    loop_y: Option<f64>,
    bottom: f64,
}

/// The shortest time between two consecutive instants of the ladder, if time moves at all.
fn shortest_gap(ladder: &Ladder) -> Option<u64> {
    ladder.items.windows(2).map(|w| w[1].at.since(w[0].at).as_micros()).filter(|&g| g > 0).min()
}

fn place(ladder: &Ladder) -> Layout {
    let shortest = shortest_gap(ladder);
    let mut layout = Layout {
        ys: Vec::with_capacity(ladder.items.len()),
        sent: vec![TOP; ladder.arrows.len()],
        ended: vec![false; ladder.arrows.len()],
        ticks: Vec::new(),
        breaks: Vec::new(),
        loop_y: None,
        bottom: TOP,
    };
    let mut cursor = [TOP; 2];
    // Below everything that belongs to no lifeline (crosses, verdicts).
    let mut low = TOP;
    let mut floor = TOP;
    let mut last: Option<Instant> = None;
    for (index, item) in ladder.items.iter().enumerate() {
        let lowest = cursor[0].max(cursor[1]).max(low);
        if last != Some(item.at) {
            match last {
                None => floor = TOP,
                Some(before) => {
                    floor = lowest + STEP;
                    let gap = item.at.since(before);
                    if shortest.is_some_and(|s| gap.as_micros() >= s.saturating_mul(BREAK_RATIO)) {
                        layout.breaks.push((floor, floor + BREAK, gap));
                        floor += BREAK;
                    }
                }
            }
            layout.ticks.push((floor, item.at));
            last = Some(item.at);
        }
        if ladder.loop_from == Some(index) {
            floor = floor.max(lowest + 2.0 * STEP);
            layout.loop_y = Some(floor - STEP);
        }
        let y = match &item.what {
            What::Send(ArrowId(a)) => {
                let lane = ladder.arrows[*a].from.index();
                let y = cursor[lane].max(floor);
                cursor[lane] = y + 8.0;
                layout.sent[*a] = y;
                y
            }
            What::Arrive(ArrowId(a)) => {
                layout.ended[*a] = true;
                let lane = 1 - ladder.arrows[*a].from.index();
                let y = cursor[lane].max(floor).max(layout.sent[*a] + SLANT);
                cursor[lane] = y + 4.0;
                y
            }
            What::Lose(ArrowId(a)) | What::Expire(ArrowId(a)) => {
                layout.ended[*a] = true;
                let y = floor.max(layout.sent[*a] + SLANT * LOST_AT);
                low = low.max(y + 8.0);
                y
            }
            What::State { lane, .. } | What::Note { lane, .. } => {
                let y = cursor[lane.index()].max(floor);
                cursor[lane.index()] = y + LINE;
                y
            }
            What::Verdict(lines) => {
                let y = lowest.max(floor) + 6.0;
                let end = y + verdict_height(lines) + 6.0;
                cursor = [end; 2];
                low = end;
                y
            }
        };
        layout.ys.push(y);
    }
    // An arrow still in the network at the end stops short, with a note under it.
    for (a, ended) in layout.ended.iter().enumerate() {
        if !ended {
            low = low.max(layout.sent[a] + SLANT * LOST_AT + LINE + 4.0);
        }
    }
    layout.bottom = cursor[0].max(cursor[1]).max(low) + 2.0 * STEP;
    layout
}

fn verdict_height(lines: &[String]) -> f64 {
    lines.len() as f64 * LINE + 10.0
}

/// The footnotes: each distinct row that fired, numbered in the order it first fired.
fn footnotes(ladder: &Ladder) -> Vec<&Cite> {
    let mut notes: Vec<&Cite> = Vec::new();
    for item in &ladder.items {
        if let What::State { cite, .. } = &item.what {
            if !notes.contains(&cite) {
                notes.push(cite);
            }
        }
    }
    notes
}

fn footnote_text(n: usize, cite: &Cite) -> String {
    let rfc = if cite.rfc.is_empty() { String::new() } else { format!("  {}", cite.rfc) };
    format!("[{}] {}{rfc}  {}", n + 1, cite.location, cite.rule)
}

/// What a state item says beside its lifeline.
fn state_text(state: &str, on: Option<&str>, note: usize) -> String {
    match on {
        Some(input) => format!("{input} \u{2192} {state} [{}]", note + 1),
        None => format!("{state} [{}]", note + 1),
    }
}

/// The horizontal geometry: the time column, the two lifelines, the total width.
struct Columns {
    time: f64,
    lanes: [f64; 2],
    width: f64,
}

fn columns(ladder: &Ladder, layout: &Layout, notes: &[&Cite]) -> Columns {
    let mut side = [0.0f64; 2];
    let mut across: f64 = width(&ladder.title);
    for item in &ladder.items {
        match &item.what {
            What::State { lane, state, on, cite, .. } => {
                let n = notes.iter().position(|c| *c == cite).unwrap_or(0);
                side[lane.index()] = side[lane.index()].max(width(&state_text(state, on.as_deref(), n)));
            }
            What::Note { lane, text } => side[lane.index()] = side[lane.index()].max(width(text)),
            What::Verdict(lines) => across = across.max(lines.iter().map(|l| width(l)).fold(0.0, f64::max) + 2.0 * PAD),
            _ => {}
        }
    }
    if ladder.loop_from.is_some() {
        side[1] = side[1].max(width(LOOP));
    }
    let ticks = layout.ticks.iter().map(|(_, at)| width(&at.to_string()));
    let breaks = layout.breaks.iter().map(|(_, _, d)| width(&break_text(*d)));
    let time = ticks.chain(breaks).fold(width("0.000s"), f64::max) + 2.0 * PAD;
    let label = ladder.arrows.iter().map(|a| width(&a.label)).fold(0.0, f64::max);
    let names = ladder.lanes.each_ref().map(|n| width(n) / 2.0 + PAD);
    // Room for the longest arrow label, and for the two lifelines' names side by side.
    let gap = (label + 140.0).clamp(300.0, 560.0).max(names[0] + names[1]);
    let left = time + (side[0] + 2.0 * PAD).max(names[0]);
    let right = left + gap;
    let notes = notes.iter().enumerate().map(|(n, c)| width(&footnote_text(n, c))).fold(0.0, f64::max);
    let width = (right + (side[1] + 2.0 * PAD).max(names[1]))
        .max(time + across)
        .max(PAD + notes + PAD)
        .max(PAD + width(&ladder.title) + PAD);
    Columns { time, lanes: [left, right], width: width.ceil() }
}

/// How long a break lasted, to a reader's precision: `240s later`, `1.5s later`, `990ms later`.
fn break_text(gap: Duration) -> String {
    let us = gap.as_micros();
    match us {
        100_000_000.. => format!("{}s later", (us + 500_000) / 1_000_000),
        1_000_000.. => format!("{:.1}s later", us as f64 / 1e6),
        _ => format!("{}ms later", (us + 500) / 1000),
    }
}

/// Draws `ladder` as a standalone SVG document (also fit to inline in HTML).
pub fn write(ladder: &Ladder) -> String {
    let layout = place(ladder);
    let notes = footnotes(ladder);
    let cols = columns(ladder, &layout, &notes);
    let notes_top = layout.bottom + 10.0;
    let height = (notes_top + if notes.is_empty() { 0.0 } else { LINE * (notes.len() as f64 + 1.0) } + PAD).ceil();
    let mut svg = String::new();
    let w = cols.width;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" viewBox="0 0 {w} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", esc(&ladder.title));
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{PAD}" y="22" font-weight="bold" fill="{INK}">{}</text>"#, esc(&ladder.title));
    for (lane, name) in ladder.lanes.iter().enumerate() {
        let x = cols.lanes[lane];
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="48" text-anchor="middle" font-weight="bold" fill="{INK}">{}</text>"#,
            esc(name)
        );
    }
    lifelines(&mut svg, &layout, &cols);
    margin(&mut svg, &layout, &cols);
    for (index, item) in ladder.items.iter().enumerate() {
        let y = layout.ys[index];
        match &item.what {
            What::Arrive(a) => arrow(&mut svg, ladder, &layout, &cols, *a, y, End::Arrived, item.hot),
            What::Lose(a) => arrow(&mut svg, ladder, &layout, &cols, *a, y, End::Cross("lost"), item.hot),
            What::Expire(a) => arrow(&mut svg, ladder, &layout, &cols, *a, y, End::Cross("expired"), item.hot),
            What::State { lane, state, changed, on, cite } => {
                let n = notes.iter().position(|c| *c == cite).unwrap_or(0);
                let colour = if item.hot {
                    RED
                } else if *changed {
                    INK
                } else {
                    GREY
                };
                let weight = if *changed { r#" font-weight="bold""# } else { "" };
                let tip = format!("{}\n{}  {}", cite.rule, cite.location, cite.rfc);
                let _ = write!(svg, "<g><title>{}</title>", esc(tip.trim_end()));
                label(&mut svg, &cols, *lane, y, &state_text(state, on.as_deref(), n), colour, weight);
                svg.push_str("</g>\n");
            }
            What::Note { lane, text } => {
                let colour = if item.hot { RED } else { USER };
                label(&mut svg, &cols, *lane, y, text, colour, r#" font-style="italic""#);
                svg.push('\n');
            }
            What::Verdict(lines) => {
                let (x, h) = (cols.time, verdict_height(lines));
                let box_w = cols.width - x - PAD;
                let _ = writeln!(
                    svg,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{box_w:.1}" height="{h:.1}" fill="{RED_PAPER}" stroke="{RED}" stroke-width="1.5"/>"##
                );
                for (i, line) in lines.iter().enumerate() {
                    let ty = y + 17.0 + i as f64 * LINE;
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{ty:.1}" fill="{RED}" xml:space="preserve">{}</text>"#,
                        x + PAD,
                        esc(line)
                    );
                }
            }
            What::Send(_) => {}
        }
    }
    // Arrows still in the network when the run ended.
    for (a, ended) in layout.ended.iter().enumerate() {
        if !ended {
            let hot = ladder.items.iter().any(|i| i.hot && i.what == What::Send(ArrowId(a)));
            let y = layout.sent[a] + SLANT * LOST_AT;
            arrow(&mut svg, ladder, &layout, &cols, ArrowId(a), y, End::InFlight, hot);
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{PAD}" y="{:.1}" fill="{INK}" font-weight="bold">Rows that fired (table row, RFC section, what it did)</text>"#,
            notes_top + 12.0
        );
        for (n, cite) in notes.iter().enumerate() {
            let y = notes_top + 12.0 + LINE * (n as f64 + 1.0);
            let _ = writeln!(
                svg,
                r#"<text x="{PAD}" y="{y:.1}" fill="{INK}" xml:space="preserve"><title>{}</title>{}</text>"#,
                esc(&cite.rule),
                esc(&footnote_text(n, cite))
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// A label beside a lifeline: left of the left one, right of the right one.
fn label(svg: &mut String, cols: &Columns, lane: Lane, y: f64, text: &str, colour: &str, style: &str) {
    let (x, anchor) = match lane {
        Lane::Left => (cols.lanes[0] - 8.0, "end"),
        Lane::Right => (cols.lanes[1] + 8.0, "start"),
    };
    let _ = write!(
        svg,
        r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}"{style}>{}</text>"#,
        y + 12.0,
        esc(text)
    );
}

/// The lifelines, interrupted at each break by a pair of slashes.
fn lifelines(svg: &mut String, layout: &Layout, cols: &Columns) {
    for x in cols.lanes {
        let mut top = TOP - 8.0;
        for &(y0, y1, _) in &layout.breaks {
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{y0:.1}" stroke="{INK}" stroke-width="1.5"/>"#
            );
            for y in [y0, y1] {
                let _ = writeln!(
                    svg,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{INK}" stroke-width="1.5"/>"#,
                    x - 7.0,
                    y + 3.0,
                    x + 7.0,
                    y - 3.0
                );
            }
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}" stroke="{GREY}" stroke-dasharray="2 4"/>"#
            );
            top = y1;
        }
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{:.1}" stroke="{INK}" stroke-width="1.5"/>"#,
            layout.bottom
        );
    }
}

/// The time ticks, the breaks' durations and the loop of a lasso, in the left margin.
fn margin(svg: &mut String, layout: &Layout, cols: &Columns) {
    let x = cols.time - PAD / 2.0;
    for &(y, at) in &layout.ticks {
        let _ =
            writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{GREY}">{at}</text>"#, x - 4.0, y + 4.0);
        let _ = writeln!(svg, r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{GREY}"/>"#, x + 4.0);
    }
    for &(y0, y1, gap) in &layout.breaks {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{GREY}" font-style="italic">{}</text>"#,
            x - 4.0,
            (y0 + y1) / 2.0 + 4.0,
            esc(&break_text(gap))
        );
    }
    if let Some(y) = layout.loop_y {
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{RED}" stroke-dasharray="6 4"/>"#,
            cols.width - PAD
        );
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}" fill="{RED}">{LOOP}</text>"#, cols.lanes[1] + 8.0, y - 4.0);
        let bottom = layout.bottom - STEP;
        let _ = writeln!(
            svg,
            r#"<path d="M {:.1} {bottom:.1} H {:.1} V {y:.1} H {:.1}" fill="none" stroke="{RED}" stroke-width="1.5"/>"#,
            x + 2.0,
            x - 2.0,
            x + 2.0
        );
    }
}

/// How an arrow ends.
#[derive(Clone, Copy)]
enum End {
    Arrived,
    /// In a cross, with what happened.
    Cross(&'static str),
    /// Nowhere: the run ended with the segment in the network.
    InFlight,
}

#[allow(clippy::too_many_arguments)]
fn arrow(
    svg: &mut String,
    ladder: &Ladder,
    layout: &Layout,
    cols: &Columns,
    id: ArrowId,
    y2: f64,
    end: End,
    hot: bool,
) {
    let a = &ladder.arrows[id.0];
    let (x1, x_to) = match a.from {
        Lane::Left => (cols.lanes[0], cols.lanes[1]),
        Lane::Right => (cols.lanes[1], cols.lanes[0]),
    };
    let y1 = layout.sent[id.0];
    let x2 = match end {
        End::Arrived => x_to,
        End::Cross(_) | End::InFlight => x1 + (x_to - x1) * LOST_AT,
    };
    let colour = match (hot, a.style) {
        (true, _) => RED,
        (false, Style::Forged) => FORGED,
        (false, _) => INK,
    };
    let dash = match (a.style, end) {
        (Style::Copy, _) => r#" stroke-dasharray="6 4""#,
        (_, End::InFlight) => r#" stroke-dasharray="2 3""#,
        _ => "",
    };
    let (dx, dy) = (x2 - x1, y2 - y1);
    let length = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / length, dy / length);
    let _ = write!(svg, "<g><title>{}</title>", esc(&a.label));
    let _ = write!(
        svg,
        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="1.5"{dash}/>"#
    );
    match end {
        End::Arrived => {
            let (bx, by) = (x2 - 10.0 * ux, y2 - 10.0 * uy);
            let (nx, ny) = (-uy * 4.0, ux * 4.0);
            let _ = write!(
                svg,
                r#"<polygon points="{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
                bx + nx,
                by + ny,
                bx - nx,
                by - ny
            );
        }
        End::Cross(what) => {
            for s in [-1.0, 1.0] {
                let _ = write!(
                    svg,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{RED}" stroke-width="2"/>"#,
                    x2 - 6.0,
                    y2 - 6.0 * s,
                    x2 + 6.0,
                    y2 + 6.0 * s
                );
            }
            let _ = write!(
                svg,
                r#"<text x="{x2:.1}" y="{:.1}" text-anchor="middle" fill="{RED}" font-style="italic">{what}</text>"#,
                y2 + 20.0
            );
        }
        End::InFlight => {
            let _ = write!(
                svg,
                r#"<text x="{x2:.1}" y="{:.1}" text-anchor="middle" fill="{GREY}" font-style="italic">still in flight</text>"#,
                y2 + 16.0
            );
        }
    }
    // The label along the arrow, above it, reading left to right whichever way it points.
    let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let angle = if dx >= 0.0 { dy.atan2(dx) } else { (-dy).atan2(-dx) }.to_degrees();
    let _ = writeln!(
        svg,
        r#"<text x="{mx:.1}" y="{:.1}" text-anchor="middle" fill="{colour}" transform="rotate({angle:.2} {mx:.1} {my:.1})" stroke="white" stroke-width="3" paint-order="stroke">{}</text></g>"#,
        my - 5.0,
        esc(&a.label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(esc(r#"<a & "b" 'c'>"#), "&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;");
        assert_eq!(esc("a\u{1}b"), "a\u{fffd}b");
    }

    #[test]
    fn an_empty_ladder_is_a_picture_with_its_title() {
        let svg = write(&Ladder::new("nothing & <more>", "A", "B"));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(svg.contains("nothing &amp; &lt;more&gt;"), "{svg}");
    }

    #[test]
    fn an_arrow_sent_and_delivered_in_one_instant_still_slants() {
        let mut ladder = Ladder::new("t", "A", "B");
        let a = ladder.send(Instant::ZERO, Lane::Left, "SYN seq=0", Style::Sent);
        ladder.arrive(Instant::ZERO, a);
        let layout = place(&ladder);
        assert!(layout.ys[1] - layout.ys[0] >= SLANT, "{:?}", layout.ys);
    }

    #[test]
    fn an_arrow_in_flight_at_the_end_fits_above_the_footnotes() {
        let mut ladder = Ladder::new("t", "A", "B");
        ladder.send(Instant::ZERO, Lane::Right, "SYN|ACK seq=0 ack=1", Style::Sent);
        let layout = place(&ladder);
        assert!(!layout.ended[0]);
        assert!(layout.bottom >= layout.sent[0] + SLANT * LOST_AT + LINE, "{}", layout.bottom);
        let svg = write(&ladder);
        assert!(svg.contains("still in flight") && svg.contains(r#"stroke-dasharray="2 3""#), "{svg}");
    }

    #[test]
    fn a_long_quiet_gap_is_a_break_and_short_ones_are_not() {
        let mut ladder = Ladder::new("t", "A", "B");
        for ms in [0, 10, 20, 240_020] {
            ladder.note(Instant::from_micros(ms * 1000), Lane::Left, "x");
        }
        let layout = place(&ladder);
        assert_eq!(layout.ticks.len(), 4);
        assert_eq!(layout.breaks.len(), 1, "{:?}", layout.breaks);
        assert_eq!(layout.breaks[0].2, Duration::from_secs(240));
    }
}
