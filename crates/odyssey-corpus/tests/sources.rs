//! Sources on the real odyssey-mini sample (data/odyssey-mini-sample) (both layouts) and on broken input.

use odyssey_core::{DocumentSource, Split};
use odyssey_corpus::{
    CollectionOptions, CorpusError, DomainCollection, ErrorPolicy, JsonlSource, Layout, SkipKind,
    SkipLog, TextSource, TextUnit,
};
use std::io::Write;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/odyssey-mini-sample"
);

fn texts(source: &dyn DocumentSource, split: Split) -> Vec<String> {
    source
        .documents(split)
        .unwrap()
        .map(|d| d.unwrap().text)
        .collect()
}

fn python_jsonl_texts(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn collection_lists_both_layouts_sorted_and_matches_the_manifest() {
    let corpus = DomainCollection::open(DATA).unwrap();
    let names = corpus.names();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/manifest.json")).unwrap())
            .unwrap();
    // Every JSONL domain of the manifest, and the two M2D2-layout copies.
    let jsonl_domains = manifest.as_object().unwrap().len();
    assert_eq!(corpus.len(), jsonl_domains + 2, "{names:?}");
    assert!(names.contains(&"m2d2-layout/wiki_music") && names.contains(&"m2d2-layout/arxiv_cs"));
    for d in corpus.domains() {
        if d.layout() != Layout::Jsonl {
            continue;
        }
        assert_eq!(d.splits(), Split::ALL.to_vec(), "{}", d.name());
        let m = &manifest[d.name()];
        let mut chars = 0u64;
        for split in Split::ALL {
            let docs: Vec<_> = d.documents(split).unwrap().map(|r| r.unwrap()).collect();
            assert_eq!(
                docs.len() as u64,
                m[format!("{split}_docs")].as_u64().unwrap(),
                "{} {split}",
                d.name()
            );
            chars += docs
                .iter()
                .map(|x| x.text.chars().count() as u64)
                .sum::<u64>();
            let first = &docs[0];
            assert_eq!(first.origin.as_ref().unwrap().line, 1);
            assert!(!first.id.is_empty());
        }
        assert_eq!(chars, m["chars"].as_u64().unwrap(), "{}", d.name());
    }
}

#[test]
fn m2d2_file_unit_is_the_jsonl_documents_joined_with_newlines() {
    for domain in ["wiki_music", "arxiv_cs"] {
        let m2d2 = TextSource::m2d2(format!("{DATA}/m2d2-layout/{domain}"))
            .unwrap()
            .with_unit(TextUnit::File);
        for split in Split::ALL {
            let jsonl =
                python_jsonl_texts(&PathBuf::from(format!("{DATA}/{domain}/{split}.jsonl")));
            let whole = texts(&m2d2, split);
            assert_eq!(whole.len(), 1);
            assert_eq!(whole[0], jsonl.join("\n"), "{domain} {split}");
        }
    }
}

#[test]
fn m2d2_lines_and_paragraphs_cover_every_non_blank_line() {
    let dir = format!("{DATA}/m2d2-layout/wiki_music");
    let raw = std::fs::read_to_string(format!("{dir}/valid.txt")).unwrap();
    let expected_lines: Vec<&str> = raw.lines().filter(|l| !l.trim().is_empty()).collect();
    let lines = TextSource::m2d2(&dir).unwrap();
    assert_eq!(lines.unit(), TextUnit::Line);
    let docs: Vec<_> = lines
        .documents(Split::Valid)
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(
        docs.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
        expected_lines
    );
    // ids and origins point at the line in the file
    for d in docs.iter().take(50) {
        let line = d.origin.as_ref().unwrap().line;
        assert_eq!(raw.lines().nth(line - 1).unwrap(), d.text);
        assert_eq!(d.id, format!("valid.txt:{line}"));
    }
    let paras = texts(
        &TextSource::m2d2(&dir)
            .unwrap()
            .with_unit(TextUnit::Paragraph),
        Split::Valid,
    );
    let expected_paras: Vec<String> = raw
        .split("\n\n")
        .map(|p| p.trim_matches('\n').to_string())
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert_eq!(paras, expected_paras);
    assert!(paras.len() < docs.len());
}

#[test]
fn compressed_jsonl_reads_like_plain() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(format!("{DATA}/wiki_military/valid.jsonl")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    std::fs::write(dir.path().join("valid.jsonl.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("train.jsonl.zst"),
        zstd::encode_all(&plain[..], 3).unwrap(),
    )
    .unwrap();
    let src = JsonlSource::open(dir.path()).unwrap();
    assert_eq!(src.splits(), vec![Split::Train, Split::Valid]);
    let expected = texts(
        &JsonlSource::open(format!("{DATA}/wiki_military")).unwrap(),
        Split::Valid,
    );
    assert_eq!(texts(&src, Split::Valid), expected);
    assert_eq!(texts(&src, Split::Train), expected);
    assert!(matches!(
        src.iter(Split::Test),
        Err(CorpusError::MissingSplit { .. })
    ));
}

#[test]
fn truncated_gzip_is_an_error_even_when_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(format!("{DATA}/wiki_military/valid.jsonl")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(dir.path().join("test.jsonl.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let log = SkipLog::new();
    let src = JsonlSource::open(dir.path())
        .unwrap()
        .with_policy(ErrorPolicy::Skip(log.clone()));
    let results: Vec<_> = src.iter(Split::Test).unwrap().collect();
    assert!(
        matches!(results.last(), Some(Err(CorpusError::Io { .. }))),
        "{:?}",
        results.last().map(|r| r.is_ok())
    );
}

/// A domain folder with one bad split file: line 2 invalid UTF-8, line 4 malformed JSON,
/// line 5 without text, line 6 with a numeric text; lines 1 and 3 good, line 7 blank.
fn broken_domain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("train.jsonl")).unwrap();
    f.write_all(b"{\"id\": \"a\", \"text\": \"first\"}\n")
        .unwrap();
    f.write_all(b"{\"id\": \"b\", \"text\": \"caf\xe9\"}\n")
        .unwrap();
    f.write_all(b"{\"id\": 7, \"text\": \"third\"}\n").unwrap();
    f.write_all(b"{\"id\": \"d\", \"text\": \"unterminated}\n")
        .unwrap();
    f.write_all(b"{\"id\": \"e\", \"body\": \"no text\"}\n")
        .unwrap();
    f.write_all(b"{\"id\": \"f\", \"text\": 12}\n").unwrap();
    f.write_all(b"   \n").unwrap();
    std::fs::write(dir.path().join("valid.jsonl"), b"").unwrap();
    dir
}

#[test]
fn bad_lines_are_typed_errors_with_file_and_line() {
    let dir = broken_domain();
    let src = JsonlSource::open(dir.path()).unwrap();
    let mut it = src.iter(Split::Train).unwrap();
    assert_eq!(it.next().unwrap().unwrap().text, "first");
    match it.next().unwrap() {
        Err(CorpusError::InvalidUtf8 { path, line, .. }) => {
            assert_eq!(line, 2);
            assert!(path.ends_with("train.jsonl"));
        }
        other => panic!("{other:?}"),
    }
    assert!(it.next().is_none(), "iteration stops after an error");
    // through the core trait: a Parse error naming the file and line
    let err = src
        .documents(Split::Train)
        .unwrap()
        .nth(1)
        .unwrap()
        .unwrap_err();
    match err {
        odyssey_core::Error::Parse { line, ref path, .. } => {
            assert_eq!(line, 2);
            assert!(path.ends_with("train.jsonl"));
        }
        ref other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("train.jsonl:2: invalid UTF-8"),
        "{err}"
    );
    match src.iter(Split::Valid).unwrap().next() {
        Some(Err(CorpusError::EmptyFile { path })) => assert!(path.ends_with("valid.jsonl")),
        other => panic!("{other:?}"),
    }
    let e = src.iter(Split::Test).err().unwrap();
    assert!(e.to_string().contains("no test split"), "{e}");
}

#[test]
fn each_kind_of_bad_line_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    type Check = fn(&CorpusError) -> bool;
    let cases: [(&[u8], usize, Check); 3] = [
        (b"{\"text\": \"ok\"}\n{\"text\": \"oops\"\n", 2, |e| {
            matches!(e, CorpusError::MalformedJson { .. })
        }),
        (
            b"{\"text\": \"ok\"}\n\n{\"body\": 1}\n",
            3,
            |e| matches!(e, CorpusError::MissingText { found, .. } if found.contains("no such field")),
        ),
        (
            b"{\"text\": 5}\n",
            1,
            |e| matches!(e, CorpusError::MissingText { found, .. } if found == "a number"),
        ),
    ];
    for (content, line, check) in cases {
        std::fs::write(dir.path().join("train.jsonl"), content).unwrap();
        let src = JsonlSource::open(dir.path()).unwrap();
        let err = src
            .iter(Split::Train)
            .unwrap()
            .find_map(|r| r.err())
            .unwrap();
        assert!(check(&err), "{err}");
        assert_eq!(err.location().unwrap().1, line, "{err}");
    }
}

#[test]
fn skip_policy_counts_what_it_skips() {
    let dir = broken_domain();
    let log = SkipLog::new();
    let src = JsonlSource::open(dir.path())
        .unwrap()
        .with_policy(ErrorPolicy::Skip(log.clone()));
    let docs: Vec<_> = src
        .iter(Split::Train)
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(
        docs.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["a", "7"]
    );
    assert_eq!(log.total(), 4);
    let counts = log.counts();
    assert_eq!(counts[&SkipKind::InvalidUtf8], 1);
    assert_eq!(counts[&SkipKind::MalformedJson], 1);
    assert_eq!(counts[&SkipKind::MissingText], 2);
    assert!(log.examples()[0].contains("train.jsonl:2"));
    assert_eq!(src.iter(Split::Valid).unwrap().count(), 0);
    assert_eq!(log.counts()[&SkipKind::EmptyFile], 1);
}

#[test]
fn text_files_report_invalid_utf8_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train.txt"),
        b"good line\n\nbad \xff line\nlast\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("test.txt"), b"\n  \n").unwrap();
    let src = TextSource::m2d2(dir.path()).unwrap();
    let r: Vec<_> = src.iter(Split::Train).unwrap().collect();
    assert_eq!(r[0].as_ref().unwrap().text, "good line");
    assert!(matches!(
        r[1],
        Err(CorpusError::InvalidUtf8 { line: 3, .. })
    ));
    assert!(matches!(
        src.iter(Split::Test).unwrap().next(),
        Some(Err(CorpusError::EmptyFile { .. }))
    ));
    let log = SkipLog::new();
    let skipping = TextSource::m2d2(dir.path())
        .unwrap()
        .with_unit(TextUnit::File)
        .with_policy(ErrorPolicy::Skip(log.clone()));
    assert_eq!(texts(&skipping, Split::Train), ["good line\n\nlast"]);
    assert_eq!(texts(&skipping, Split::Test), Vec::<String>::new());
    assert_eq!(log.total(), 2);
}

