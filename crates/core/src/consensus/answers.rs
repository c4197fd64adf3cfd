//! The answer table: `item,worker,label` rows interned to dense indices, parsed from CSV text.
//!
//! Every algorithm in `consensus` works on this table. Items, workers and labels become `u32`
//! indices so the inner loops touch flat `Vec`s only. Labels are numbered in lexicographic order
//! of their strings, so "the smallest label index" *is* "the smallest label in sorted order" —
//! the tie-break crowd-kit applies. Rows are kept grouped by item (a stable counting sort), which
//! is what the per-item E-steps want; duplicate rows are kept, because crowd-kit counts each one.
//!
//! The core does no I/O: callers hand in the text of a file and get errors that name the line.

use std::collections::HashMap;
use std::fmt;

/// Interned strings: index ↔ name.
#[derive(Debug, Clone, Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }
}

/// Why CSV text could not be read. `line` is 1-based and counts physical lines of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line the problem is on (1 = the header).
    pub line: usize,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Splits CSV text into records (RFC 4180 quoting, `""` escapes, CRLF or LF). Yields the line a
/// record starts on and its fields; blank lines are skipped.
struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Records {
            text,
            pos: 0,
            line: 1,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<(usize, Vec<String>), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        // Skip blank lines so a trailing newline (or several) is not a ragged row.
        loop {
            if self.pos >= bytes.len() {
                return None;
            }
            match bytes[self.pos] {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                }
                b'\r' if bytes.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                _ => break,
            }
        }
        let start_line = self.line;
        let mut fields = Vec::with_capacity(3);
        let mut field = String::new();
        loop {
            if self.pos < bytes.len() && bytes[self.pos] == b'"' && field.is_empty() {
                self.pos += 1;
                loop {
                    let Some(rel) = self.text[self.pos..].find('"') else {
                        return Some(Err(err(start_line, "a quoted field is never closed")));
                    };
                    let chunk = &self.text[self.pos..self.pos + rel];
                    self.line += chunk.matches('\n').count();
                    field.push_str(chunk);
                    self.pos += rel + 1;
                    if bytes.get(self.pos) == Some(&b'"') {
                        field.push('"');
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
            }
            let rest = &self.text[self.pos..];
            let end = rest.find([',', '\n']).unwrap_or(rest.len());
            let mut raw = &rest[..end];
            let at_newline = rest.as_bytes().get(end) == Some(&b'\n');
            if at_newline || end == rest.len() {
                raw = raw.strip_suffix('\r').unwrap_or(raw);
            }
            field.push_str(raw);
            fields.push(std::mem::take(&mut field));
            self.pos += end;
            match bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    return Some(Ok((start_line, fields)));
                }
                _ => return Some(Ok((start_line, fields))),
            }
        }
    }
}

/// Reads a header naming `wanted` columns (any order, extra columns ignored) and returns, for
/// each data record, its line and the wanted fields in `wanted` order, trimmed and non-empty.
fn read_columns<const N: usize>(
    text: &str,
    wanted: [&str; N],
) -> Result<Vec<(usize, [String; N])>, ParseError> {
    let mut records = Records::new(text);
    let (header_line, header) = match records.next() {
        None => {
            return Err(err(
                1,
                format!("the file is empty: expected a header {}", wanted.join(",")),
            ))
        }
        Some(r) => r?,
    };
    let mut positions = [0usize; N];
    for (slot, name) in positions.iter_mut().zip(wanted) {
        *slot = header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                err(
                    header_line,
                    format!(
                        "missing column {name:?}: the header must name {} (found {:?})",
                        wanted.join(","),
                        header.join(",")
                    ),
                )
            })?;
    }
    let mut out = Vec::new();
    for record in records {
        let (line, fields) = record?;
        if fields.len() != header.len() {
            return Err(err(
                line,
                format!(
                    "expected {} fields like the header, found {}",
                    header.len(),
                    fields.len()
                ),
            ));
        }
        let mut row: [String; N] = std::array::from_fn(|_| String::new());
        for ((cell, &p), name) in row.iter_mut().zip(&positions).zip(wanted) {
            let value = fields[p].trim();
            if value.is_empty() {
                return Err(err(line, format!("empty {name}")));
            }
            *cell = value.to_owned();
        }
        out.push((line, row));
    }
    Ok(out)
}

/// Parses `item,label` CSV text (gold answers or ground truth). Repeated items keep their first
/// label, like the datasets' own conversion.
pub fn parse_item_labels(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let rows = read_columns(text, ["item", "label"])?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter_map(|(_, [item, label])| seen.insert(item.clone()).then_some((item, label)))
        .collect())
}

/// Crowd answers, one row per answer, grouped by item, with interned names.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    items: Interner,
    workers: Interner,
    labels: Vec<String>,
    /// Per row (grouped by item): the item, worker and label index.
    row_item: Vec<u32>,
    row_worker: Vec<u32>,
    row_label: Vec<u32>,
    /// Rows of item `i` are `item_start[i]..item_start[i + 1]`.
    item_start: Vec<u32>,
}

