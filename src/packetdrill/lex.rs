//! packetdrill's tokens, as its flex lexer (`lexer.l`) cuts them: whitespace and newlines
//! separate tokens and mean nothing else, `//` and `/* */` are comments, and a number glued to
//! a sign or a dot is one number (`-1`, `.1`, `0.100`). Spans are byte ranges of the source.
//!
//! Never panics: anything that is not a known token is a one-character [`Tok::Punct`]; only an
//! unterminated string, comment or code block and a number too large for 64 bits are errors.

use crate::model::{Kind, Problem, Span};

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `--name` of a script option (the `=value` follows as tokens).
    Option(String),
    /// A decimal integer, sign included.
    Int(i64),
    /// `0x1f`.
    Hex(i64),
    /// A decimal with a fraction (`0.100`, `.1`), as written, sign included.
    Float(String),
    /// A word: letters, digits, `_` (`socket`, `SOCK_STREAM`, `S`, `sackOK`).
    Word(String),
    /// `"text"`, without the quotes.
    Str(String),
    /// `` `shell command` ``, without the quotes.
    BackQuoted(String),
    /// `%{ python }%`, without the delimiters.
    Code(String),
    /// A dotted-quad IPv4 address.
    Addr(String),
    /// `...`.
    Ellipsis,
    /// Any other single character.
    Punct(char),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

impl Tok {
    /// How a diagnostic names the token.
    pub fn describe(&self) -> String {
        match self {
            Tok::Option(o) => format!("option `--{o}`"),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Hex(n) => format!("`{n:#x}`"),
            Tok::Float(f) => format!("`{f}`"),
            Tok::Word(w) => format!("`{w}`"),
            Tok::Str(_) => "a string".into(),
            Tok::BackQuoted(_) => "a shell command".into(),
            Tok::Code(_) => "a code block".into(),
            Tok::Addr(a) => format!("address `{a}`"),
            Tok::Ellipsis => "`...`".into(),
            Tok::Punct(c) => format!("`{c}`"),
        }
    }
}

/// The tokens of `text`, or the problems that stop lexing.
pub fn lex(text: &str) -> Result<Vec<Token>, Box<Problem>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let at = |end: usize| Span::new(start, end - start);
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with(b"/*") {
            let Some(end) = find(rest, b"*/", 2) else {
                return Err(Box::new(unterminated(at(bytes.len()), "comment", "*/")));
            };
            i += end + 2;
            continue;
        }
        if rest.starts_with(b"%{") {
            let Some(end) = find(rest, b"}%", 2) else {
                return Err(Box::new(unterminated(at(bytes.len()), "code block", "}%")));
            };
            let code = text.get(i + 2..i + end).unwrap_or("").trim().to_string();
            i += end + 2;
            out.push(Token { tok: Tok::Code(code), span: at(i) });
            continue;
        }
        if rest.starts_with(b"...") {
            i += 3;
            out.push(Token { tok: Tok::Ellipsis, span: at(i) });
            continue;
        }
        if rest.starts_with(b"--") && rest.get(2).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            let len = word_len(&rest[2..]);
            i += 2 + len;
            out.push(Token { tok: Tok::Option(text[start + 2..i].to_string()), span: at(i) });
            continue;
        }
        if c == b'"' || c == b'`' {
            let Some(len) = quoted_len(rest, c) else {
                let what = if c == b'"' { "string" } else { "shell command" };
                return Err(Box::new(unterminated(at(bytes.len()), what, &(c as char).to_string())));
            };
            i += len;
            let inner = text.get(start + 1..i - 1).unwrap_or("").to_string();
            let tok = if c == b'"' { Tok::Str(inner) } else { Tok::BackQuoted(inner) };
            out.push(Token { tok, span: at(i) });
            continue;
        }
        if let Some((len, tok)) = number(&text[i..]) {
            i += len;
            let tok = tok.map_err(|message| {
                Box::new(Problem::new(Kind::Syntax, at(i), message, "here").help("packetdrill numbers fit in 64 bits"))
            })?;
            out.push(Token { tok, span: at(i) });
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            i += word_len(rest);
            // `sequence#`, GRE's keyword, is the one word with a `#`.
            if text[start..i].eq("sequence") && bytes.get(i) == Some(&b'#') {
                i += 1;
            }
            out.push(Token { tok: Tok::Word(text[start..i].to_string()), span: at(i) });
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
        i += ch.len_utf8().max(1);
        out.push(Token { tok: Tok::Punct(ch), span: at(i) });
    }
    Ok(out)
}

