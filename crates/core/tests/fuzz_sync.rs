//! Fuzzing the sync op decoder (hostile input, issue 6): arbitrary bytes and mutations of the
//! corpus in `fuzz/corpus/sync/` must never panic, and every rejection must carry a stable code
//! and a message. Runs as proptest in the normal test run.

use proptest::prelude::*;
use quorum_core::sync::{decode_request, OpError};
use std::path::PathBuf;

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sync");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

const CODES: &[&str] = &[
    "invalid_body",
    "invalid_op_id",
    "comment_required",
    "text_too_long",
    "invalid_text",
    "too_many_ops",
];

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match decode_request(bytes) {
        Ok(ops) => {
            for op in ops {
                prop_assert!(op.validate().is_ok());
            }
        }
        Err(OpError { code, message }) => {
            prop_assert!(CODES.contains(&code), "unknown code {code}");
            prop_assert!(!message.is_empty());
        }
    }
    Ok(())
}

#[test]
fn corpus_entries_decode_or_fail_cleanly() {
    let corpus = corpus();
    assert!(corpus.len() >= 5);
    let mut decoded = 0;
    for entry in &corpus {
        if decode_request(entry).is_ok() {
            decoded += 1;
        }
    }
    // The valid examples stay valid; the hostile ones (deep, overflow, bad UTF-8) are refused.
    assert_eq!(decoded, 5);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let at = |i: usize| i % bytes.len();
        match m {
            Mutation::Flip(i, b) => {
                let i = at(*i);
                bytes[i] ^= b;
            }
            Mutation::Delete(i, n) => {
                let i = at(*i);
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Insert(i, chunk) => {
                let i = at(*i);
                bytes.splice(i..i, chunk.iter().copied());
            }
            Mutation::Duplicate(i, n) => {
                let i = at(*i);
                let end = (i + n).min(bytes.len());
                let chunk = bytes[i..end].to_vec();
                bytes.splice(i..i, chunk);
            }
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        b"{".to_vec(),
        b"}".to_vec(),
        b"[".to_vec(),
        b"\"".to_vec(),
        b",".to_vec(),
        b"null".to_vec(),
        b"-1".to_vec(),
        b"1e999".to_vec(),
        b"\"'; DROP TABLE annotations; --\"".to_vec(),
        b"\\u0000".to_vec(),
        vec![0xff, 0xfe],
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), tokens).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes)?;
    }

    #[test]
    fn mutated_corpus_entries_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        let entry = corpus[pick.index(corpus.len())].clone();
        check(&mutate(entry, &mutations))?;
    }
}
