//! Diagnostics for table files: every problem points at `file:line:col`, says what was
//! expected and, where it can, how to fix it. Problems are collected, never thrown one by one.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// A table file's name and text, shared by every diagnostic that points into it.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: Arc<str>,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        Source { name: name.into(), text: text.into() }
    }

    /// Whether two sources are the same file: the same name and the same text. (A shipped
    /// model and a file on disk may share a name but not, once edited, a text.)
    pub fn same_file(&self, other: &Source) -> bool {
        (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text) && self.name == other.name
    }

    /// The byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let start: usize = self.text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
        let rest = self.text.get(start..).unwrap_or("");
        let within = rest.char_indices().nth(col.saturating_sub(1)).map_or(rest.len(), |(i, _)| i);
        start + within
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// A byte range in a [`Source`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(offset: usize, len: usize) -> Self {
        Span { offset, len }
    }

    pub fn end(self) -> usize {
        self.offset + self.len
    }
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> Self {
        (span.offset, span.len).into()
    }
}

/// What kind of mistake a [`Problem`] is; also its diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A line that is not a directive, a row or a comment.
    Syntax,
    /// A state, input, guard, action or other word the vocabulary does not know.
    Unknown,
    /// A directive given twice or missing.
    Header,
    /// A row without `@ SECTION`.
    Uncited,
    /// A guard atom that means nothing for this state or input.
    Inapplicable,
    /// Actions that contradict the row's target state.
    Inconsistent,
    /// Some state x input x guard valuation is matched by no row.
    NonExhaustive,
    /// A row that can never fire: earlier rows take every case it matches.
    Shadowed,
    /// A row whose input cannot happen there or whose guard can never hold.
    Impossible,
    /// A state no row sequence leads to from CLOSED.
    UnreachableState,
    /// A file tcpcheck reads back (a finding, a script) that is not in its format.
    BadFile,
    /// A variant whose base cannot be found, or whose change does not apply to it.
    Variant,
}

impl Kind {
    pub const fn code(self) -> &'static str {
        match self {
            Kind::Syntax => "tcpcheck::syntax",
            Kind::Unknown => "tcpcheck::unknown",
            Kind::Header => "tcpcheck::header",
            Kind::Uncited => "tcpcheck::uncited",
            Kind::Inapplicable => "tcpcheck::inapplicable-guard",
            Kind::Inconsistent => "tcpcheck::inconsistent",
            Kind::NonExhaustive => "tcpcheck::non-exhaustive",
            Kind::Shadowed => "tcpcheck::unreachable-row",
            Kind::Impossible => "tcpcheck::impossible-row",
            Kind::UnreachableState => "tcpcheck::unreachable-state",
            Kind::BadFile => "tcpcheck::bad-file",
            Kind::Variant => "tcpcheck::variant",
        }
    }
}

/// One problem in a table file.
#[derive(Clone, Debug)]
pub struct Problem {
    pub kind: Kind,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<(Span, String)>,
    pub help: Option<String>,
    /// Locations in other files, each shown as an advice of its own: a diagnostic's labels all
    /// point into one text, and a variant's problem may concern its base's rows.
    pub notes: Vec<Problem>,
    /// Whether this is a note (rendered as advice) rather than an error.
    note: bool,
    source: Option<Source>,
    /// The same text, named, for the renderer's `[file:line:col]` header.
    named: Option<NamedSource<Arc<str>>>,
}

impl Problem {
    pub fn new(kind: Kind, span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        Problem {
            kind,
            message: message.into(),
            labels: vec![(span, label.into())],
            help: None,
            notes: Vec::new(),
            note: false,
            source: None,
            named: None,
        }
    }

