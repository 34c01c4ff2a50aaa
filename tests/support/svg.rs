//! What the picture tests share (included by path, so a test that draws nothing does not carry
//! it): parsing an SVG, reading its texts with their tooltips, and golden files.
//!
//! Golden files are `tests/golden/*.svg` and the pictures README shows under `docs/`. After a
//! deliberate change to a picture, regenerate them with `TCPCHECK_BLESS=1 cargo test --test
//! NAME`, look at them, and commit.

use std::path::Path;

#[track_caller]
pub fn parsed(svg: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc
}

/// Every `<text>`'s content with its tooltip: its own `<title>`, else that of the group it is
/// in; in order.
pub fn texts(doc: &roxmltree::Document<'_>) -> Vec<(String, String)> {
    fn title<'a>(n: roxmltree::Node<'a, '_>) -> Option<&'a str> {
        n.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text())
    }
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let own: String = n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
            let tip = title(n).or_else(|| n.parent().and_then(title)).unwrap_or("").to_string();
            (own, tip)
        })
        .collect()
}

#[track_caller]
pub fn find<'t>(texts: &'t [(String, String)], text: &str, tip: &str) -> &'t (String, String) {
    texts
        .iter()
        .find(|(t, title)| t.contains(text) && title.contains(tip))
        .unwrap_or_else(|| panic!("no text `{text}` with tooltip `{tip}` in {texts:#?}"))
}

/// `svg` must be the file at `path` in the repository; with `TCPCHECK_BLESS` set, it becomes it.
#[track_caller]
pub fn assert_golden(path: &str, svg: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("TCPCHECK_BLESS").is_some() {
        std::fs::write(&path, svg).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == svg,
        "{} differs from what tcpcheck draws now; if the change is meant, regenerate it with \
         `TCPCHECK_BLESS=1 cargo test --test {}`, look at it, and commit it",
        path.display(),
        env!("CARGO_CRATE_NAME")
    );
}