#[test]
fn plain_text_folders_are_one_document_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read_to_string(format!("{DATA}/wiki_wikitext2/raw/valid.txt")).unwrap();
    std::fs::write(dir.path().join("b.txt"), "second\nfile\n").unwrap();
    std::fs::write(dir.path().join("a.txt"), &raw).unwrap();
    std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
    let src = TextSource::plain(dir.path())
        .unwrap()
        .with_split(Split::Test);
    assert_eq!(src.splits(), vec![Split::Test]);
    let docs = texts(&src, Split::Test);
    assert_eq!(docs.len(), 2);
    assert_eq!(
        docs[0],
        raw.strip_suffix('\n').unwrap_or(&raw).replace("\r\n", "\n")
    );
    assert_eq!(docs[1], "second\nfile");
    let single = TextSource::plain(dir.path().join("b.txt"))
        .unwrap()
        .with_unit(TextUnit::Line);
    assert_eq!(texts(&single, Split::Train), ["second", "file"]);
}

#[test]
fn collections_reject_folders_that_are_not_domains() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("good")).unwrap();
    std::fs::write(dir.path().join("good/train.jsonl"), "{\"text\": \"x\"}\n").unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let err = DomainCollection::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, CorpusError::EmptyDomain { path, .. } if path.ends_with("empty")),
        "{err}"
    );
    let opts = CollectionOptions {
        ignore_other_folders: true,
        ..Default::default()
    };
    let c = DomainCollection::open_with(dir.path(), &opts).unwrap();
    assert_eq!(c.names(), ["good"]);
    assert!(matches!(
        c.domain("nope"),
        Err(CorpusError::UnknownDomain { .. })
    ));
    // a domain folder opened as a collection is a collection of itself
    let one = DomainCollection::open(dir.path().join("good")).unwrap();
    assert_eq!(one.names(), ["good"]);
    // two files for one split
    std::fs::write(dir.path().join("good/train.jsonl.gz"), b"").unwrap();
    assert!(matches!(
        JsonlSource::open(dir.path().join("good")),
        Err(CorpusError::AmbiguousSplit { .. })
    ));
}
