//! The `quorum aggregate` and `quorum agreement` commands, run as the real binary: output format,
//! the `accuracy:` last line on a shared dataset, and clear failures on bad files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn quorum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quorum"))
        .args(args)
        .output()
        .expect("run quorum")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shared datasets (never copied into the repository); `None` with a loud skip locally,
/// a panic in CI.
fn dataset(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("QUORUM_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
        })
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared dataset missing at {} (set QUORUM_DATASETS)",
            dir.display()
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: shared dataset not found at {} — set QUORUM_DATASETS !!!!!!!!\n",
        dir.display()
    );
    None
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

fn accuracy_of(o: &Output) -> f64 {
    let out = stdout(o);
    let line = last_line(&out);
    line.strip_prefix("accuracy: ")
        .unwrap_or_else(|| panic!("last line {line:?}"))
        .parse()
        .expect("a number")
}

#[test]
fn aggregate_prints_labels_then_accuracy_as_the_last_line() {
    let Some(dir) = dataset("d_duck") else { return };
    let (answers, truth) = (dir.join("answers.csv"), dir.join("truth.csv"));
    let ds = quorum(&[
        "aggregate",
        "--answers",
        arg(&answers),
        "--truth",
        arg(&truth),
        "--method",
        "dawid-skene",
    ]);
    assert!(ds.status.success(), "{}", stderr(&ds));
    let out = stdout(&ds);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("item,label,confidence"));
    assert_eq!(out.lines().count(), 1 + 108 + 1);
    for line in out.lines().skip(1).take(108) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        let confidence: f64 = fields[2].parse().expect(line);
        assert!((0.0..=1.0).contains(&confidence), "{line}");
    }
    // crowd-kit's DawidSkene gets 96 of 108 items right on d_duck.
    assert!((accuracy_of(&ds) - 96.0 / 108.0).abs() < 1e-12);

    let default = quorum(&[
        "aggregate",
        "--answers",
        arg(&answers),
        "--truth",
        arg(&truth),
    ]);
    assert!(default.status.success(), "{}", stderr(&default));
    assert!(accuracy_of(&default) >= 96.0 / 108.0);
}

#[test]
fn aggregate_writes_out_file_and_weighted_uses_gold() {
    let Some(dir) = dataset("s_dog") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("labels.csv");
    let answers = dir.join("answers.csv");
    let truth = dir.join("truth.csv");
    // Ground truth as gold makes every worker's weight their true accuracy.
    let o = quorum(&[
        "aggregate",
        "--answers",
        arg(&answers),
        "--method",
        "weighted",
        "--gold",
        arg(&truth),
        "--truth",
        arg(&truth),
        "--out",
        arg(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "only the accuracy on stdout");
    assert!(accuracy_of(&o) > 0.8178, "better than plain majority");
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().next(), Some("item,label,confidence"));
    assert_eq!(written.lines().count(), 1 + 807);

    let no_gold = quorum(&[
        "aggregate",
        "--answers",
        arg(&answers),
        "--method",
        "weighted",
    ]);
    assert!(!no_gold.status.success());
    assert!(stderr(&no_gold).contains("--gold"), "{}", stderr(&no_gold));
}

#[test]
fn bad_files_fail_with_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, content, needle) in [
        (
            "missing.csv",
            "item,worker\n1,a\n",
            "line 1: missing column \"label\"",
        ),
        (
            "ragged.csv",
            "item,worker,label\n1,a,x\n2,b\n",
            "line 3: expected 3 fields",
        ),
        ("empty.csv", "", "line 1: the file is empty"),
        (
            "header_only.csv",
            "item,worker,label\n",
            "line 2: no answers",
        ),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, content).unwrap();
        for args in [
            vec!["aggregate", "--answers", arg(&path)],
            vec![
                "agreement",
                "--answers",
                arg(&path),
                "--metric",
                "krippendorff",
            ],
        ] {
            let o = quorum(&args);
            assert!(!o.status.success(), "{name} {args:?}");
            let err = stderr(&o);
            assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
        }
    }
    let absent = tmp.path().join("absent.csv");
    let o = quorum(&["aggregate", "--answers", arg(&absent)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("absent.csv"), "{}", stderr(&o));

    let good = tmp.path().join("good.csv");
    std::fs::write(&good, "item,worker,label\n1,a,x\n").unwrap();
    let truth = tmp.path().join("truth.csv");
    std::fs::write(&truth, "item,label\n1,x\n2\n").unwrap();
    let o = quorum(&["aggregate", "--answers", arg(&good), "--truth", arg(&truth)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("truth.csv: line 3"), "{}", stderr(&o));
}

#[test]
fn agreement_prints_the_value_last() {
    let Some(duck) = dataset("d_duck") else {
        return;
    };
    let answers = duck.join("answers.csv");
    let value = |metric: &str| {
        let o = quorum(&["agreement", "--answers", arg(&answers), "--metric", metric]);
        assert!(o.status.success(), "{metric}: {}", stderr(&o));
        let out = stdout(&o);
        (
            out.clone(),
            last_line(&out).parse::<f64>().expect("a number"),
        )
    };
    // REFERENCE_RESULTS.md section D.
    assert!((value("krippendorff").1 - 0.125501).abs() < 5e-7);
    assert!((value("fleiss").1 - 0.125293).abs() < 5e-7);
    let (out, kappa) = value("cohen");
    assert!(out.contains("896 97 (108 shared items)"), "{out}");
    assert!((kappa + 0.030663).abs() < 5e-7);

    let Some(face) = dataset("s_face") else {
        return;
    };
    let o = quorum(&[
        "agreement",
        "--answers",
        arg(&face.join("answers.csv")),
        "--metric",
        "fleiss",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("same number of answers"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_aggregate_times_every_method_on_a_small_synthetic_crowd() {
    let tmp = tempfile::tempdir().unwrap();
    let o = quorum(&[
        "bench",
        "aggregate",
        "--datasets",
        arg(&tmp.path().join("none")),
        "--items",
        "300",
        "--workers",
        "30",
        "--repeat",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("not found, skipped"), "{out}");
    for method in [
        "majority",
        "weighted",
        "wawa",
        "dawid-skene",
        "one-coin",
        "smoothed-ds",
        "calibrated-ds",
        "bwa",
        "ibcc",
        "ebcc",
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(method))
            .unwrap_or_else(|| panic!("no {method} row in {out}"));
        let accuracy: f64 = line.split_whitespace().nth(2).unwrap().parse().expect(line);
        assert!(accuracy > 0.5, "{line}");
    }
}
