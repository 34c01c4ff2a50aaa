//! A model as JSON, for other tools: header, and every row with its file, line and parts as
//! text. A variant's rows come from several files, so each row names its own; `extends` names
//! the base and the changes the variant made.

use serde_json::{json, Value};

use crate::model::{Model, Row};

/// One row: its file and line, its parts as text, and its citation qualified by `rfc`, the RFC
/// of the table it is in (a bare section means that RFC's).
pub fn row_json(row: &Row, rfc: u16) -> Value {
    let r = &row.rule;
    json!({
        "file": &*row.source.name,
        "line": row.line,
        "from": r.from.name(),
        "input": r.input.to_string(),
        "guard": r.guard.0.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        "to": r.to.name(),
        "actions": r.actions.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "cite": r.cite.qualified(rfc),
    })
}

pub fn to_json(model: &Model) -> Value {
    let table = model.table();
    let rows: Vec<Value> = table.rows.iter().map(|row| row_json(row, table.rfc)).collect();
    let stats = model.stats();
    let extends = table.variant.as_ref().map(|v| {
        let changes: Vec<Value> = v
            .changes
            .iter()
            .map(|c| json!({ "file": &*c.edit.source.name, "line": c.edit.line, "at": table.source.locate(c.at.offset).0 }))
            .collect();
        json!({ "base": v.base_name, "source": &*v.base.source.name, "changes": changes })
    });
    json!({
        "model": table.name,
        "source": &*table.source.name,
        "extends": extends,
        "rfc": table.rfc,
        "msl_us": table.msl.as_micros(),
        "states": model.states().iter().map(|s| s.name()).collect::<Vec<_>>(),
        "stats": { "rows": stats.rows, "states": stats.states, "inputs": stats.inputs, "cases": stats.cases },
        "rows": rows,
    })
}
