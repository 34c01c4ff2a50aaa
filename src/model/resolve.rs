//! Finding the table a variant names with `extends NAME` or `apply NAME`.
//!
//! A name with a `/` or ending in `.tcp` is a path, relative to the file that names it; any
//! other name is a shipped model's. Shipped models name their bases by shipped name, so they
//! resolve the same embedded in the binary as on disk.

use std::path::{Component, Path, PathBuf};

use super::shipped::{read_file, Shipped};
use super::Source;

/// Where the bases of variants come from.
pub trait Resolve {
    /// The table `name`, as named in `from`. The error says what was tried.
    fn resolve(&self, name: &str, from: &Source) -> Result<Source, String>;
}

/// Shipped models only, by name or by path among the shipped files. Reads nothing: the
/// library's default, and what the parser fuzz target uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Embedded;

/// Files on disk by path, relative to the naming file; shipped models by name. What the CLI
/// uses, so a variant next to a user's own table can extend it.
#[derive(Clone, Copy, Debug, Default)]
pub struct OnDisk;

/// Whether `name` is meant as a path rather than a shipped model's name.
pub fn is_path(name: &str) -> bool {
    name.contains('/') || name.ends_with(".tcp")
}

/// `name` relative to the directory of `from`, with `.` and `..` folded away lexically, so one
/// file reached by two spellings is one name (cycle detection compares names).
pub fn relative(name: &str, from: &Source) -> String {
    let dir = Path::new(&*from.name).parent().unwrap_or(Path::new(""));
    let mut out = PathBuf::new();
    for part in dir.join(name).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out.to_string_lossy().into_owned()
}

fn shipped(name: &str, from: &Source) -> Result<Source, String> {
    let wanted = if is_path(name) { relative(name, from) } else { name.to_string() };
    match Shipped::find(&wanted) {
        Some(model) if !is_path(name) || model.path == wanted => Ok(model.source()),
        _ if is_path(name) => Err(format!("no shipped model at `{wanted}`")),
        _ => Err(format!(
            "no shipped model named `{name}` (shipped: {}); a path must contain `/` or end in `.tcp`",
            Shipped::names().collect::<Vec<_>>().join(", ")
        )),
    }
}

impl Resolve for Embedded {
    fn resolve(&self, name: &str, from: &Source) -> Result<Source, String> {
        shipped(name, from)
    }
}

impl Resolve for OnDisk {
    fn resolve(&self, name: &str, from: &Source) -> Result<Source, String> {
        if !is_path(name) {
            return shipped(name, from);
        }
        let path = relative(name, from);
        if Path::new(&path).is_file() {
            return read_file(&path);
        }
        shipped(name, from).map_err(|_| format!("no file `{path}` (`{name}` relative to {})", from.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_naming_file() {
        let from = Source::new("models/mutants/x.tcp", "");
        assert_eq!(relative("../rfc9293.tcp", &from), "models/rfc9293.tcp");
        assert_eq!(relative("./y.tcp", &from), "models/mutants/y.tcp");
        assert_eq!(relative("../../../up.tcp", &from), "../up.tcp");
        assert_eq!(relative("a.tcp", &Source::new("b.tcp", "")), "a.tcp");
    }

    #[test]
    fn embedded_resolves_names_and_shipped_paths_only() {
        let from = Source::new("models/mutants/x.tcp", "");
        assert_eq!(&*Embedded.resolve("rfc9293", &from).unwrap().name, "models/rfc9293.tcp");
        assert_eq!(&*Embedded.resolve("../rfc9293.tcp", &from).unwrap().name, "models/rfc9293.tcp");
        assert!(Embedded.resolve("nope", &from).unwrap_err().contains("shipped: rfc9293"));
        assert!(Embedded.resolve("../nope.tcp", &from).unwrap_err().contains("models/nope.tcp"));
    }
}
