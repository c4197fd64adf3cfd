//! Reading stored JSON text, loudly: a column the server wrote as JSON that no longer parses
//! is a decode error (a 500 naming the column), never a silent `null`.

use super::error::{StoreError, StoreResult};
use crate::sql::Row;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Column `col` of `row`, JSON text, as `T`.
pub fn json<T: DeserializeOwned>(row: &Row, col: &str) -> StoreResult<T> {
    parse(col, &row.try_get::<String>(col)?)
}

/// Nullable column `col` of `row`, JSON text, as `T`.
pub fn json_opt<T: DeserializeOwned>(row: &Row, col: &str) -> StoreResult<Option<T>> {
    row.try_get::<Option<String>>(col)?
        .map(|text| parse(col, &text))
        .transpose()
}

/// Column `col` of `row`, JSON text, as a JSON value.
pub fn value(row: &Row, col: &str) -> StoreResult<Value> {
    json(row, col)
}

/// Nullable column `col` of `row`, JSON text, as a JSON value (NULL is `null`).
pub fn value_or_null(row: &Row, col: &str) -> StoreResult<Value> {
    Ok(json_opt(row, col)?.unwrap_or_default())
}

/// Column `col` of `row`, an integer stored for a boolean (0 or 1).
pub fn flag(row: &Row, col: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64>(col)? != 0)
}

/// `text`, read from column `col`, as `T`.
pub fn parse<T: DeserializeOwned>(col: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Decode(format!("column {col} is not the JSON expected: {e}").into())
    })
}
