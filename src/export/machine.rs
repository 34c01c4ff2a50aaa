//! The state machine on one page: the eleven states where RFC 9293's Figure 5 draws them, the
//! transitions between states as edges, and, inside each state's box, a table of its rows that
//! keep the state and of those that end the connection (to CLOSED).
//!
//! A table has about 150 rows that keep their state and 30 that close the connection; drawn as
//! self-loops and as edges converging on CLOSED they make a picture thousands of pixels wide
//! that nobody can read. Folded into per-state tables, what remains as edges is the classic
//! diagram, which fits 1600×1200.
//!
//! What is drawn comes from the table ([`Machine::of_model`]); only the places of the states
//! are written here, as presentation data ([`place`]). A [`Machine`] is plain data (states with
//! sections of lines, coloured edges), so other overlays, such as a learned machine, can be
//! drawn on the same layout. It renders itself as SVG ([`Machine::svg`], no Graphviz needed)
//! and as DOT with pinned positions ([`Machine::dot`], which `dot` renders through neato).

use std::fmt::Write;

use super::dot::escape;
use super::ladder::svg::esc as xml;
use super::palette::{FAINT, GREY, INK, NOTE, ORANGE, PAPER, RED, RULE, TIMER, USER};
use crate::model::{Action, Model, Pattern, Row, State};

/// How a line or an edge is drawn: a colour (`#rrggbb`, valid in SVG and DOT), dashed or not,
/// and a stroke width.
#[derive(Clone, Debug, PartialEq)]
pub struct Ink {
    pub colour: String,
    pub dashed: bool,
    pub width: f64,
}

impl Ink {
    pub fn solid(colour: &str) -> Ink {
        Ink { colour: colour.into(), dashed: false, width: 1.2 }
    }
}

/// One line of a table or of an edge's label: the text, a short note shown beside it (the row's
/// line, a hit count), and a tooltip with the whole row.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub text: String,
    pub note: String,
    pub tip: String,
    pub ink: Ink,
}

/// A titled group of lines inside a state's box.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub title: String,
    pub lines: Vec<Line>,
}

/// Where a box sits: at a state's place on the RFC's figure ([`place`]), or, for what belongs to
/// no state (a learned machine's states whose stack named none), in the figure's empty top-left
/// corner, beside CLOSED and above SYN-RECEIVED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Spot {
    State(State),
    Unnamed,
}

impl Spot {
    /// (column, row) on the grid of [`place`].
    pub fn place(self) -> (usize, usize) {
        match self {
            Spot::State(state) => place(state),
            Spot::Unnamed => (0, 0),
        }
    }

    /// Its node's number in DOT: the state's index, so that a state keeps its id in every
    /// model's drawing.
    fn id(self) -> usize {
        match self {
            Spot::State(state) => state.index(),
            Spot::Unnamed => State::COUNT,
        }
    }
}

impl std::fmt::Display for Spot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spot::State(state) => write!(f, "{state}"),
            Spot::Unnamed => f.write_str("unnamed"),
        }
    }
}

/// A box: a state's, or a group's ([`Spot`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub spot: Spot,
    pub sections: Vec<Section>,
}

/// An edge between two boxes, with one label line per row it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: Spot,
    pub to: Spot,
    pub lines: Vec<Line>,
    pub ink: Ink,
}

/// A state machine ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// The graph's name in DOT: the model's.
    pub name: String,
    pub title: String,
    /// What the colours mean, one entry each.
    pub key: Vec<(Ink, String)>,
    /// What the grey notes beside the lines are.
    pub notes: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Where RFC 9293 Figure 5 draws each state: (column, row) on a 3-column grid, CLOSED on top,
/// the passive opener's path on the left, the active opener's on the right, the active closer's
/// down the left and the passive closer's down the right.
pub fn place(state: State) -> (usize, usize) {
    match state {
        State::Closed => (1, 0),
        State::Listen => (1, 1),
        State::SynReceived => (0, 2),
        State::SynSent => (2, 2),
        State::Established => (1, 3),
        State::FinWait1 => (0, 4),
        State::CloseWait => (2, 4),
        State::FinWait2 => (0, 5),
        State::Closing => (1, 5),
        State::LastAck => (2, 5),
        State::TimeWait => (1, 6),
    }
}

fn kind_colour(input: Pattern) -> &'static str {
    match input {
        Pattern::Call(_) => USER,
        Pattern::Segment { .. } => INK,
        Pattern::Timeout(_) => TIMER,
    }
}

/// A row's count as ink: dashed red if it never fired, else from pale to deep green on a log
/// scale of `max`.
fn hit_ink(hits: u32, max: u32) -> Ink {
    if hits == 0 {
        return Ink { colour: RED.into(), dashed: true, width: 1.2 };
    }
    let level = f64::from(hits).ln_1p() / f64::from(max.max(1)).ln_1p();
    let mix = |pale: f64, deep: f64| (pale + (deep - pale) * level).round() as u8;
    Ink {
        colour: format!("#{:02x}{:02x}{:02x}", mix(140.0, 20.0), mix(170.0, 130.0), mix(140.0, 50.0)),
        dashed: false,
        width: 1.0 + 1.5 * level,
    }
}

/// What colours a drawing of a model: the kind of input, or how often a run fired each row.
#[derive(Clone, Copy, Debug)]
pub enum Paint<'a> {
    Kind,
    /// Hits per row, in the model's row order.
    Coverage(&'a [u32]),
}