fn unterminated(span: Span, what: &str, close: &str) -> Problem {
    Problem::new(Kind::Syntax, Span::new(span.offset, 1), format!("unterminated {what}"), "starts here")
        .help(format!("close it with `{close}`"))
}

/// Where `needle` starts in `hay`, searching from `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn word_len(bytes: &[u8]) -> usize {
    bytes.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).unwrap_or(bytes.len())
}

/// The length of a quoted token opening with `quote`, backslash escapes included.
fn quoted_len(bytes: &[u8], quote: u8) -> Option<usize> {
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A number at the start of `text`, flex-style longest match: a dotted quad, hex, a decimal
/// with a fraction, an integer; `None` if the text starts with none of them, or if a word
/// character follows (then it is a word, `1st`).
fn number(text: &str) -> Option<(usize, Result<Tok, String>)> {
    let b = text.as_bytes();
    let digits = |from: usize| b.get(from..).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count());
    let sign = usize::from(b.first() == Some(&b'-'));
    // A dotted quad.
    let mut at = 0;
    let mut parts = 0;
    loop {
        let n = digits(at);
        if n == 0 {
            break;
        }
        parts += 1;
        at += n;
        if parts == 4 || b.get(at) != Some(&b'.') {
            break;
        }
        at += 1;
    }
    if parts == 4 && !glued(b, at) {
        return Some((at, Ok(Tok::Addr(text[..at].to_string()))));
    }
    if sign == 0 && (text.starts_with("0x") || text.starts_with("0X")) {
        let n = b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if n > 0 && !glued(b, 2 + n) {
            let tok = i64::from_str_radix(&text[2..2 + n], 16).map(Tok::Hex).map_err(|_| "hex number too large".into());
            return Some((2 + n, tok));
        }
    }
    let whole = digits(sign);
    let frac = if b.get(sign + whole) == Some(&b'.') { digits(sign + whole + 1) } else { 0 };
    if frac > 0 {
        let len = sign + whole + 1 + frac;
        return Some((len, Ok(Tok::Float(text[..len].to_string()))));
    }
    if whole == 0 || glued(b, sign + whole) {
        return None;
    }
    let len = sign + whole;
    Some((len, text[..len].parse::<i64>().map(Tok::Int).map_err(|_| "number too large".to_string())))
}

/// Whether a word character follows at `at` (so the text is a word, not a number).
fn glued(b: &[u8], at: usize) -> bool {
    b.get(at).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        lex(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_words_and_punctuation_split_as_flex_does() {
        use Tok::*;
        assert_eq!(
            toks("+.1 < S. 0:0(0) win 32792 <mss 1000,TS val 5 ecr 0>"),
            vec![
                Punct('+'),
                Float(".1".into()),
                Punct('<'),
                Word("S".into()),
                Punct('.'),
                Int(0),
                Punct(':'),
                Int(0),
                Punct('('),
                Int(0),
                Punct(')'),
                Word("win".into()),
                Int(32792),
                Punct('<'),
                Word("mss".into()),
                Int(1000),
                Punct(','),
                Word("TS".into()),
                Word("val".into()),
                Int(5),
                Word("ecr".into()),
                Int(0),
                Punct('>'),
            ]
        );
        assert_eq!(toks("= -1 EINPROGRESS"), vec![Punct('='), Int(-1), Word("EINPROGRESS".into())]);
        assert_eq!(
            toks("0x1f 192.0.2.1 0.100 ..."),
            vec![Hex(31), Addr("192.0.2.1".into()), Float("0.100".into()), Ellipsis]
        );
        assert_eq!(toks("--tolerance_usecs=10000"), vec![Option("tolerance_usecs".into()), Punct('='), Int(10000)]);
    }

    #[test]
    fn comments_strings_and_code_are_single_tokens() {
        assert_eq!(
            toks("// note\n`echo hi` /* a\nb */ %{ assert tcpi_state == TCP_CLOSE }% \"x\\\"y\""),
            vec![
                Tok::BackQuoted("echo hi".into()),
                Tok::Code("assert tcpi_state == TCP_CLOSE".into()),
                Tok::Str("x\\\"y".into())
            ]
        );
    }

    #[test]
    fn unterminated_constructs_and_huge_numbers_are_errors() {
        for text in ["/* open", "%{ code", "\"open", "`open", "99999999999999999999"] {
            assert!(lex(text).is_err(), "{text}");
        }
        // Anything else is a token, never a panic.
        assert!(lex("é ☃ \u{0} -- - . ..").is_ok());
    }
}
