//! The columns of the text sequence diagrams (`simulate`, `check`, `replay`): by default they
//! fit [`FIT`] columns, a long cell wrapped at spaces onto the lines below; `--wide` draws each
//! event on one line, however long, as the diagrams were first drawn.

/// How wide a text diagram is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Width {
    /// Within [`FIT`] columns.
    #[default]
    Fit,
    /// One line per event, as wide as it takes.
    Wide,
}

impl Width {
    /// What `--wide` asks for.
    pub fn from_wide(wide: bool) -> Self {
        if wide {
            Width::Wide
        } else {
            Width::Fit
        }
    }
}

/// The widest line of a diagram drawn to fit (a terminal at 120 columns).
pub const FIT: usize = 120;

/// One column: its width, its alignment and what separates it from the next.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    pub width: usize,
    /// Right-aligned and never wrapped (times, step numbers).
    pub right: bool,
    pub gap: &'static str,
}

impl Column {
    pub const fn left(width: usize) -> Self {
        Column { width, right: false, gap: "" }
    }

    pub const fn right(width: usize, gap: &'static str) -> Self {
        Column { width, right: true, gap }
    }
}

/// A row layout: columns, and whether long cells wrap.
pub(crate) struct Grid<const N: usize> {
    pub columns: [Column; N],
    pub wrap: bool,
}

impl<const N: usize> Grid<N> {
    /// The cells as lines: one when nothing wraps, more when a cell is wider than its column.
    /// Trailing blanks are trimmed.
    pub fn row(&self, cells: [&str; N]) -> Vec<String> {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .zip(&self.columns)
            .enumerate()
            .map(|(i, (cell, col))| {
                // A column leaves two blanks before the next one; the last may fill its width.
                let room = if i + 1 == N { col.width } else { col.width.saturating_sub(2) };
                if self.wrap && !col.right {
                    wrap(cell, room)
                } else {
                    vec![cell.to_string()]
                }
            })
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        (0..height)
            .map(|line| {
                let mut out = String::new();
                for (cell, col) in wrapped.iter().zip(&self.columns) {
                    let text = cell.get(line).map_or("", String::as_str);
                    let w = col.width;
                    if col.right {
                        out += &format!("{text:>w$}");
                    } else {
                        out += &format!("{text:<w$}");
                    }
                    out += col.gap;
                }
                out.trim_end().to_string()
            })
            .collect()
    }
}

/// `text` in lines of at most `width` characters, broken at spaces (a word longer than a line
/// is cut). Continuation lines are indented two more than the first.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    if text.chars().count() <= width {
        return vec![text.to_string()];
    }
    let indent = text.len() - text.trim_start_matches(' ').len();
    let width = width.max(indent + 8);
    let mut lines: Vec<String> = Vec::new();
    let mut line = " ".repeat(indent);
    let mut fresh = true;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let need = word.len() + usize::from(!fresh);
            if used + need <= width {
                if !fresh {
                    line.push(' ');
                }
                line.extend(word.iter());
                fresh = false;
                break;
            }
            if fresh {
                // Alone on its line and still too long: cut it.
                let cut = width.saturating_sub(used).max(1).min(word.len());
                line.extend(word.drain(..cut));
                lines.push(std::mem::replace(&mut line, " ".repeat(indent + 2)));
                if word.is_empty() {
                    break;
                }
                continue;
            }
            lines.push(std::mem::replace(&mut line, " ".repeat(indent + 2)));
            fresh = true;
        }
    }
    if !fresh || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_indents_continuations() {
        assert_eq!(wrap("aaa bbb ccc", 8), ["aaa bbb", "  ccc"]);
        assert_eq!(wrap("  x y", 20), ["  x y"]);
        assert_eq!(wrap("", 10), [""]);
        for line in wrap("abcdefghijklmnopqrstuvwxyz and more words here", 10) {
            assert!(line.chars().count() <= 10, "{line:?}");
        }
    }

    #[test]
    fn a_row_wraps_its_cells_and_pads_the_columns() {
        let grid = Grid { columns: [Column::right(4, " "), Column::left(10), Column::left(10)], wrap: true };
        assert_eq!(grid.row(["1s", "one two three", "x"]), ["  1s one two   x", "       three"]);
        let wide = Grid { wrap: false, ..grid };
        assert_eq!(wide.row(["1s", "one two three", "x"]), ["  1s one two threex"]);
    }
}
