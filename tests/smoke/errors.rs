//! Bad input: a smoke file with an unknown field, an expectation the target cannot answer, an
//! unreachable target. Each is an error naming the file/line or the metric and target, and an
//! `error` status distinct from `fail`.

use std::path::Path;

use rollgate::smoke::{self, Phase};

#[test]
fn an_unknown_field_is_an_error_naming_the_file_and_line() {
    let err = smoke::plan::parse_file(
        Path::new("bad.toml"),
        "group = \"g\"\nphases = [\"write-only\"]\n[[check]]\nname = \"x\"\nexpectt = []\n",
        Phase::WriteOnly,
    )
    .expect_err("unknown field");
    let text = err.to_string();
    assert!(text.contains("bad.toml"), "{text}");
    assert!(text.contains("line 5"), "{text}");
    assert!(text.contains("expectt"), "{text}");
}
