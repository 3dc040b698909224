//! JSON lines: one JSON value per line, blank lines skipped, read as a stream.

use std::io::BufRead;

use serde_json::Value as Json;

use super::InputError;

/// Reads `input` line by line and hands each parsed line to `each` with its line number
/// (from 1). Returns how many rows were read. A line that is not JSON is an error naming it.
pub fn read(
    input: impl BufRead,
    name: &str,
    mut each: impl FnMut(u64, &Json) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let mut rows = 0;
    for (i, line) in input.lines().enumerate() {
        let number = i as u64 + 1;
        let line = line.map_err(|e| InputError::at(name, "line", number, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let json: Json = serde_json::from_str(&line).map_err(|e| {
            InputError::at(
                name,
                "line",
                number,
                format!("not JSON ({e}); each line must hold one JSON object"),
            )
        })?;
        each(number, &json)?;
        rows += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_bad_json_is_named() {
        let mut seen = Vec::new();
        let n = read(&b"{\"a\":1}\n\n{\"a\":2}\n"[..], "x", |n, j| {
            seen.push((n, j["a"].as_i64().unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, [(1, 1), (3, 2)]);
        let e = read(&b"{\"a\":1}\n{\"a\":\n"[..], "x", |_, _| Ok(())).unwrap_err();
        assert_eq!((e.unit, e.number), ("line", 2));
        assert!(e.message.starts_with("not JSON"), "{e}");
    }
}
