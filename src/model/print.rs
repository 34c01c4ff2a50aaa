//! Prints a table back as a table file: canonical spelling, aligned columns. Parsing the output
//! gives the same rules (a property test checks it), so `show --format table` is a formatter.

use std::fmt;

use super::{Rule, Table};

/// The columns of one row, as text.
struct Columns {
    from: String,
    input: String,
    guard: String,
    to: String,
    actions: String,
    cite: String,
}

impl Columns {
    fn of(rule: &Rule) -> Self {
        let actions: Vec<String> = rule.actions.iter().map(|a| a.to_string()).collect();
        Columns {
            from: rule.from.to_string(),
            input: rule.input.to_string(),
            guard: rule.guard.to_string(),
            to: rule.to.to_string(),
            actions: actions.join("; "),
            cite: rule.cite.to_string(),
        }
    }
}

/// Each rule as one aligned line, without comments.
pub fn format_rules<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<String> {
    let cols: Vec<Columns> = rules.into_iter().map(Columns::of).collect();
    let width = |f: fn(&Columns) -> &str| cols.iter().map(|c| f(c).chars().count()).max().unwrap_or(0);
    let (wf, wi, wg, wt, wa) =
        (width(|c| &c.from), width(|c| &c.input), width(|c| &c.guard), width(|c| &c.to), width(|c| &c.actions));
    cols.iter()
        .map(|c| {
            format!(
                "{:wf$}  {:wi$}  {:wg$}  -> {:wt$}  {:wa$}  @ {}",
                c.from, c.input, c.guard, c.to, c.actions, c.cite
            )
        })
        .collect()
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model {}", self.name)?;
        writeln!(f, "rfc {}", self.rfc)?;
        writeln!(f, "msl {}", self.msl)?;
        writeln!(f)?;
        for line in format_rules(self.rows.iter().map(|r| &r.rule)) {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
