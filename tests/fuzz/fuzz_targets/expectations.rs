//! Fuzzes the expectations file parser: any text gives expectations or an error naming a line
//! of the text, never a panic; every parsed name can be found again by its own name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match pcdns::expect::parse("fuzz.toml", &text) {
        Ok(expectations) => {
            for (index, entry) in expectations.names.iter().enumerate() {
                assert_eq!(expectations.find(&entry.name), Some(index), "{entry:?}");
                let _ = entry.defines_family(true);
            }
            for server in &expectations.authorized_servers {
                assert!(expectations.is_authorized(server));
            }
        }
        Err(error) => {
            let lines = text.lines().count();
            assert!(error.line <= lines + 1, "line {} of {} lines: {error}", error.line, lines);
            let _ = error.to_string();
        }
    }
});
