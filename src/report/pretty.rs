//! Pretty JSON output byte for byte as serde_json's `PrettyFormatter` writes it (two-space
//! indent), but each line break and its indentation in one write: serde_json writes the indent
//! one level at a time, and a report of thousands of clients has hundreds of thousands of lines
//! at depths up to ten, so those small writes were most of the time spent serializing it.

use serde_json::ser::Formatter;
use std::io::{self, Write};

/// Spaces per indent level (serde_json's pretty default).
const INDENT_WIDTH: usize = 2;
/// A line break and the indentation of the deepest level written in one go; deeper levels add
/// the rest in further writes.
const BREAK_AND_INDENT: &[u8; 1 + 64] =
    b"\n                                                                ";

/// The formatter: see the module header.
#[derive(Debug, Default)]
pub struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    /// Writes a comma if `comma`, then a line break and the indentation of the current depth.
    fn new_line<W: ?Sized + Write>(&self, writer: &mut W, comma: bool) -> io::Result<()> {
        if comma {
            writer.write_all(b",")?;
        }
        let mut spaces = self.depth * INDENT_WIDTH;
        let first = spaces.min(BREAK_AND_INDENT.len() - 1);
        writer.write_all(&BREAK_AND_INDENT[..1 + first])?;
        spaces -= first;
        while spaces > 0 {
            let more = spaces.min(BREAK_AND_INDENT.len() - 1);
            writer.write_all(&BREAK_AND_INDENT[1..1 + more])?;
            spaces -= more;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.new_line(writer, false)?;
        }
        writer.write_all(bracket)
    }
}

impl Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.new_line(writer, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.new_line(writer, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `value` as pretty JSON into `out`.
pub fn to_writer<W: Write, T: serde::Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        Pretty::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pretty(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        to_writer(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_serde_json_pretty_writes() {
        // Nested past the one-write indentation (32 levels), empty containers, arrays of
        // objects and objects of arrays.
        let mut deep = json!({"leaf": [1, 2, {}], "empty": [], "none": {}});
        for level in 0..40 {
            deep = json!({ format!("level {level}"): [deep.clone(), level, "x"], "n": null });
        }
        for value in [
            json!(null),
            json!([]),
            json!({}),
            json!([1, [2, [3, []]], {"a": {"b": []}}]),
            deep,
        ] {
            assert_eq!(
                pretty(&value),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
    }
}