/// Which rows [`Machine::of_model`] draws.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fold {
    /// Leave out the rows that keep the state (drops, errors, challenge ACKs).
    pub no_loops: bool,
}

/// Rows drawn as one line: adjacent in the table, from one state to one state, with the same
/// guard and what is shown of their actions, so only their inputs differ (`SEND, RECEIVE /
/// signal NO-CONNECTION`). Adjacent, so the line keeps the table's match order.
struct Group {
    rows: Vec<usize>,
    inputs: Vec<String>,
    /// The guard, then ` / ` and the actions shown.
    rest: String,
}

/// Where a row is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Stays(State),
    Ends(State),
    Edge(State, State),
}

impl Machine {
    /// The drawing of `model`: rows that change the state (except to CLOSED) as edges, one per
    /// (from, to); the others in their state's box.
    pub fn of_model(model: &Model, paint: Paint<'_>, fold: Fold) -> Machine {
        let rows = model.rows();
        let mut groups: Vec<(Slot, Group)> = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let rule = &row.rule;
            let shown: Vec<String> = rule
                .actions
                .iter()
                .filter(|a| match (rule.from == rule.to, rule.to) {
                    // On an edge, what is sent (as the RFC's figure labels its arrows).
                    (false, to) if to != State::Closed => {
                        matches!(a, Action::Send(_) | Action::ChallengeAck | Action::Retransmit)
                    }
                    // Every row to CLOSED deletes the TCB: the section's title says so.
                    _ => **a != Action::Delete,
                })
                .map(|a| a.to_string())
                .collect();
            let slot = match (rule.from == rule.to, rule.to) {
                (true, _) if fold.no_loops => continue,
                (true, _) => Slot::Stays(rule.from),
                (false, State::Closed) => Slot::Ends(rule.from),
                (false, to) => Slot::Edge(rule.from, to),
            };
            let mut rest = if rule.guard.is_empty() { String::new() } else { format!(" {}", rule.guard) };
            match (shown.is_empty(), slot) {
                (true, Slot::Edge(..)) => {}
                (true, _) => rest += " / drop",
                (false, _) => rest += &format!(" / {}", shown.join("; ")),
            }
            match groups.last_mut() {
                Some((last, group))
                    if *last == slot && group.rest == rest && group.rows.last() == Some(&(index - 1)) =>
                {
                    group.rows.push(index);
                    group.inputs.push(rule.input.to_string());
                }
                _ => groups.push((slot, Group { rows: vec![index], inputs: vec![rule.input.to_string()], rest })),
            }
        }
        let max = match paint {
            Paint::Kind => 0,
            Paint::Coverage(hits) => hits.iter().copied().max().unwrap_or(0),
        };
        let mut nodes: Vec<Node> =
            model.states().iter().map(|&state| Node { spot: Spot::State(state), sections: Vec::new() }).collect();
        let mut edges: Vec<Edge> = Vec::new();
        for (slot, group) in &groups {
            let line = group_line(model, group, paint, max);
            let (state, title) = match *slot {
                // The box's own title says what stays.
                Slot::Stays(state) => (state, String::new()),
                Slot::Ends(state) => (state, "→ CLOSED (delete)".to_string()),
                Slot::Edge(from, to) => {
                    let (from, to) = (Spot::State(from), Spot::State(to));
                    match edges.iter_mut().find(|e| e.from == from && e.to == to) {
                        Some(edge) => edge.lines.push(line),
                        None => edges.push(Edge { from, to, ink: line.ink.clone(), lines: vec![line] }),
                    }
                    continue;
                }
            };
            let Some(node) = nodes.iter_mut().find(|n| n.spot == Spot::State(state)) else { continue };
            match node.sections.iter_mut().find(|s| s.title == title) {
                Some(section) => section.lines.push(line),
                None => node.sections.push(Section { title, lines: vec![line] }),
            }
        }
        for node in &mut nodes {
            // What stays first, then what closes: each keeps the table's order.
            node.sections.sort_by_key(|s| s.title.starts_with('→'));
        }
        for edge in &mut edges {
            edge.ink = edge_ink(&edge.lines, paint);
        }
        let own = &model.table().source;
        let from = match &model.table().variant {
            Some(v) => format!("{}, a variant of {}", own.name, v.base_name),
            None => own.name.to_string(),
        };
        let key = match paint {
            Paint::Kind => vec![
                (Ink::solid(USER), "user call".into()),
                (Ink::solid(INK), "segment".into()),
                (Ink::solid(TIMER), "timeout".into()),
                (Ink::solid(GREY), "edge of several kinds".into()),
            ],
            Paint::Coverage(_) => vec![
                (hit_ink(0, max), "never fired".into()),
                (hit_ink(1, max.max(1)), "fired rarely".into()),
                (hit_ink(max.max(1), max.max(1)), "fired often (×hits)".into()),
                (Ink { colour: ORANGE.into(), dashed: true, width: 1.5 }, "edge: some rows never fired".into()),
            ],
        };
        let notes = format!(
            "grey: lines of {}{}; hover a line for its rows and RFC sections",
            bulk_file(model),
            if matches!(paint, Paint::Coverage(_)) { ", ×times fired" } else { "" }
        );
        Machine {
            name: model.name().to_string(),
            title: format!("{} ({from})", model.name()),
            key,
            notes,
            nodes,
            edges,
        }
    }
}

