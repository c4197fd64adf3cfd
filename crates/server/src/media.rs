//! The media store: the bytes of uploaded images and videos, content-addressed by SHA-256, in a
//! local directory (the default, next to the SQLite file) or any S3-compatible bucket (for
//! replicas, which must all see the same files). Which project may read a file is the
//! database's business (`store::media`); this module only keeps bytes.

use anyhow::Context;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;

/// A handle on the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    location: String,
}

/// The lowercase hex SHA-256 of a file: its name in the store.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a SHA-256 in lowercase hex (what a media URL must name).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One file read from the store: its total size, the part asked for, and the bytes of that part
/// as a stream (a video is not read into memory to be served).
pub struct Served {
    /// The whole file's size in bytes.
    pub size: u64,
    /// The byte range the body holds.
    pub range: Range<u64>,
    /// The bytes.
    pub body: axum::body::Body,
}

impl MediaStore {
    /// Opens the store at `location`: `s3://bucket/prefix` (credentials and endpoint from the
    /// usual `AWS_*` variables, e.g. `AWS_ENDPOINT` for MinIO) or a directory, created if missing.
    pub fn open(location: &str) -> anyhow::Result<MediaStore> {
        let store: Arc<dyn ObjectStore> = if location.starts_with("s3://") {
            Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(location)
                    .build()
                    .with_context(|| format!("cannot open the media store {location}"))?,
            )
        } else if location.contains("://") {
            anyhow::bail!("media store {location:?}: use a directory or s3://bucket/prefix");
        } else {
            std::fs::create_dir_all(location)
                .with_context(|| format!("cannot create the media directory {location}"))?;
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(
                location,
            )?)
        };
        Ok(MediaStore {
            store,
            location: location.to_owned(),
        })
    }

    /// Where the files live, for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(sha: &str) -> ObjectPath {
        // Two levels of fan-out keep directories small on local disks.
        ObjectPath::from(format!("sha256/{}/{sha}", &sha[..2]))
    }

    /// Stores `bytes` under `sha` unless a file is already there (same name, same bytes).
    pub async fn put(&self, sha: &str, bytes: Bytes) -> anyhow::Result<()> {
        let path = Self::path(sha);
        match self.store.head(&path).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).context("media store unavailable"),
        }
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .context("cannot store the media file")?;
        Ok(())
    }

    /// Starts a file written piece by piece (an export), named by its SHA-256 when it is
    /// whole: its bytes go to a staging name (`staging/…`) as they come, and
    /// [`Upload::finish`] moves them under their SHA-256.
    pub async fn upload(&self) -> anyhow::Result<Upload> {
        let staging = ObjectPath::from(format!(
            "staging/{}",
            hex::encode(rand::random::<[u8; 16]>())
        ));
        let parts = self
            .store
            .put_multipart(&staging)
            .await
            .context("cannot start a file in the media store")?;
        Ok(Upload {
            store: self.store.clone(),
            staging,
            parts: WriteMultipart::new(parts),
            hash: Sha256::new(),
            size: 0,
        })
    }

    /// Reads `range` of the file (all of it when `None`).
    pub async fn get(&self, sha: &str, range: Option<Range<u64>>) -> anyhow::Result<Served> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(&Self::path(sha), options)
            .await
            .context("cannot read the media file")?;
        let (size, range) = (got.meta.size, got.range.clone());
        Ok(Served {
            size,
            range,
            body: axum::body::Body::from_stream(got.into_stream()),
        })
    }

    /// The file's size, or `None` when it is not stored.
    pub async fn size(&self, sha: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&Self::path(sha)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).context("media store unavailable"),
        }
    }
}

/// A file being written into the store (see [`MediaStore::upload`]). Dropped unfinished, it
/// leaves at most a staging file behind: call [`Upload::abort`] when giving up.
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    staging: ObjectPath,
    parts: WriteMultipart,
    hash: Sha256,
    size: u64,
}

/// Parts of a file sent to the store at once: a bound on what an upload holds in memory.
const PARTS_IN_FLIGHT: usize = 2;

