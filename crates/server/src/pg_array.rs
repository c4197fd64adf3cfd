//! PostgreSQL array literals (`{1,2,3}`, `{"a",NULL}`): a whole column of a bulk write bound as
//! one text parameter and cast in the statement (`$2::bigint[]`), read back row by row with
//! `unnest`. sqlx's `Any` driver binds no arrays, and one statement per 100,000 rows with a
//! fixed number of parameters stays prepared, where a 1,000-row `VALUES` list is 3,000 bound
//! values and a statement each (see `docs/benchmarks.md`, `quorum bench create`).

/// `{1,2,3}`.
pub fn ints(values: impl IntoIterator<Item = i64>) -> String {
    let mut out = String::from("{");
    for (n, v) in values.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// `{"a","b \"quoted\"",NULL}`: every text quoted, so commas, braces, spaces and the word NULL
/// stay text; `None` is SQL NULL.
pub fn texts<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (n, v) in values.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        match v {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_quote_what_postgres_would_split_on() {
        assert_eq!(ints([]), "{}");
        assert_eq!(ints([1, -2, i64::MAX]), "{1,-2,9223372036854775807}");
        assert_eq!(
            texts([Some("a"), None, Some("NULL"), Some("x,\"y\"\\{z}")]),
            r#"{"a",NULL,"NULL","x,\"y\"\\{z}"}"#
        );
    }
}