impl Answers {
    /// Builds the table from `(item, worker, label)` rows. Items and workers are numbered in
    /// order of first appearance, labels in sorted order.
    pub fn from_rows<'a, I>(rows: I) -> Answers
    where
        I: IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    {
        let mut items = Interner::default();
        let mut workers = Interner::default();
        let mut labels = Interner::default();
        let mut raw = Vec::new();
        for (item, worker, label) in rows {
            raw.push((
                items.intern(item),
                workers.intern(worker),
                labels.intern(label),
            ));
        }
        Self::assemble(items, workers, labels, raw)
    }

    /// Parses `item,worker,label` CSV text (header required, columns in any order, extra columns
    /// ignored). A header with no rows gives an empty table.
    pub fn parse_csv(text: &str) -> Result<Answers, ParseError> {
        let rows = read_columns(text, ["item", "worker", "label"])?;
        Ok(Self::from_rows(rows.iter().map(|(_, [i, w, l])| {
            (i.as_str(), w.as_str(), l.as_str())
        })))
    }

    fn assemble(
        items: Interner,
        workers: Interner,
        labels: Interner,
        raw: Vec<(u32, u32, u32)>,
    ) -> Answers {
        // Renumber labels so that index order is string order.
        let mut order: Vec<u32> = (0..labels.names.len() as u32).collect();
        order.sort_by(|&a, &b| labels.names[a as usize].cmp(&labels.names[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let sorted_labels: Vec<String> = order
            .iter()
            .map(|&o| labels.names[o as usize].clone())
            .collect();

        // Stable counting sort by item.
        let n_items = items.names.len();
        let mut item_start = vec![0u32; n_items + 1];
        for &(i, _, _) in &raw {
            item_start[i as usize + 1] += 1;
        }
        for i in 0..n_items {
            item_start[i + 1] += item_start[i];
        }
        let mut next = item_start.clone();
        let n = raw.len();
        let (mut row_item, mut row_worker, mut row_label) = (vec![0; n], vec![0; n], vec![0; n]);
        for &(i, w, l) in &raw {
            let slot = next[i as usize] as usize;
            next[i as usize] += 1;
            row_item[slot] = i;
            row_worker[slot] = w;
            row_label[slot] = remap[l as usize];
        }
        Answers {
            items,
            workers,
            labels: sorted_labels,
            row_item,
            row_worker,
            row_label,
            item_start,
        }
    }

    /// Number of distinct items.
    pub fn n_items(&self) -> usize {
        self.items.names.len()
    }
    /// Number of distinct workers.
    pub fn n_workers(&self) -> usize {
        self.workers.names.len()
    }
    /// Number of distinct labels.
    pub fn n_labels(&self) -> usize {
        self.labels.len()
    }
    /// Number of answer rows (duplicates included).
    pub fn n_rows(&self) -> usize {
        self.row_label.len()
    }
    /// The name of item `i`.
    pub fn item_name(&self, i: u32) -> &str {
        &self.items.names[i as usize]
    }
    /// The name of worker `w`.
    pub fn worker_name(&self, w: u32) -> &str {
        &self.workers.names[w as usize]
    }
    /// The string of label `k`.
    pub fn label_name(&self, k: u32) -> &str {
        &self.labels[k as usize]
    }
    /// All labels, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }
    /// The index of an item name.
    pub fn item_id(&self, name: &str) -> Option<u32> {
        self.items.get(name)
    }
    /// The index of a worker name.
    pub fn worker_id(&self, name: &str) -> Option<u32> {
        self.workers.get(name)
    }
    /// The index of a label string.
    pub fn label_id(&self, name: &str) -> Option<u32> {
        self.labels
            .binary_search_by(|l| l.as_str().cmp(name))
            .ok()
            .map(|k| k as u32)
    }
    /// The row range of item `i`.
    pub fn item_rows(&self, i: u32) -> std::ops::Range<usize> {
        self.item_start[i as usize] as usize..self.item_start[i as usize + 1] as usize
    }
    /// Item of each row.
    pub fn row_items(&self) -> &[u32] {
        &self.row_item
    }
    /// Worker of each row.
    pub fn row_workers(&self) -> &[u32] {
        &self.row_worker
    }
    /// Label of each row.
    pub fn row_labels(&self) -> &[u32] {
        &self.row_label
    }
    /// Row offsets per item (`n_items + 1` entries).
    pub fn item_starts(&self) -> &[u32] {
        &self.item_start
    }
}

/// A reference label for a gold item: one of the answer labels, or a string no worker used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoldLabel {
    /// A label index of the [`Answers`].
    Known(u32),
    /// A label that never appears in the answers (every answer to the item is then wrong).
    Unseen,
}

const NO_GOLD: u32 = u32::MAX;
const UNSEEN: u32 = u32::MAX - 1;

/// Known labels for some items of an [`Answers`] table: gold (honeypot) answers or ground truth.
#[derive(Debug, Clone)]
pub struct Gold {
    per_item: Vec<u32>,
    unseen_labels: Vec<String>,
    unknown_items: usize,
}

impl Gold {
    /// Matches `(item, label)` pairs to the table. Items with no answers are counted in
    /// [`Gold::unknown_items`] and otherwise ignored; the first label of a repeated item wins.
    pub fn new<'a, I>(answers: &Answers, pairs: I) -> Gold
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut per_item = vec![NO_GOLD; answers.n_items()];
        let mut unseen_labels = Vec::new();
        let mut unknown_items = 0;
        for (item, label) in pairs {
            let Some(i) = answers.item_id(item) else {
                unknown_items += 1;
                continue;
            };
            if per_item[i as usize] != NO_GOLD {
                continue;
            }
            per_item[i as usize] = match answers.label_id(label) {
                Some(k) => k,
                None => {
                    unseen_labels.push(label.to_owned());
                    UNSEEN
                }
            };
        }
        Gold {
            per_item,
            unseen_labels,
            unknown_items,
        }
    }

    /// Parses `item,label` CSV text and matches it to `answers`.
    pub fn parse_csv(answers: &Answers, text: &str) -> Result<Gold, ParseError> {
        let pairs = parse_item_labels(text)?;
        Ok(Gold::new(
            answers,
            pairs.iter().map(|(i, l)| (i.as_str(), l.as_str())),
        ))
    }

    /// The gold label of item `i`, if it has one.
    pub fn get(&self, i: u32) -> Option<GoldLabel> {
        match self.per_item.get(i as usize).copied() {
            None | Some(NO_GOLD) => None,
            Some(UNSEEN) => Some(GoldLabel::Unseen),
            Some(k) => Some(GoldLabel::Known(k)),
        }
    }

    /// Whether a worker's answer `label` to item `i` matches gold (`None` if `i` is not gold).
    pub fn is_correct(&self, i: u32, label: u32) -> Option<bool> {
        self.get(i).map(|g| g == GoldLabel::Known(label))
    }

    /// Number of gold items that have answers.
    pub fn len(&self) -> usize {
        self.per_item.iter().filter(|&&g| g != NO_GOLD).count()
    }

    /// Whether no answered item is gold.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gold pairs whose item has no answers (not usable, reported so callers can say so).
    pub fn unknown_items(&self) -> usize {
        self.unknown_items
    }

    /// Gold labels that no worker ever gave.
    pub fn unseen_labels(&self) -> &[String] {
        &self.unseen_labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(text: &str, line: usize, needle: &str) {
        let e = Answers::parse_csv(text).expect_err(text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(needle), "{text:?}: {e}");
    }

    #[test]
    fn bad_input_names_the_line() {
        check_err("", 1, "empty");
        check_err("\n\n", 1, "empty");
        check_err("item,label\n1,a\n", 1, "missing column \"worker\"");
        check_err("item,worker,label\n1,w,a\n2,w\n", 3, "expected 3 fields");
        check_err("item,worker,label\n1,w,a\n\n2,w,a,b\n", 4, "found 4");
        check_err("item,worker,label\n1,,a\n", 2, "empty worker");
        check_err("item,worker,label\n1,w,\"a\n", 2, "never closed");
    }

    #[test]
    fn parses_quotes_crlf_bom_and_column_order() {
        let a = Answers::parse_csv(
            "\u{feff}label,item,worker,extra\r\n\"b,x\",1,w1,z\r\n\"say \"\"a\"\"\",1,w2,z\r\nb,2,w1,\r\n",
        )
        .unwrap();
        assert_eq!(a.n_rows(), 3);
        assert_eq!(a.labels(), ["b", "b,x", "say \"a\""]);
        assert_eq!(a.n_items(), 2);
        assert_eq!(a.item_name(0), "1");
        assert_eq!(a.label_id("b"), Some(0));
        let e = Answers::parse_csv("item,worker,label\n1,w,\"a\nb\"\n2,w\n").unwrap_err();
        assert_eq!(e.line, 4, "a quoted newline advances the line count");
    }

    #[test]
    fn rows_are_grouped_by_item_and_labels_sorted() {
        let a = Answers::from_rows([
            ("i2", "w1", "10"),
            ("i1", "w1", "9"),
            ("i2", "w2", "9"),
            ("i2", "w2", "9"),
        ]);
        assert_eq!(a.labels(), ["10", "9"], "lexicographic, not numeric");
        let i2 = a.item_id("i2").unwrap();
        let rows = a.item_rows(i2);
        assert_eq!(rows.len(), 3, "duplicates are kept");
        assert!(rows.clone().all(|r| a.row_items()[r] == i2));
        assert_eq!(a.row_labels()[rows.start], 0);
    }

    #[test]
    fn gold_matches_items_and_flags_unseen_labels() {
        let a = Answers::from_rows([("1", "w", "a"), ("2", "w", "b")]);
        let g = Gold::parse_csv(&a, "item,label\n1,a\n2,c\n3,a\n1,b\n").unwrap();
        assert_eq!(g.get(0), Some(GoldLabel::Known(0)));
        assert_eq!(g.get(1), Some(GoldLabel::Unseen));
        assert_eq!(g.is_correct(0, 0), Some(true));
        assert_eq!(g.is_correct(1, 1), Some(false));
        assert_eq!((g.len(), g.unknown_items()), (2, 1));
        assert_eq!(g.unseen_labels(), ["c"]);
    }
}