/// The file most of `model`'s rows were written in: a variant's base, for most variants.
fn bulk_file(model: &Model) -> String {
    let mut files: Vec<&str> = model.rows().iter().map(|r| &*r.source.name).collect();
    files.sort();
    let mut best = ("", 0);
    for run in files.chunk_by(|a, b| a == b) {
        if run.len() > best.1 {
            best = (run[0], run.len());
        }
    }
    best.0.to_string()
}

/// A group's line: its inputs and the rest as text; as note, the rows' lines (`file:line`, the
/// file's stem only, for rows of another file than most rows', such as a variant's own) and,
/// under coverage, their hits; the ink of its first row's kind, or of its least-fired row.
fn group_line(model: &Model, group: &Group, paint: Paint<'_>, max: u32) -> Line {
    let rows: Vec<&Row> = group.rows.iter().map(|&i| &model.rows()[i]).collect();
    let bulk = bulk_file(model);
    let at = |row: &Row| match *row.source.name == *bulk {
        true => row.line.to_string(),
        false => {
            let name = std::path::Path::new(&*row.source.name)
                .file_stem()
                .map_or_else(|| row.source.name.to_string(), |n| n.to_string_lossy().into_owned());
            format!("{name}:{}", row.line)
        }
    };
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    let mut note = match rows.len() {
        1 => at(first),
        n if last.line == first.line + n - 1 && last.source.same_file(&first.source) => {
            format!("{}–{}", at(first), last.line)
        }
        _ => rows.iter().map(|r| at(r)).collect::<Vec<_>>().join(","),
    };
    let hits: Vec<u32> = match paint {
        Paint::Kind => Vec::new(),
        Paint::Coverage(hits) => group.rows.iter().map(|&i| hits.get(i).copied().unwrap_or(0)).collect(),
    };
    let tips: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let rule = &row.rule;
            let actions: Vec<String> = rule.actions.iter().map(|a| a.to_string()).collect();
            let guard = if rule.guard.is_empty() { String::new() } else { format!(" {}", rule.guard) };
            let mut tip = format!(
                "{}  {} {}{guard} -> {} {} @ {}",
                row.location(),
                rule.from,
                rule.input,
                rule.to,
                actions.join("; "),
                rule.cite.qualified(model.table().rfc)
            );
            if let Some(n) = hits.get(k) {
                let _ = write!(tip, " ({n} hits)");
            }
            tip
        })
        .collect();
    let ink = match paint {
        Paint::Kind => Ink::solid(kind_colour(first.rule.input)),
        Paint::Coverage(_) => {
            // A line's rows together; its ink is its least-fired row's, the tooltip has each.
            let _ = write!(note, " ×{}", hits.iter().map(|&n| u64::from(n)).sum::<u64>());
            hit_ink(hits.iter().copied().min().unwrap_or(0), max)
        }
    };
    Line { text: format!("{}{}", group.inputs.join(", "), group.rest), note, tip: tips.join("\n"), ink }
}

/// An edge's ink from its rows': one kind's colour, or grey for several; under coverage, red
/// dashed if no row fired, orange if some did not, else the least-fired row's green.
fn edge_ink(lines: &[Line], paint: Paint<'_>) -> Ink {
    let first = &lines[0].ink;
    match paint {
        Paint::Kind if lines.iter().all(|l| l.ink.colour == first.colour) => first.clone(),
        Paint::Kind => Ink::solid(GREY),
        Paint::Coverage(_) => {
            let never = lines.iter().filter(|l| l.ink.dashed).count();
            if never == lines.len() {
                first.clone()
            } else if never > 0 {
                Ink { colour: ORANGE.into(), dashed: true, width: 1.5 }
            } else {
                lines
                    .iter()
                    .min_by(|a, b| a.ink.width.total_cmp(&b.ink.width))
                    .map_or_else(|| first.clone(), |l| l.ink.clone())
            }
        }
    }
}

// Geometry, in SVG pixels: a 10 px monospace table font, 6.02 px a character.
const CHAR: f64 = 6.02;
const LINE: f64 = 11.5;
const HEAD: f64 = 22.0;
const SECTION: f64 = 14.0;
const PAD: f64 = 6.0;
const MARGIN: f64 = 16.0;
/// Between columns: room for the edges' labels.
const GAP_X: f64 = 220.0;
/// Between a box and the next one down its column.
const GAP_Y: f64 = 34.0;
/// A box starts at least this far below the top of a box of the grid row above, in any column.
const STAGGER: f64 = 40.0;
const KEY: f64 = 0.0;
/// How much taller Graphviz's boxes come out than ours (its Courier 10 lines are 13 px high,
/// ours 11.5), so the DOT spreads the places out by as much vertically.
const DOT_STRETCH: f64 = 1.15;

/// A box on the page.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Where the ray from the centre towards `(tx, ty)` leaves the box.
    fn border_towards(&self, tx: f64, ty: f64) -> (f64, f64) {
        let (cx, cy) = self.centre();
        let (dx, dy) = (tx - cx, ty - cy);
        let sx = if dx == 0.0 { f64::INFINITY } else { (self.w / 2.0) / dx.abs() };
        let sy = if dy == 0.0 { f64::INFINITY } else { (self.h / 2.0) / dy.abs() };
        let s = sx.min(sy).min(1.0);
        (cx + dx * s, cy + dy * s)
    }
}