    /// A note at `span` of `source`, to hang under a problem with [`Problem::note`].
    pub fn note_at(source: &Source, span: Span, message: impl Into<String>, label: impl Into<String>) -> Self {
        let mut note = Problem::new(Kind::Variant, span, message, label).in_source(source);
        note.note = true;
        note
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    /// The problem as a note under another: rendered as advice, its own notes kept.
    pub fn into_note(mut self) -> Problem {
        self.note = true;
        self
    }

    /// Attaches another location as a note: a problem found in one file that concerns another.
    pub fn note(mut self, note: Problem) -> Self {
        self.notes.push(note);
        self
    }

    /// A label at `span` of `source`: one of this problem's labels when `source` is the
    /// problem's own file, else a note of its own (a diagnostic's labels share one text).
    pub fn label_in(self, source: &Source, span: Span, text: impl Into<String>) -> Self {
        match &self.source {
            Some(own) if own.same_file(source) => self.label(span, text),
            _ => self.note(Problem::note_at(source, span, text, "")),
        }
    }

    /// Points the problem into `source`: its labels are spans of that text.
    pub fn in_source(mut self, source: &Source) -> Self {
        self.source = Some(source.clone());
        self.named = Some(NamedSource::new(&*source.name, source.text.clone()));
        self
    }

    /// The file the labels point into, once attached.
    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// `file:line:col` of the primary label.
    pub fn location(&self) -> String {
        match (&self.source, self.labels.first()) {
            (Some(src), Some((span, _))) => {
                let (line, col) = src.locate(span.offset);
                format!("{}:{line}:{col}", src.name)
            }
            (Some(src), None) => src.name.to_string(),
            _ => String::from("<unknown>"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.note).then(|| Box::new(self.kind.code()) as Box<dyn fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.named.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.note { miette::Severity::Advice } else { miette::Severity::Error })
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.notes.is_empty() {
            return None;
        }
        Some(Box::new(self.notes.iter().map(|p| p as &dyn Diagnostic)))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let text_len = self.source.as_ref().map_or(0, |s| s.text.len());
        Some(Box::new(self.labels.iter().enumerate().map(move |(i, (span, text))| {
            // Spans come from our own parser, but clamp anyway: a bad span must not panic a renderer.
            let offset = span.offset.min(text_len);
            let len = span.len.min(text_len - offset);
            let label = Some(text.clone()).filter(|t| !t.is_empty());
            if i == 0 {
                LabeledSpan::new_primary_with_span(label, (offset, len))
            } else {
                LabeledSpan::new_with_span(label, (offset, len))
            }
        })))
    }
}

/// Every problem found in one table file. Renders as one report with each problem related.
#[derive(Clone, Debug)]
pub struct Problems {
    pub source: Source,
    pub problems: Vec<Problem>,
}

impl Problems {
    /// The problems of the file `source`; a problem not yet pointed into a file points into it.
    pub fn new(source: &Source, problems: Vec<Problem>) -> Self {
        let problems = problems.into_iter().map(|p| if p.source.is_some() { p } else { p.in_source(source) }).collect();
        Problems { source: source.clone(), problems }
    }

    pub fn kinds(&self) -> Vec<Kind> {
        self.problems.iter().map(|p| p.kind).collect()
    }

    /// The report as plain text (no colour, ASCII art), as tests and non-terminals want it.
    pub fn render_plain(&self) -> String {
        render(self, false)
    }
}

/// How many problems a report shows; a file of garbage need not print a thousand snippets.
pub const SHOWN: usize = 30;

/// Renders any diagnostic: with colour, Unicode and wrapping when `fancy` (a terminal), else
/// plain ASCII without wrapping (logs, tests, pipes).
pub fn render(diagnostic: &dyn Diagnostic, fancy: bool) -> String {
    let handler = if fancy {
        miette::GraphicalReportHandler::new()
    } else {
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::none()).with_wrap_lines(false)
    };
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "{}: {n} problem{}", self.source.name, if n == 1 { "" } else { "s" })?;
        if n > SHOWN {
            write!(f, " (the first {SHOWN} shown)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Diagnostic for Problems {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().take(SHOWN).map(|p| p as &dyn Diagnostic)))
    }
}

/// "did you mean `X`?" for a misspelt word, when one known word is close enough.
pub fn did_you_mean<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word_upper = word.to_ascii_uppercase();
    let allowed = |k: &str| (k.len() / 3).max(2);
    known
        // The length difference bounds the distance: skip hopeless candidates before the O(n*m) work.
        .filter(|k| word.len().abs_diff(k.len()) <= allowed(k))
        .map(|k| (strsim::levenshtein(&word_upper, &k.to_ascii_uppercase()), k))
        .filter(|&(d, k)| d <= allowed(k))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_characters() {
        let src = Source::new("t.tcp", "ab\ncé d\n");
        assert_eq!(src.locate(0), (1, 1));
        assert_eq!(src.locate(3), (2, 1));
        assert_eq!(src.locate(7), (2, 4)); // after "cé " (é is two bytes)
        assert_eq!(src.locate(999), (3, 1));
        for offset in [0, 3, 7] {
            let (line, col) = src.locate(offset);
            assert_eq!(src.offset(line, col), offset);
        }
    }

    #[test]
    fn suggests_near_names_only() {
        let states = ["SYN-RECEIVED", "TIME-WAIT", "CLOSED"];
        assert_eq!(did_you_mean("SYN-RECIEVED", states.iter().copied()), Some("SYN-RECEIVED"));
        assert_eq!(did_you_mean("time-wait", states.iter().copied()), Some("TIME-WAIT"));
        assert_eq!(did_you_mean("BANANA", states.iter().copied()), None);
    }
}