impl Upload {
    /// Appends `bytes`; waits while earlier parts are still on their way.
    pub async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.parts
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .context("cannot write to the media store")?;
        self.hash.update(bytes);
        self.parts.write(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Completes the file and stores it under its SHA-256, which it returns. A file with the
    /// same bytes already there is kept, and the new copy let go.
    pub async fn finish(self) -> anyhow::Result<String> {
        self.parts
            .finish()
            .await
            .context("cannot complete a file in the media store")?;
        let sha = hex::encode(self.hash.finalize());
        let path = MediaStore::path(&sha);
        let moved = match self.store.head(&path).await {
            Ok(_) => self.store.delete(&self.staging).await,
            Err(object_store::Error::NotFound { .. }) => {
                self.store.rename(&self.staging, &path).await
            }
            Err(e) => Err(e),
        };
        moved.context("cannot name a file in the media store")?;
        Ok(sha)
    }

    /// Gives the file up, removing what was written of it.
    pub async fn abort(self) {
        if let Err(e) = self.parts.abort().await {
            tracing::warn!("abandoning {} in the media store: {e}", self.staging);
        }
        // A local store keeps the parts in a file of its own until completion; nothing was
        // ever stored under the staging name itself.
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAsk {
    /// The whole file (no header, or one Quorum answers in full, such as several ranges).
    Whole,
    /// One range of bytes, end exclusive.
    Part(Range<u64>),
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.1.2) for one byte range: `bytes=a-b`, `bytes=a-` or
/// `bytes=-n`. Several ranges get the whole file, which the RFC allows; a header that does not
/// parse is ignored, as the RFC asks.
pub fn range_ask(header: Option<&str>, size: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // The last n bytes.
        (true, false) => match num(last) {
            Some(0) => return RangeAsk::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size),
            None => return RangeAsk::Whole,
        },
        (false, true) => match num(first) {
            Some(a) => (a, size),
            None => return RangeAsk::Whole,
        },
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a <= b => (a, b.saturating_add(1).min(size)),
            _ => return RangeAsk::Whole,
        },
        (true, true) => return RangeAsk::Whole,
    };
    if start >= size {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ask = |h: &str| range_ask(Some(h), 1000);
        assert_eq!(range_ask(None, 1000), RangeAsk::Whole);
        assert_eq!(ask("bytes=0-99"), RangeAsk::Part(0..100));
        assert_eq!(ask("bytes=900-"), RangeAsk::Part(900..1000));
        assert_eq!(ask("bytes=-100"), RangeAsk::Part(900..1000));
        assert_eq!(ask("bytes=-5000"), RangeAsk::Part(0..1000));
        assert_eq!(ask("bytes=990-5000"), RangeAsk::Part(990..1000));
        assert_eq!(ask("bytes=1000-"), RangeAsk::Unsatisfiable);
        assert_eq!(ask("bytes=-0"), RangeAsk::Unsatisfiable);
        assert_eq!(ask("bytes=0-1,5-9"), RangeAsk::Whole);
        assert_eq!(ask("bytes=9-1"), RangeAsk::Whole);
        assert_eq!(ask("items=0-1"), RangeAsk::Whole);
        assert_eq!(ask("bytes=x-"), RangeAsk::Whole);
        assert_eq!(range_ask(Some("bytes=0-"), 0), RangeAsk::Unsatisfiable);
    }

    #[test]
    fn names() {
        let sha = sha256_hex(b"abc");
        assert!(is_sha256_hex(&sha));
        assert!(!is_sha256_hex(&sha.to_uppercase()));
        assert!(!is_sha256_hex("../etc/passwd"));
    }

    #[tokio::test]
    async fn a_file_written_in_pieces_is_named_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path().to_str().unwrap()).unwrap();
        let whole: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
        for _ in 0..2 {
            let mut upload = store.upload().await.unwrap();
            for piece in whole.chunks(700_001) {
                upload.write(piece).await.unwrap();
            }
            assert_eq!(upload.size(), whole.len() as u64);
            let sha = upload.finish().await.unwrap();
            assert_eq!(sha, sha256_hex(&whole));
            let read = store.get(&sha, None).await.unwrap();
            let body = axum::body::to_bytes(read.body, usize::MAX).await.unwrap();
            assert!(body[..] == whole[..]);
        }
        // Nothing left under the staging names, whether the file was new or already stored.
        let staging = dir.path().join("staging");
        let left = std::fs::read_dir(&staging).map_or(0, |d| d.count());
        assert_eq!(left, 0, "staging files left behind");
        let upload = store.upload().await.unwrap();
        upload.abort().await;
        assert_eq!(std::fs::read_dir(&staging).map_or(0, |d| d.count()), 0);
    }

    #[tokio::test]
    async fn stores_once_and_reads_parts() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::open(dir.path().to_str().unwrap()).unwrap();
        let bytes = Bytes::from_static(b"0123456789");
        let sha = sha256_hex(&bytes);
        assert_eq!(store.size(&sha).await.unwrap(), None);
        store.put(&sha, bytes.clone()).await.unwrap();
        store.put(&sha, bytes).await.unwrap();
        assert_eq!(store.size(&sha).await.unwrap(), Some(10));
        let part = store.get(&sha, Some(2..5)).await.unwrap();
        assert_eq!((part.size, part.range.clone()), (10, 2..5));
        let body = axum::body::to_bytes(part.body, 100).await.unwrap();
        assert_eq!(&body[..], b"234");
    }
}
