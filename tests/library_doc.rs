//! docs/library.md shows code from examples/downstream, which `scripts/odyssey.sh test` builds
//! and runs as a project of its own: every excerpt marked `<!-- from FILE -->` must be that
//! file's text, verbatim, so the page never shows code that does not compile.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_excerpt_of_the_library_page_is_the_downstream_code() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/library.md")).unwrap();
    let mut checked = Vec::new();
    let mut rest = page.as_str();
    while let Some(at) = rest.find("<!-- from ") {
        rest = &rest[at + "<!-- from ".len()..];
        let end = rest.find(" -->").expect("unterminated marker");
        let file = &rest[..end];
        let fence = rest
            .find("```rust\n")
            .expect("a marker without a rust block")
            + 8;
        let close = rest[fence..].find("\n```").expect("unterminated block") + fence;
        let excerpt = &rest[fence..close];
        let source = std::fs::read_to_string(Path::new(ROOT).join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            source.contains(excerpt),
            "docs/library.md shows code that {file} does not hold:\n{excerpt}"
        );
        checked.push(file.to_string());
        rest = &rest[close..];
    }
    for f in [
        "score.rs",
        "adapt.rs",
        "decompose.rs",
        "embed.rs",
        "study.rs",
    ] {
        assert!(
            checked.iter().any(|c| c.ends_with(f)),
            "no excerpt of {f}: {checked:?}"
        );
    }
}
