//! `tcpcheck report`'s pages: one self-contained HTML file for a fuzz output directory or a
//! `check` run, to open in a browser or hand to a colleague.
//!
//! Self-contained means it loads nothing: pictures are inline SVG, styles inline CSS, and the
//! files a finding comes with (the finding itself, its pcap, its packetdrill script) are
//! embedded as `data:` links that download them. The page declares a Content-Security-Policy
//! that forbids every other load and every script, so a browser that opens it reports any
//! attempt on its console (`scripts/browser-check` fails on that).

use std::fmt::Write;

use base64::Engine;

use crate::conform::Verdict;

/// One page: a title and its sections' HTML, in order.
pub struct Page {
    title: String,
    body: String,
}

const STYLE: &str = "\
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1800px;padding:12px 20px;color:#222;background:#fff}
h1{font-size:22px;margin:6px 0}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #ccc}h3{font-size:15px;margin:14px 0 6px}
table.facts td,table.facts th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
table.list{border-collapse:collapse}table.list td,table.list th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
table.list th{background:#f3f3ee}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c0392b;font-weight:bold}.warn{color:#b35c00;font-weight:bold}
.picture{overflow:auto;border:1px solid #ddd;background:#fff;margin:6px 0}.picture svg{display:block}.fit svg{max-width:100%;height:auto}
pre{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;background:#f7f7f2;border:1px solid #ddd;padding:8px;overflow:auto}
code{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px}
.finding{border-left:4px solid #c0392b;padding:2px 12px;margin:12px 0}
.files a{margin-right:14px}nav a{margin-right:12px}
";

impl Page {
    pub fn new(title: &str) -> Page {
        Page { title: title.to_string(), body: format!("<h1>{}</h1>\n", escape(title)) }
    }

    /// Appends raw HTML (built with [`escape`] and the helpers here).
    pub fn push(&mut self, html: &str) {
        self.body.push_str(html);
    }

    pub fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"/>\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
             <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }
}

/// Text as HTML (and as XML: the same five characters, and no control characters).
pub use super::ladder::svg::esc as escape;

/// A link that downloads `bytes` as `name`, from the page itself.
pub fn download(name: &str, mime: &str, bytes: &[u8], text: &str) -> String {
    format!(
        "<a download=\"{}\" href=\"data:{mime};base64,{}\">{}</a>",
        escape(name),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        escape(text)
    )
}

/// An SVG document ready to inline in HTML: without the XML declaration some writers put
/// before `<svg`.
pub fn inline_svg(svg: &str) -> String {
    format!("<div class=\"picture\">{}</div>\n", svg.find("<svg").map_or(svg, |at| &svg[at..]))
}

/// [`inline_svg`], scaled down to the page's width (a picture made to be seen whole).
pub fn inline_svg_fit(svg: &str) -> String {
    inline_svg(svg).replacen("class=\"picture\"", "class=\"picture fit\"", 1)
}

/// A graph written as DOT, laid out and drawn as SVG in process (layout-rs: layered, as `dot`
/// does), so a report needs no Graphviz binary.
pub fn layout_dot(dot: &str) -> Result<String, String> {
    let mut parser = layout::gv::DotParser::new(dot);
    let graph = parser.process()?;
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut svg = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

/// Text kept as it is (a sequence diagram, a script).
pub fn pre(text: &str) -> String {
    format!("<pre>{}</pre>\n", escape(text))
}

/// A table of (label, value HTML) pairs.
pub fn facts(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table class=\"facts\">\n");
    for (label, value) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{value}</td></tr>", escape(label));
    }
    out.push_str("</table>\n");
    out
}

/// A verdict's citations as links to the RFC sections: `RFC 9293 3.10.7.4, RFC 5961 3.2`.
/// A page reference (RFC 793's `p.72`) links to the RFC.
pub fn cite_links(cite: &str) -> String {
    let links: Vec<String> = cite
        .split(", ")
        .map(|part| {
            let mut words = part.split_whitespace();
            match (words.next(), words.next().and_then(|n| n.parse::<u16>().ok()), words.next()) {
                (Some("RFC"), Some(rfc), section) => {
                    let anchor = section
                        .filter(|s| s.chars().all(|c| c.is_ascii_digit() || c == '.'))
                        .map_or(String::new(), |s| format!("#section-{s}"));
                    format!("<a href=\"https://www.rfc-editor.org/rfc/rfc{rfc}{anchor}\">{}</a>", escape(part))
                }
                _ => escape(part),
            }
        })
        .collect();
    links.join(", ")
}

/// An anchor name for a finding: letters, digits and dashes.
pub fn anchor(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// A finding's verdict as a facts table.
pub fn verdict_facts(v: &Verdict) -> String {
    facts(&[
        ("check", format!("<code>{}</code>: {}", escape(&v.check.to_string()), escape(v.check.about()))),
        ("row", format!("<code>{}</code> &#160; <code>{}</code>", escape(&v.row), escape(&v.rule))),
        ("RFC", cite_links(&v.cite)),
        (
            "where",
            format!("step {}, at {}", v.step + 1, escape(&crate::time::Instant::from_micros(v.at_us).to_string())),
        ),
        ("expected", format!("<code>{}</code>", escape(&v.expected))),
        ("actual", format!("<code>{}</code>", escape(&v.actual))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_self_contained_xml() {
        let mut page = Page::new("a <report> & more");
        page.push(&facts(&[("x", escape("1 < 2"))]));
        page.push(&download("f.json", "application/json", b"{}", "finding"));
        page.push(&inline_svg("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"));
        let html = page.html();
        assert!(html.contains("default-src 'none'"));
        assert!(html.contains("href=\"data:application/json;base64,e30=\""));
        assert!(!html.contains("<?xml"));
        // Everything the page writes is well-formed XML too (after its doctype).
        let body = &html[html.find("<html").unwrap()..];
        roxmltree::Document::parse(body).unwrap();
    }

    #[test]
    fn citations_link_their_sections() {
        assert_eq!(
            cite_links("RFC 9293 3.10.7.4, RFC 5961 3.2"),
            "<a href=\"https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4\">RFC 9293 3.10.7.4</a>, \
             <a href=\"https://www.rfc-editor.org/rfc/rfc5961#section-3.2\">RFC 5961 3.2</a>"
        );
        assert_eq!(
            cite_links("RFC 793 3.9 p.72"),
            "<a href=\"https://www.rfc-editor.org/rfc/rfc793#section-3.9\">RFC 793 3.9 p.72</a>"
        );
        assert_eq!(cite_links("a choice"), "a choice");
    }
}