/// The widest a line of a box's table runs before it wraps, in characters: keeps the three
/// columns of boxes within 1600 pixels.
const WRAP: usize = 50;

/// A table line's text in pieces of at most [`WRAP`] characters, broken after `; ` or `, `
/// (a piece that cannot be broken stays whole); pieces after the first are indented.
fn wrapped(text: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut word = String::new();
    let flush = |word: &mut String, pieces: &mut Vec<String>| {
        let last = pieces.len() - 1;
        if !pieces[last].is_empty() && pieces[last].chars().count() + word.chars().count() > WRAP {
            pieces.push(format!("  {}", word.trim_start()));
        } else {
            pieces[last].push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        word.push(c);
        if c == ' ' && (word.ends_with("; ") || word.ends_with(", ")) {
            flush(&mut word, &mut pieces);
        }
    }
    flush(&mut word, &mut pieces);
    pieces
}

fn note_width(line: &Line) -> usize {
    let widest = wrapped(&line.text).iter().map(|p| p.chars().count()).max().unwrap_or(0);
    widest + 2 + line.note.chars().count()
}

fn node_size(node: &Node) -> (f64, f64) {
    let widest = node
        .sections
        .iter()
        .flat_map(|s| s.lines.iter().map(note_width).chain([s.title.chars().count()]))
        .chain([node.spot.to_string().chars().count() + 4])
        .max()
        .unwrap_or(0);
    let lines: usize = node.sections.iter().flat_map(|s| &s.lines).map(|l| wrapped(&l.text).len()).sum();
    let titled = node.sections.iter().filter(|s| !s.title.is_empty()).count();
    let h = HEAD + titled as f64 * SECTION + node.sections.len() as f64 * 2.0 + lines as f64 * LINE + PAD;
    (widest as f64 * CHAR + 2.0 * PAD, h)
}

/// The boxes of `machine`'s nodes, in its node order, and the page's size.
fn layout(machine: &Machine) -> (Vec<Rect>, f64, f64) {
    let sizes: Vec<(f64, f64)> = machine.nodes.iter().map(node_size).collect();
    let mut column_w = [0.0f64; 3];
    for (node, (w, _)) in machine.nodes.iter().zip(&sizes) {
        let (col, _) = node.spot.place();
        column_w[col] = column_w[col].max(*w);
    }
    let centre_x = [
        MARGIN + column_w[0] / 2.0,
        MARGIN + column_w[0] + GAP_X + column_w[1] / 2.0,
        MARGIN + column_w[0] + GAP_X + column_w[1] + GAP_X + column_w[2] / 2.0,
    ];
    let width = centre_x[2] + column_w[2] / 2.0 + MARGIN;
    let mut order: Vec<usize> = (0..machine.nodes.len()).collect();
    order.sort_by_key(|&i| machine.nodes[i].spot.place().1);
    let mut rects = vec![Rect { x: 0.0, y: 0.0, w: 0.0, h: 0.0 }; machine.nodes.len()];
    let mut placed: Vec<usize> = Vec::new();
    for i in order {
        let (col, row) = machine.nodes[i].spot.place();
        let (w, h) = sizes[i];
        let centre_in_row = machine.nodes.iter().any(|n| n.spot.place() == (1, row));
        let mut y = MARGIN + 18.0 + header(machine, width).2;
        for &j in &placed {
            let (c, r) = machine.nodes[j].spot.place();
            let (top, bottom) = (rects[j].y, rects[j].y + rects[j].h);
            if c == col {
                // Room for the labels of edges between the two, beside them.
                let labels = machine
                    .edges
                    .iter()
                    .filter(|e| {
                        [e.from, e.to] == [machine.nodes[i].spot, machine.nodes[j].spot]
                            || [e.to, e.from] == [machine.nodes[i].spot, machine.nodes[j].spot]
                    })
                    .map(|e| e.lines.len() as f64 * LINE + 16.0)
                    .fold(0.0, f64::max);
                y = y.max(bottom + GAP_Y.max(labels));
            }
            // A row without a state in the middle sits below the middle state above it, so
            // its edges across the page pass under that state (SYN-SENT to SYN-RECEIVED
            // below LISTEN, as in the RFC's figure); the others start a little below the
            // row above.
            if r + 1 == row && !centre_in_row && c == 1 {
                y = y.max(bottom + 8.0);
            }
            if r + 1 == row && centre_in_row {
                y = y.max(top + STAGGER);
            }
        }
        rects[i] = Rect { x: centre_x[col] - w / 2.0, y, w, h };
        placed.push(i);
    }
    let height = rects.iter().map(|r| r.y + r.h).fold(0.0, f64::max) + KEY + MARGIN;
    (rects, width, height)
}

/// Where the key's entries and the notes go: on the title's line, then on lines below it as
/// far as they need; and how much lower than one line that makes the header.
fn header(machine: &Machine, width: f64) -> (Vec<(f64, f64)>, (f64, f64), f64) {
    let (mut x, mut y) = (MARGIN + (machine.title.chars().count() as f64 + 4.0) * 8.5, MARGIN);
    let mut at = |w: f64| {
        if x + w > width - MARGIN && x > MARGIN {
            (x, y) = (MARGIN, y + 16.0);
        }
        let place = (x, y);
        x += w + 18.0;
        place
    };
    let places = machine.key.iter().map(|(_, what)| at(30.0 + what.chars().count() as f64 * CHAR)).collect();
    let notes = at(machine.notes.chars().count() as f64 * CHAR);
    (places, notes, notes.1 - MARGIN)
}

/// The path of an edge and where its label goes: a quadratic curve from border to border,
/// straight if it can be, else bent just enough to miss every other box (`others`); bent to
/// one side when the reverse edge exists too, so the two do not overlap.
fn route(from: Rect, to: Rect, reverse: bool, others: &[Rect]) -> [(f64, f64); 3] {
    let (fx, fy) = from.centre();
    let (tx, ty) = to.centre();
    let (dx, dy) = (tx - fx, ty - fy);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (nx, ny) = (-dy / len, dx / len);
    let curve = |bend: f64| {
        let (mx, my) = ((fx + tx) / 2.0 + nx * bend * len, (fy + ty) / 2.0 + ny * bend * len);
        let (ax, ay) = from.border_towards(mx, my);
        let (bx, by) = to.border_towards(mx, my);
        [(ax, ay), (mx, my), (bx, by)]
    };
    let clear = |c: [(f64, f64); 3]| {
        (1..20).map(|k| at(c, f64::from(k) / 20.0)).all(|(x, y)| {
            others.iter().all(|r| x < r.x - 4.0 || x > r.x + r.w + 4.0 || y < r.y - 4.0 || y > r.y + r.h + 4.0)
        })
    };
    // Boxes side by side: a level line at a height both span, if one is clear.
    let (low, high) = (from.y.max(to.y) + 8.0, (from.y + from.h).min(to.y + to.h) - 8.0);
    let (left, right) = if from.x < to.x { (from.x + from.w, to.x) } else { (from.x, to.x + to.w) };
    let level = (0..)
        .map(|k| low + 6.0 * f64::from(k))
        .take_while(|&y| y <= high && !reverse && (from.x + from.w < to.x || to.x + to.w < from.x))
        .map(|y| [(left, y), ((left + right) / 2.0, y), (right, y)])
        .find(|&c| clear(c));
    let bends: &[f64] = if reverse { &[0.12, 0.25, 0.4] } else { &[0.0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45] };
    let c = level.or_else(|| bends.iter().map(|&b| curve(b)).find(|&c| clear(c))).unwrap_or_else(|| curve(bends[0]));
    c
}

/// A point of a quadratic curve.
fn at([(ax, ay), (mx, my), (bx, by)]: [(f64, f64); 3], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    (u * u * ax + 2.0 * u * t * mx + t * t * bx, u * u * ay + 2.0 * u * t * my + t * t * by)
}

/// Points along a curve, one every few pixels: what a label should not cover.
fn samples(c: [(f64, f64); 3]) -> Vec<(f64, f64)> {
    let ((ax, ay), (bx, by)) = (c[0], c[2]);
    let n = (((bx - ax).powi(2) + (by - ay).powi(2)).sqrt() / 4.0).ceil().max(2.0) as u32;
    (0..=n).map(|k| at(c, f64::from(k) / f64::from(n))).collect()
}

/// Where an edge's label goes: beside a steep curve or above or below a flat one, at the point
/// nearest the middle, and as close to the curve as it can, where it covers least of the boxes
/// and labels placed before (`taken`) and of the other edges' lines (`crossed`, their points).
/// Returns the label's box and its text anchor.
fn place_label(
    c: [(f64, f64); 3],
    lines: &[Line],
    width: f64,
    taken: &[Rect],
    crossed: &[(f64, f64)],
) -> (Rect, &'static str) {
    let chars = lines.iter().map(|l| l.text.chars().count() + 1 + l.note.chars().count()).max().unwrap_or(0);
    let (w, h) = (chars as f64 * CHAR, lines.len() as f64 * LINE);
    let steep = (c[2].1 - c[0].1).abs() > (c[2].0 - c[0].0).abs();
    // Away from the curve by `off` more than the least.
    let candidate = |t: f64, other_side: bool, off: f64| {
        let (x, y) = at(c, t);
        match (steep, (x > width / 2.0 + 100.0) != other_side) {
            (true, true) => (Rect { x: x - 8.0 - off - w, y: y - h / 2.0, w, h }, "end"),
            (true, false) => (Rect { x: x + 8.0 + off, y: y - h / 2.0, w, h }, "start"),
            (false, false) => (Rect { x: x - w / 2.0, y: y - 4.0 - off - h, w, h }, "middle"),
            (false, true) => (Rect { x: x - w / 2.0, y: y + 4.0 + off, w, h }, "middle"),
        }
    };
    // Square pixels covered, a crossing line as a few; on the page.
    let covered = |r: Rect| {
        let off_page = if r.x < 0.0 || r.x + r.w > width { 1e9 } else { 0.0 };
        let boxes: f64 = taken
            .iter()
            .map(|t| {
                let dx = (r.x + r.w).min(t.x + t.w) - r.x.max(t.x);
                let dy = (r.y + r.h).min(t.y + t.h) - r.y.max(t.y);
                dx.max(0.0) * dy.max(0.0)
            })
            .sum();
        let lines = crossed.iter().filter(|(x, y)| *x > r.x && *x < r.x + r.w && *y > r.y && *y < r.y + r.h).count();
        off_page + boxes + LINE_COST * lines as f64
    };
    // The middle first, then outwards; each place also further from the curve, at a price.
    let mut best = candidate(0.5, false, 0.0);
    let mut least = covered(best.0);
    for off in [0.0, LINE, 2.0 * LINE, 4.0 * LINE] {
        for t in (0..19).map(|k| 0.5 + f64::from(if k % 2 == 0 { k / 2 } else { -(k / 2) - 1 }) * 0.05) {
            for side in [false, true] {
                let (r, anchor) = candidate(t, side, off);
                let cost = covered(r) + off * FAR_COST + (t - 0.5).abs() * MOVE_COST;
                if cost < least {
                    (best, least) = ((r, anchor), cost);
                }
            }
        }
    }
    best
}

/// What a point of another edge's line under a label costs, in square pixels of overlap.
const LINE_COST: f64 = 8.0;
/// What moving a label a pixel further from its curve costs.
const FAR_COST: f64 = 10.0;
/// What moving a label from the middle of its curve to an end costs.
const MOVE_COST: f64 = 200.0;

impl Machine {
    /// The machine as one SVG document. `id` prefixes the SVG's ids (its arrowheads), so that
    /// several drawings can share an HTML page.
    pub fn svg(&self, id: &str) -> String {
        let (rects, width, height) = layout(self);
        let at = |spot: Spot| self.nodes.iter().position(|n| n.spot == spot).map(|i| rects[i]);
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" font-family="DejaVu Sans Mono, monospace" font-size="10" role="img" aria-label="{}">"#,
            xml(&self.title)
        );
        let _ = writeln!(out, "<title>{}</title>", xml(&self.title));
        let mut colours: Vec<&str> = self.edges.iter().map(|e| e.ink.colour.as_str()).collect();
        colours.sort();
        colours.dedup();
        out.push_str("<defs>\n");
        for c in &colours {
            let _ = writeln!(
                out,
                r#"<marker id="{id}-arrow-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>"#,
                c.trim_start_matches('#')
            );
        }
        out.push_str("</defs>\n");
        let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            out,
            r#"<text x="{MARGIN}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
            MARGIN + 4.0,
            xml(&self.title)
        );
        // Edges first, boxes over them, labels last so no line crosses a label's text. Every
        // path is routed before any label is placed, so that labels keep off all of them.
        let routes: Vec<Option<[(f64, f64); 3]>> = self
            .edges
            .iter()
            .map(|edge| {
                let (from, to) = (at(edge.from)?, at(edge.to)?);
                let reverse = self.edges.iter().any(|e| e.from == edge.to && e.to == edge.from);
                let others: Vec<Rect> = rects.iter().copied().filter(|r| *r != from && *r != to).collect();
                Some(route(from, to, reverse, &others))
            })
            .collect();
        let points: Vec<Vec<(f64, f64)>> = routes.iter().map(|c| c.map(samples).unwrap_or_default()).collect();
        let mut labels = String::new();
        let mut taken: Vec<Rect> = rects.clone();
        // The longest labels first: they have the fewest places to go.
        let mut order: Vec<usize> = (0..self.edges.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(self.edges[k].lines.len()));
        for k in order {
            let edge = &self.edges[k];
            let Some(c) = routes[k] else { continue };
            let [(ax, ay), (mx, my), (bx, by)] = c;
            let path = format!("M{ax:.1},{ay:.1} Q{mx:.1},{my:.1} {bx:.1},{by:.1}");
            let dash = if edge.ink.dashed { r#" stroke-dasharray="6,4""# } else { "" };
            let tip: Vec<&str> = edge.lines.iter().map(|l| l.tip.as_str()).collect();
            let _ = writeln!(
                out,
                r#"<g><title>{}</title><path d="{path}" fill="none" stroke="{}" stroke-width="{:.1}"{dash} marker-end="url(#{id}-arrow-{})"/></g>"#,
                xml(&tip.join("\n")),
                edge.ink.colour,
                edge.ink.width,
                edge.ink.colour.trim_start_matches('#')
            );
            let crossed: Vec<(f64, f64)> =
                points.iter().enumerate().filter(|(j, _)| *j != k).flat_map(|(_, p)| p.iter().copied()).collect();
            let (label, anchor) = place_label(c, &edge.lines, width, &taken, &crossed);
            taken.push(label);
            let x = match anchor {
                "end" => label.x + label.w,
                "middle" => label.x + label.w / 2.0,
                _ => label.x,
            };
            for (k, line) in edge.lines.iter().enumerate() {
                let _ = writeln!(
                    labels,
                    r##"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" dominant-baseline="middle" fill="{}" stroke="white" stroke-width="3" paint-order="stroke"><title>{}</title>{} <tspan fill="{NOTE}">{}</tspan></text>"##,
                    label.y + (k as f64 + 0.5) * LINE,
                    line.ink.colour,
                    xml(&line.tip),
                    xml(&line.text),
                    xml(&line.note)
                );
            }
        }
        for (node, rect) in self.nodes.iter().zip(&rects) {
            out.push_str(&node_svg(node, *rect));
        }
        out.push_str(&labels);
        let (places, notes, _) = header(self, width);
        for ((ink, what), (x, y)) in self.key.iter().zip(places) {
            let dash = if ink.dashed { r#" stroke-dasharray="6,4""# } else { "" };
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="{:.1}"{dash}/><text x="{:.1}" y="{:.1}" dominant-baseline="middle" fill="{}">{}</text>"#,
                x + 24.0,
                ink.colour,
                ink.width.max(1.5),
                x + 30.0,
                y,
                ink.colour,
                xml(what)
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" dominant-baseline="middle" fill="{GREY}">{}</text>"##,
            notes.0,
            notes.1,
            xml(&self.notes)
        );
        out.push_str("</svg>\n");
        out
    }

    /// The machine as a Graphviz document: the same boxes (HTML-like tables) at the same places,
    /// pinned (`pos="x,y!"`) and laid out by neato, which `dot` runs for it (`layout=neato`).
    pub fn dot(&self) -> String {
        let (rects, _, height) = layout(self);
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", escape(&self.name));
        out.push_str("    layout=neato; splines=true; outputorder=edgesfirst; fontname=\"Helvetica\";\n");
        out.push_str(
            "    node [shape=plain, fontname=\"Courier\", fontsize=10]; edge [fontname=\"Courier\", fontsize=10];\n",
        );
        let key: Vec<String> = self.key.iter().map(|(ink, what)| format!("{} {what}", colour_name(ink))).collect();
        let _ = writeln!(
            out,
            "    label=\"{}: {}\\nrows that keep the state, and those that close the connection, are listed in each state's box; {}\"; labelloc=b;",
            escape(&self.title),
            escape(&key.join(", ")),
            escape(&self.notes)
        );
        for (node, rect) in self.nodes.iter().zip(&rects) {
            let (cx, cy) = rect.centre();
            let _ = writeln!(
                out,
                "    n{} [pos=\"{:.2},{:.2}!\", label=<{}>];",
                node.spot.id(),
                cx / 72.0,
                // Graphviz draws a table's lines a little taller than the SVG does.
                (height - cy) * DOT_STRETCH / 72.0,
                node_html(node)
            );
        }
        for edge in &self.edges {
            let label: Vec<String> = edge.lines.iter().map(|l| format!("{}  {}", l.text, l.note)).collect();
            let tip: Vec<&str> = edge.lines.iter().map(|l| l.tip.as_str()).collect();
            let style = if edge.ink.dashed { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "    n{} -> n{} [label=\"{}\\l\", tooltip=\"{}\", color=\"{}\", fontcolor=\"{}\", penwidth={:.1}{style}];",
                edge.from.id(),
                edge.to.id(),
                escape(&label.join("\n")).replace('\n', "\\l"),
                escape(&tip.join("\n")),
                edge.ink.colour,
                edge.ink.colour,
                edge.ink.width
            );
        }
        out.push_str("}\n");
        out
    }
}

fn colour_name(ink: &Ink) -> String {
    let name = match ink.colour.as_str() {
        USER => "blue",
        INK => "black",
        TIMER => "brown",
        GREY => "grey",
        ORANGE => "orange",
        RED if ink.dashed => "dashed red",
        RED => "red",
        _ => "green",
    };
    format!("{name} =")
}

fn node_svg(node: &Node, rect: Rect) -> String {
    let mut out = String::new();
    let Rect { x, y, w, h } = rect;
    let _ = writeln!(
        out,
        r##"<g><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="6" fill="{PAPER}" stroke="{INK}" stroke-width="1.5"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        x + w / 2.0,
        y + 16.0,
        node.spot
    );
    let mut top = y + HEAD;
    for section in &node.sections {
        let _ = writeln!(out, r##"<line x1="{x:.1}" y1="{top:.1}" x2="{:.1}" y2="{top:.1}" stroke="{RULE}"/>"##, x + w);
        if !section.title.is_empty() {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-style="italic" fill="{FAINT}">{}</text>"##,
                x + PAD,
                top + 11.0,
                xml(&section.title)
            );
            top += SECTION;
        }
        top += 2.0;
        for line in &section.lines {
            let decoration = if line.ink.dashed { r#" text-decoration="underline""# } else { "" };
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{NOTE}">{}</text>"##,
                x + w - PAD,
                top + 9.5,
                xml(&line.note)
            );
            for piece in wrapped(&line.text) {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" fill="{}"{decoration} xml:space="preserve"><title>{}</title>{}</text>"##,
                    x + PAD,
                    top + 9.5,
                    line.ink.colour,
                    xml(&line.tip),
                    xml(&piece),
                );
                top += LINE;
            }
        }
    }
    out.push_str("</g>\n");
    out
}

