//! `L402_PROXY__…` environment overrides, applied to the parsed TOML before it is typed.

use super::ENV_PREFIX;
use crate::Error;

/// Sets one key from an environment variable. A value replacing a string stays a string;
/// otherwise it is read as a TOML value when it parses as one (numbers, booleans, arrays),
/// else as a string.
pub(super) fn apply_override(table: &mut toml::Table, name: &str, raw: &str) -> Result<(), Error> {
    let rest = name.get(ENV_PREFIX.len()..).unwrap_or_default();
    let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if segments.iter().any(String::is_empty) {
        return Err(Error::config(name, "empty key segment"));
    }
    let Some((last, parents)) = segments.split_last() else {
        return Err(Error::config(name, "names no key"));
    };
    let mut slot: &mut toml::Value = {
        let first = parents.first().unwrap_or(last);
        if parents.is_empty() {
            let value = typed(table.get(last.as_str()), raw);
            table.insert(last.clone(), value);
            return Ok(());
        }
        table.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
    };
    for seg in parents.iter().skip(1).chain(std::iter::once(last)) {
        let is_last = std::ptr::eq(seg, last);
        slot = match slot {
            toml::Value::Table(t) => {
                if is_last {
                    let value = typed(t.get(seg.as_str()), raw);
                    t.insert(seg.clone(), value);
                    return Ok(());
                }
                t.entry(seg.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let i: usize = seg.parse().map_err(|_| {
                    Error::config(name, format!("'{seg}' must be an index into an array"))
                })?;
                if i > a.len() {
                    return Err(Error::config(
                        name,
                        format!("index {i} skips entries (the array has {})", a.len()),
                    ));
                }
                if i == a.len() {
                    a.push(toml::Value::Table(toml::Table::new()));
                }
                let Some(entry) = a.get_mut(i) else {
                    return Err(Error::config(name, "index out of range"));
                };
                if is_last {
                    *entry = typed(Some(entry), raw);
                    return Ok(());
                }
                entry
            }
            _ => {
                return Err(Error::config(
                    name,
                    format!("'{seg}' is below a value that is not a table"),
                ))
            }
        };
    }
    Ok(())
}

fn typed(existing: Option<&toml::Value>, raw: &str) -> toml::Value {
    if matches!(existing, Some(toml::Value::String(_))) {
        return toml::Value::String(raw.to_owned());
    }
    let wrapped = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&wrapped).ok().and_then(|mut t| t.remove("v")) {
        Some(v) => v,
        None => toml::Value::String(raw.to_owned()),
    }
}
