//! JSON written straight into a byte buffer, byte for byte as serde_json writes the same
//! values (its escapes, integers and floats), for text made by the hundred thousand lines:
//! a string that needs no escape (nearly every one in a DNS log) is copied in one go rather
//! than passed through a serializer byte by byte, and keys are literals.

use super::AddressText;
use std::net::IpAddr;

/// A field's key as a literal, `"name":` (the name plain ASCII: nothing to escape).
macro_rules! key {
    ($name:literal) => {
        concat!("\"", $name, "\":")
    };
}
pub(crate) use key;

/// A JSON object being written, a field at a time.
pub struct JsonObject<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> JsonObject<'o> {
    /// Opens an object at the end of `out`.
    pub fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    /// Starts a field with `key`, its name written by [`key!`] (a literal: one copy of known
    /// length): the buffer to write its value into.
    #[inline(always)]
    pub fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// Whether serde_json escapes `byte` in a string: control characters, the quote and the
/// backslash (anything else, UTF-8 included, is written as it is).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// A string.
pub fn string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(needs_escape) {
        // Into memory, serializing a string cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// The JSON form of `text`, quotes included, to copy into lines later.
pub fn escape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    string(&mut out, text);
    out
}

/// An integer.
pub fn integer(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A float, as serde_json writes it (the shortest form that reads back; `null` if not finite).
pub fn float(out: &mut Vec<u8>, value: f64) {
    // Into memory, serializing a float cannot fail.
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// `true` or `false`.
pub fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// `value` written by `write`, or `null`.
pub fn option<T>(out: &mut Vec<u8>, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        Some(value) => write(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// An array of `items`, each written by `write`.
pub fn array<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// An address in its usual text form, as a string.
pub fn address(out: &mut Vec<u8>, address: IpAddr) {
    out.push(b'"');
    out.extend_from_slice(AddressText::new(address).as_str().as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in any::<String>()) {
            let expected = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(written(|out| string(out, &text)), expected.clone());
            prop_assert_eq!(String::from_utf8(escape(&text)).unwrap(), expected);
        }

        #[test]
        fn numbers_are_written_as_serde_json_writes_them(
            int in any::<i64>(),
            small in any::<u16>(),
            float_value in any::<f64>(),
        ) {
            prop_assert_eq!(written(|out| integer(out, int)), serde_json::to_string(&int).unwrap());
            prop_assert_eq!(written(|out| integer(out, small)), serde_json::to_string(&small).unwrap());
            prop_assert_eq!(
                written(|out| float(out, float_value)),
                serde_json::to_string(&float_value).unwrap()
            );
        }
    }

    #[test]
    fn escapes_cover_control_characters_quotes_and_backslashes() {
        for text in [
            "plain.example.com",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "\u{7f}é",
        ] {
            assert_eq!(
                written(|out| string(out, text)),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn values_compose_as_serde_json_writes_them() {
        let text = written(|out| {
            let mut object = JsonObject::open(out);
            address(object.key(key!("v4")), "10.10.10.1".parse().unwrap());
            address(object.key(key!("v6")), "2001:db8::53".parse().unwrap());
            boolean(object.key(key!("yes")), true);
            option(object.key(key!("none")), None::<u8>, integer);
            option(object.key(key!("some")), Some(7u8), integer);
            array(object.key(key!("list")), [1u32, 2, 3], integer);
            array(object.key(key!("empty")), Vec::<u32>::new(), integer);
            object.close();
        });
        let expected = serde_json::json!({
            "v4": "10.10.10.1", "v6": "2001:db8::53", "yes": true, "none": null, "some": 7,
            "list": [1, 2, 3], "empty": [],
        });
        assert_eq!(text, serde_json::to_string(&expected).unwrap());
    }
}