fn node_html(node: &Node) -> String {
    let mut out = format!("<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\" STYLE=\"ROUNDED\" BGCOLOR=\"{PAPER}\">");
    let _ = write!(
        out,
        "<TR><TD COLSPAN=\"2\"><FONT FACE=\"Helvetica-Bold\" POINT-SIZE=\"13\">{}</FONT></TD></TR>",
        node.spot
    );
    for section in &node.sections {
        out.push_str("<HR/>");
        if !section.title.is_empty() {
            let _ = write!(
                out,
                "<TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\"><FONT COLOR=\"{FAINT}\" POINT-SIZE=\"9\"><I>{}</I></FONT></TD></TR>",
                xml(&section.title)
            );
        }
        for line in &section.lines {
            let _ = write!(
                out,
                "<TR><TD ALIGN=\"LEFT\" BALIGN=\"LEFT\" TOOLTIP=\"{}\"><FONT COLOR=\"{}\">{}</FONT></TD><TD ALIGN=\"RIGHT\" VALIGN=\"TOP\"><FONT COLOR=\"{NOTE}\">{}</FONT></TD></TR>",
                xml(&line.tip),
                line.ink.colour,
                wrapped(&line.text).iter().map(|p| xml(p).replace("  ", "&#160;&#160;")).collect::<Vec<_>>().join("<BR/>"),
                xml(&line.note)
            );
        }
    }
    out.push_str("</TABLE>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped::Shipped;

    fn rfc9293() -> Model {
        Shipped::default_model().load().unwrap()
    }

    #[test]
    fn every_row_is_drawn_once() {
        let model = rfc9293();
        let m = Machine::of_model(&model, Paint::Kind, Fold::default());
        // Each row's tooltip is on exactly one line.
        let tips: usize = m
            .nodes
            .iter()
            .flat_map(|n| &n.sections)
            .flat_map(|s| &s.lines)
            .chain(m.edges.iter().flat_map(|e| &e.lines))
            .map(|l| l.tip.lines().count())
            .sum();
        assert_eq!(tips, model.rows().len());
        assert_eq!(m.nodes.len(), State::COUNT);
        // One edge per (from, to) that changes the state to anything but CLOSED.
        let mut pairs: Vec<(State, State)> = model
            .rows()
            .iter()
            .map(|r| (r.rule.from, r.rule.to))
            .filter(|(f, t)| f != t && *t != State::Closed)
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(m.edges.len(), pairs.len());
    }

    #[test]
    fn no_loops_leaves_out_the_rows_that_keep_the_state() {
        let model = rfc9293();
        let m = Machine::of_model(&model, Paint::Kind, Fold { no_loops: true });
        assert!(m.nodes.iter().flat_map(|n| &n.sections).all(|s| s.title.starts_with("→ CLOSED")));
    }

    #[test]
    fn coverage_marks_rows_never_fired() {
        let model = rfc9293();
        let mut hits = vec![0; model.rows().len()];
        hits[0] = 5;
        let m = Machine::of_model(&model, Paint::Coverage(&hits), Fold::default());
        let lines: Vec<&Line> = m
            .nodes
            .iter()
            .flat_map(|n| &n.sections)
            .flat_map(|s| &s.lines)
            .chain(m.edges.iter().flat_map(|e| &e.lines))
            .collect();
        let never: usize = lines.iter().map(|l| l.tip.matches("(0 hits)").count()).sum();
        assert_eq!(never, model.rows().len() - 1);
        assert_eq!(lines.iter().filter(|l| l.note.contains("×5")).count(), 1);
        assert!(lines.iter().filter(|l| !l.note.contains("×5")).all(|l| l.ink.dashed));
    }

    #[test]
    fn every_shipped_model_fits_1600_by_1200_without_overlaps() {
        for shipped in crate::model::shipped::SHIPPED {
            let model = shipped.load().unwrap();
            let m = Machine::of_model(&model, Paint::Kind, Fold::default());
            let (rects, width, height) = layout(&m);
            for (i, a) in rects.iter().enumerate() {
                for b in &rects[i + 1..] {
                    let apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
                    assert!(apart, "{}: {a:?} overlaps {b:?}", model.name());
                }
            }
            // Shown whole on a 1600x1200 screen, the 10 px text stays at 9 px or more.
            let scale = (1600.0 / width).min(1200.0 / height).min(1.0);
            assert!(scale >= 0.9, "{}: {width} x {height}", model.name());
        }
    }

    #[test]
    fn boxes_follow_the_rfc_figure() {
        let m = Machine::of_model(&rfc9293(), Paint::Kind, Fold::default());
        let (rects, _, _) = layout(&m);
        let rect = |s: State| rects[m.nodes.iter().position(|n| n.spot == Spot::State(s)).unwrap()];
        assert!(rect(State::Closed).y < rect(State::Listen).y);
        assert!(rect(State::SynReceived).x < rect(State::Established).x);
        assert!(rect(State::Established).x < rect(State::SynSent).x);
        assert!(rect(State::Closing).y < rect(State::TimeWait).y);
    }

    #[test]
    fn the_svg_is_well_formed_xml_with_a_box_per_state() {
        let m = Machine::of_model(&rfc9293(), Paint::Kind, Fold::default());
        let svg = m.svg("m");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let boxes = doc.descendants().filter(|n| n.has_tag_name("rect") && n.attribute("rx").is_some()).count();
        assert_eq!(boxes, State::COUNT);
        assert!(svg.contains("url(#m-arrow-"));
    }

    #[test]
    fn long_lines_wrap_after_a_separator_and_indent() {
        assert_eq!(wrapped("ACK / drop"), ["ACK / drop"]);
        let long = "FIN|ACK|DATA / accept-ack; deliver; accept-fin; send ACK; signal CLOSING";
        let pieces = wrapped(long);
        assert_eq!(pieces, ["FIN|ACK|DATA / accept-ack; deliver; accept-fin; ", "  send ACK; signal CLOSING"]);
        assert!(pieces.iter().all(|p| p.chars().count() <= WRAP));
        let unbreakable = "x".repeat(WRAP + 10);
        assert_eq!(wrapped(&unbreakable), vec![unbreakable.clone()]);
    }

    #[test]
    fn the_dot_pins_every_state() {
        let m = Machine::of_model(&rfc9293(), Paint::Kind, Fold::default());
        let dot = m.dot();
        assert_eq!(dot.matches("!\", label=<").count(), State::COUNT);
        assert_eq!(
            dot.lines().filter(|l| l.trim_start().starts_with('n') && l.contains(" -> n")).count(),
            m.edges.len()
        );
        assert_eq!(dot.matches("digraph").count(), 1);
    }
}
