//! Proptest-driven fuzzing of the upload parsers: hostile bytes never panic, every refusal is a
//! clear error, and well-formed rows survive a round trip through every format.
//!
//! Seeds come from `fuzz/corpus/uploads/`; each case mutates one (flips, cuts, splices bytes) and
//! feeds it to every format.

use proptest::prelude::*;
use quorum_server::upload::{self, Format, Parsed};
use std::path::PathBuf;

const FORMATS: [Format; 4] = [
    Format::Json,
    Format::Ndjson,
    Format::Csv,
    Format::LabelStudio,
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/uploads")
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = corpus_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the upload corpus went missing");
    files
}

/// What every outcome must look like, whatever the input.
fn check_outcome(result: Result<Parsed, upload::UploadError>) {
    match result {
        Ok(parsed) => {
            assert!(!parsed.rows.is_empty() || !parsed.errors.is_empty());
            for e in parsed.errors.iter().chain(&parsed.warnings) {
                assert!(e.row >= 1, "rows are numbered from 1");
                assert!(
                    !e.message.trim().is_empty(),
                    "row {} has an empty message",
                    e.row
                );
            }
            assert!(parsed.errors.windows(2).all(|w| w[0].row <= w[1].row));
            for row in &parsed.rows {
                assert!(row.directory.starts_with('/'));
                assert!(!row.data.is_null());
                assert!(
                    !parsed.errors.iter().any(|e| e.row == row.row),
                    "row kept and refused"
                );
            }
        }
        Err(e) => {
            assert!(!e.to_string().trim().is_empty());
            assert!(!e.code().is_empty());
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
    Splice(usize, usize),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(at, b) => {
                if let Some(x) = bytes.get_mut(at % len) {
                    *x ^= b;
                }
            }
            Mutation::Cut(at) => bytes.truncate(at % (len + 1)),
            Mutation::Insert(at, new) => {
                let at = (at % (len + 1)).min(bytes.len());
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Splice(from, to) => {
                let (a, b) = (from % len, to % len);
                let (a, b) = (a.min(b).min(bytes.len()), a.max(b).min(bytes.len()));
                let copy = bytes[a..b].to_vec();
                bytes.extend(copy);
            }
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        b"\"".to_vec(),
        b",".to_vec(),
        b"\n".to_vec(),
        b"{".to_vec(),
        b"[".to_vec(),
        b"]".to_vec(),
        b"\xff".to_vec(),
        b"\"priority\":-99999999999".to_vec(),
        b"'; DROP TABLE items; --".to_vec(),
        b"\"data\":null".to_vec(),
        b"\xef\xbb\xbf".to_vec(),
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(a, b)| Mutation::Flip(a, b)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), tokens).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Splice(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_never_panics(
        seed in 0usize..64,
        mutations in prop::collection::vec(mutation(), 0..6),
    ) {
        let files = corpus();
        let input = mutate(files[seed % files.len()].clone(), &mutations);
        for format in FORMATS {
            check_outcome(upload::parse(format, &input));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in FORMATS {
            check_outcome(upload::parse(format, &input));
        }
    }

    #[test]
    fn valid_rows_round_trip_through_every_format(
        rows in prop::collection::vec(
            ("[a-z0-9]{1,8}", "[ -~]{1,20}", any::<i32>(), "(/[a-z]{1,5}){0,3}"), 1..30),
    ) {
        // Distinct external ids, so the repeated-id rule does not drop any.
        let rows: Vec<_> = rows.into_iter().enumerate()
            .map(|(i, (ext, data, prio, dir))| (format!("{ext}-{i}"), data, prio, dir))
            .filter(|(_, data, _, _)| !data.trim().is_empty())
            .collect();
        prop_assume!(!rows.is_empty());
        let json: Vec<_> = rows.iter().map(|(ext, data, prio, dir)| serde_json::json!({
            "external_id": ext, "data": data, "priority": prio, "directory": dir,
        })).collect();
        let ndjson: String = json.iter().map(|v| format!("{v}\n")).collect();
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(["external_id", "data", "priority", "directory"]).unwrap();
        for (ext, data, prio, dir) in &rows {
            csv.write_record([ext.as_str(), data, &prio.to_string(), dir]).unwrap();
        }
        let bodies = [
            (Format::Json, serde_json::to_vec(&json).unwrap()),
            (Format::Ndjson, ndjson.into_bytes()),
            (Format::Csv, csv.into_inner().unwrap()),
        ];
        for (format, body) in bodies {
            let parsed = upload::parse(format, &body).unwrap();
            prop_assert!(parsed.errors.is_empty(), "{format:?}: {:?}", parsed.errors);
            prop_assert_eq!(parsed.rows.len(), rows.len());
            for (got, (ext, data, prio, dir)) in parsed.rows.iter().zip(&rows) {
                prop_assert_eq!(got.external_id.as_deref(), Some(ext.as_str()));
                prop_assert_eq!(got.data.as_str(), Some(data.as_str()));
                prop_assert_eq!(got.priority, *prio);
                let want_dir = if dir.is_empty() { "/" } else { dir.as_str() };
                prop_assert_eq!(got.directory.as_str(), want_dir);
            }
        }
    }
}

#[test]
fn corpus_files_give_their_known_outcomes() {
    let read = |name: &str| std::fs::read(corpus_dir().join(name)).unwrap();
    let csv = upload::parse(Format::Csv, &read("items.csv")).unwrap();
    assert_eq!((csv.rows.len(), csv.errors.len()), (3, 0));
    assert_eq!(csv.rows[2].priority, i32::MIN);
    let json = upload::parse(Format::Json, &read("items.json")).unwrap();
    assert_eq!(json.rows.len(), 2);
    assert_eq!(
        json.errors.iter().map(|e| e.row).collect::<Vec<_>>(),
        [3, 4]
    );
    let nd = upload::parse(Format::Ndjson, &read("items.ndjson")).unwrap();
    assert_eq!((nd.rows.len(), nd.errors[0].row), (2, 4));
    let ls = upload::parse(Format::LabelStudio, &read("label_studio.json")).unwrap();
    assert_eq!(ls.rows.iter().map(|r| r.labels.len()).sum::<usize>(), 2);
    assert_eq!(
        upload::parse(Format::Csv, &read("invalid_utf8.csv"))
            .unwrap_err()
            .code(),
        "invalid_utf8"
    );
    assert_eq!(
        upload::parse(Format::Json, &read("deep.json"))
            .unwrap_err()
            .code(),
        "malformed_upload"
    );
}
