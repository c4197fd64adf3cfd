//! Which upload the files chosen in the browser make: one data file (CSV, JSON, NDJSON or a
//! Label Studio export) goes to `POST /datasets/{id}/items?format=`, images and videos go
//! together to `POST /datasets/{id}/media`. Pure, so it is tested natively.

/// The formats offered on the form, as `(value, label)`; "" reads the format from the name.
pub const FORMATS: [(&str, &str); 6] = [
    ("", "From the file name"),
    ("csv", "CSV"),
    ("json", "JSON"),
    ("ndjson", "NDJSON (one JSON object a line)"),
    ("label_studio", "Label Studio export (JSON)"),
    ("files", "Images or videos"),
];

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// One data file in this `format`.
    Items(&'static str),
    /// Media files, each becoming an item.
    Media,
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_media(name: &str) -> bool {
    matches!(
        extension(name).as_str(),
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp" | "mp4" | "webm" | "mov" | "m4v"
    )
}

/// The upload for the chosen `format` ("" = from the names) and file `names`, or what to fix.
pub fn pick(format: &str, names: &[String]) -> Result<Upload, String> {
    if names.is_empty() {
        return Err("Choose a file to upload.".into());
    }
    let from_name = format.is_empty();
    if format == "files" || (from_name && names.iter().all(|n| is_media(n))) {
        return match names.iter().find(|n| !is_media(n)) {
            Some(n) => Err(format!(
                "{n} is not an image or video: upload data files one at a time."
            )),
            None => Ok(Upload::Media),
        };
    }
    if names.len() > 1 {
        return Err(
            "Upload one data file at a time (several files only for images or videos).".into(),
        );
    }
    let named = match extension(&names[0]).as_str() {
        "csv" => Some("csv"),
        "json" => Some("json"),
        "ndjson" | "jsonl" => Some("ndjson"),
        _ => None,
    };
    let chosen = FORMATS.iter().find(|(v, _)| *v == format && !v.is_empty());
    match (chosen, named) {
        (Some((v, _)), _) => Ok(Upload::Items(v)),
        (None, Some(v)) => Ok(Upload::Items(v)),
        (None, None) => Err(format!(
            "Cannot tell the format of {} from its name: choose it under Format.",
            names[0]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_format_comes_from_the_name_unless_chosen() {
        assert_eq!(pick("", &names(&["a.CSV"])), Ok(Upload::Items("csv")));
        assert_eq!(pick("", &names(&["a.jsonl"])), Ok(Upload::Items("ndjson")));
        assert_eq!(pick("", &names(&["a.json"])), Ok(Upload::Items("json")));
        assert_eq!(
            pick("label_studio", &names(&["export.json"])),
            Ok(Upload::Items("label_studio"))
        );
        assert_eq!(pick("csv", &names(&["rows.txt"])), Ok(Upload::Items("csv")));
        assert!(pick("", &names(&["rows.txt"]))
            .unwrap_err()
            .contains("choose it under Format"));
        assert!(pick("", &[]).is_err());
    }

    #[test]
    fn images_and_videos_go_together_and_data_files_alone() {
        assert_eq!(pick("", &names(&["a.png", "b.webm"])), Ok(Upload::Media));
        assert_eq!(pick("files", &names(&["a.JPG"])), Ok(Upload::Media));
        assert!(pick("files", &names(&["a.png", "b.csv"]))
            .unwrap_err()
            .starts_with("b.csv is not"));
        assert!(pick("", &names(&["a.csv", "b.csv"]))
            .unwrap_err()
            .contains("one data file"));
    }
}
