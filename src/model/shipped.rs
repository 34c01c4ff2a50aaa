//! The models shipped with tcpcheck, embedded in the binary so every command works from any
//! directory. Each is also a file under `models/`, named as here: the RFC tables, the mutants
//! (`models/mutants/`), the RFC options a stack may switch (`models/options/`) and the profiles
//! stacks claim (`models/profiles/`), the last three written as variants of rfc9293.

use super::{Model, Problems, Source, Table};

/// A shipped model: its short name, its path in the repository and its text.
#[derive(Clone, Copy, Debug)]
pub struct Shipped {
    pub name: &'static str,
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! shipped {
    ($($name:literal => $path:literal),+ $(,)?) => {
        /// Every shipped model; the first is the default.
        pub const SHIPPED: &[Shipped] = &[
            $(Shipped { name: $name, path: $path, text: include_str!(concat!("../../", $path)) }),+
        ];
    };
}

shipped! {
    "rfc9293" => "models/rfc9293.tcp",
    "rfc793" => "models/rfc793.tcp",
    "no-time-wait" => "models/mutants/no-time-wait.tcp",
    "two-packet-handshake" => "models/mutants/two-packet-handshake.tcp",
    "no-2msl-restart" => "models/mutants/no-2msl-restart.tcp",
    "rst-closes-time-wait" => "models/mutants/rst-closes-time-wait.tcp",
    "rfc5961-off" => "models/options/rfc5961-off.tcp",
    "rfc1337-off" => "models/options/rfc1337-off.tcp",
    "drop-syn-fin" => "models/options/drop-syn-fin.tcp",
    "time-wait-reuse" => "models/options/time-wait-reuse.tcp",
    "linux-profile" => "models/profiles/linux.tcp",
}

impl Shipped {
    /// The default model: RFC 9293.
    pub fn default_model() -> Shipped {
        SHIPPED[0]
    }

    /// A shipped model by short name (`no-time-wait`) or repository path.
    pub fn find(name: &str) -> Option<Shipped> {
        SHIPPED
            .iter()
            .copied()
            .find(|s| s.name == name || s.path == name || s.path.trim_start_matches("models/") == name)
    }

    /// Every shipped model's short name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        SHIPPED.iter().map(|s| s.name)
    }

    pub fn source(self) -> Source {
        Source::new(self.path, self.text)
    }

    pub fn load(self) -> Result<Model, Problems> {
        Table::load(self.source())
    }
}

/// Reads a model argument: a file if one exists at that path, else a shipped model's name. The
/// error says what to do.
pub fn source_of(arg: &str) -> Result<Source, String> {
    let path = std::path::Path::new(arg);
    if path.is_dir() {
        return Err(format!(
            "error: {arg} is a directory, not a table file\n  help: name a .tcp file in it (such as {}/rfc9293.tcp), \
             or a shipped model: {}\n",
            arg.trim_end_matches('/'),
            Shipped::names().collect::<Vec<_>>().join(", ")
        ));
    }
    if path.is_file() {
        return read_file(arg).map_err(|e| format!("error: {e}\n"));
    }
    match Shipped::find(arg) {
        Some(shipped) => Ok(shipped.source()),
        None => Err(format!(
            "error: no file and no shipped model named `{arg}`\n  help: give a path to a .tcp file, or one of: {}\n",
            Shipped::names().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// A table file's text, named by its path. The error says what went wrong.
pub fn read_file(path: &str) -> Result<Source, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("failed to read {path}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{path} is not UTF-8 text (invalid byte at offset {})\n  help: table files are plain text",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(Source::new(path, text))
}

/// [`source_of`], parsed and validated; problems rendered as plain text. For harnesses that
/// take a model from the environment (the fuzz targets).
pub fn load_arg(arg: &str) -> Result<Model, String> {
    Table::load_with(source_of(arg)?, &super::resolve::OnDisk).map_err(|problems| problems.render_plain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_validates() {
        for model in SHIPPED {
            if let Err(e) = model.load() {
                panic!("{}", e.render_plain());
            }
        }
    }

    #[test]
    fn finds_by_name_and_path() {
        assert_eq!(Shipped::find("no-time-wait").map(|s| s.name), Some("no-time-wait"));
        assert_eq!(Shipped::find("models/rfc793.tcp").map(|s| s.name), Some("rfc793"));
        assert!(Shipped::find("nope").is_none());
    }
}
