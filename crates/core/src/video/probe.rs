//! What a video container says about its clip — duration, frame rate, picture size — read from
//! the file's bytes (MP4/QuickTime and Matroska/WebM), without decoding a single frame.
//!
//! Uploads are untrusted: every length is checked against the bytes that are there, only a fixed
//! path of elements is entered (so hostile nesting costs nothing), and anything that is not a
//! well-formed container is a [`ProbeError`], never a panic.

use std::fmt;

/// The container a clip came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO base media (MP4, MOV, M4V).
    Mp4,
    /// Matroska or WebM.
    Matroska,
}

/// A clip's metadata as its container declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The container.
    pub container: Container,
    /// Whether a Matroska file says it is WebM.
    pub webm: bool,
    /// Length of the clip in milliseconds (rounded to the nearest).
    pub duration_ms: u64,
    /// Frames per second, when the container states a constant rate.
    pub fps: Option<f64>,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
}

impl VideoInfo {
    /// The MIME type of the file.
    pub fn mime(&self) -> &'static str {
        match (self.container, self.webm) {
            (Container::Mp4, _) => "video/mp4",
            (Container::Matroska, true) => "video/webm",
            (Container::Matroska, false) => "video/x-matroska",
        }
    }
}

/// Why the bytes are not a clip Quorum can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// Neither an MP4 nor a Matroska/WebM file.
    NotAVideo,
    /// A structure runs past the end of the file (a partial upload, or a damaged file).
    Truncated,
    /// The container holds no video track (e.g. an audio-only file).
    NoVideoTrack,
    /// The clip declares no usable duration or picture size.
    Missing(&'static str),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NotAVideo => f.write_str("not an MP4 or WebM video"),
            ProbeError::Truncated => f.write_str("the video file is cut short or damaged"),
            ProbeError::NoVideoTrack => f.write_str("the file holds no video track"),
            ProbeError::Missing(what) => write!(f, "the video does not declare its {what}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// The longest clip accepted: a day. Longer durations come from damaged headers.
const MAX_DURATION_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// The largest picture side accepted (8K is 7680).
const MAX_SIDE: u32 = 16_384;

/// Reads a clip's metadata from the whole file.
pub fn probe(bytes: &[u8]) -> Result<VideoInfo, ProbeError> {
    if bytes.len() >= 4 && bytes[..4] == [0x1A, 0x45, 0xDF, 0xA3] {
        return matroska::probe(bytes);
    }
    if bytes.len() >= 8 && (&bytes[4..8] == b"ftyp" || &bytes[4..8] == b"moov") {
        return mp4::probe(bytes);
    }
    Err(ProbeError::NotAVideo)
}

fn checked(
    container: Container,
    webm: bool,
    duration_ms: Option<f64>,
    fps: Option<f64>,
    size: Option<(u32, u32)>,
) -> Result<VideoInfo, ProbeError> {
    let duration_ms = duration_ms
        .filter(|d| d.is_finite() && *d > 0.0 && *d <= MAX_DURATION_MS)
        .ok_or(ProbeError::Missing("duration"))?;
    let (width, height) = size
        .filter(|&(w, h)| (1..=MAX_SIDE).contains(&w) && (1..=MAX_SIDE).contains(&h))
        .ok_or(ProbeError::Missing("picture size"))?;
    Ok(VideoInfo {
        container,
        webm,
        duration_ms: duration_ms.round().max(1.0) as u64,
        fps: fps.filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0),
        width,
        height,
    })
}

/// A cursor over big-endian fields that reports running out as [`ProbeError::Truncated`].
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProbeError> {
        if n > self.bytes.len() {
            return Err(ProbeError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn uint(&mut self, n: usize) -> Result<u64, ProbeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

mod mp4 {
    //! ISO base media file format (ISO/IEC 14496-12): a tree of boxes, each a 32-bit size and a
    //! four-letter type. The movie header gives the duration; each track's header, media header,
    //! handler and time-to-sample table give its kind, size and frame rate.
    use super::{checked, Container, ProbeError, Reader, VideoInfo};

    /// The boxes directly inside `bytes`: (type, body).
    fn boxes(bytes: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), ProbeError>> {
        let mut rest = bytes;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            Some(next_box(&mut rest))
        })
    }

    fn next_box<'a>(rest: &mut &'a [u8]) -> Result<([u8; 4], &'a [u8]), ProbeError> {
        let mut r = Reader { bytes: rest };
        let size = r.uint(4)?;
        let kind: [u8; 4] = r.take(4)?.try_into().expect("four bytes");
        let (header, size) = match size {
            0 => (8, rest.len() as u64),
            1 => (16, r.uint(8)?),
            n => (8, n),
        };
        if size < header || size > rest.len() as u64 {
            return Err(ProbeError::Truncated);
        }
        let body = &rest[header as usize..size as usize];
        *rest = &rest[size as usize..];
        Ok((kind, body))
    }

    fn child<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, ProbeError> {
        for b in boxes(bytes) {
            let (k, body) = b?;
            if &k == kind {
                return Ok(Some(body));
            }
        }
        Ok(None)
    }

    /// Follows a path of box types, each the first of its kind inside the previous one.
    fn path<'a>(mut bytes: &'a [u8], kinds: &[&[u8; 4]]) -> Result<Option<&'a [u8]>, ProbeError> {
        for kind in kinds {
            match child(bytes, kind)? {
                Some(body) => bytes = body,
                None => return Ok(None),
            }
        }
        Ok(Some(bytes))
    }

    /// (timescale, duration) from an `mvhd` or `mdhd` body, which share their first fields.
    fn timescale_duration(body: &[u8]) -> Result<(u64, u64), ProbeError> {
        let mut r = Reader { bytes: body };
        let version = r.uint(1)?;
        r.take(3)?;
        if version == 1 {
            r.take(16)?;
            Ok((r.uint(4)?, r.uint(8)?))
        } else {
            r.take(8)?;
            Ok((r.uint(4)?, r.uint(4)?))
        }
    }

    /// Width and height (16.16 fixed point) at the end of a `tkhd` body.
    fn track_size(tkhd: &[u8]) -> Result<(u32, u32), ProbeError> {
        let mut r = Reader { bytes: tkhd };
        let version = r.uint(1)?;
        r.take(3)?;
        r.take(if version == 1 { 32 } else { 20 })?; // times, track id, reserved, duration
        r.take(8 + 2 + 2 + 2 + 2 + 36)?; // reserved, layer, group, volume, reserved, matrix
        Ok(((r.uint(4)? >> 16) as u32, (r.uint(4)? >> 16) as u32))
    }

    /// The most common sample duration in an `stts` table, in media timescale units.
    fn typical_delta(stts: &[u8]) -> Result<Option<u64>, ProbeError> {
        let mut r = Reader { bytes: stts };
        r.take(4)?;
        let entries = r.uint(4)?;
        let mut best: Option<(u64, u64)> = None;
        for _ in 0..entries {
            let (count, delta) = (r.uint(4)?, r.uint(4)?);
            if delta > 0 && best.is_none_or(|(c, _)| count > c) {
                best = Some((count, delta));
            }
        }
        Ok(best.map(|(_, delta)| delta))
    }

    pub(super) fn probe(bytes: &[u8]) -> Result<VideoInfo, ProbeError> {
        let moov = child(bytes, b"moov")?.ok_or(ProbeError::Truncated)?;
        let movie = match child(moov, b"mvhd")? {
            Some(mvhd) => Some(timescale_duration(mvhd)?),
            None => None,
        };
        for b in boxes(moov) {
            let (kind, trak) = b?;
            if &kind != b"trak" {
                continue;
            }
            let handler = path(trak, &[b"mdia", b"hdlr"])?;
            let is_video = handler.is_some_and(|h| h.len() >= 12 && &h[8..12] == b"vide");
            if !is_video {
                continue;
            }
            let size = match child(trak, b"tkhd")? {
                Some(tkhd) => Some(track_size(tkhd)?),
                None => None,
            };
            let media = match path(trak, &[b"mdia", b"mdhd"])? {
                Some(mdhd) => Some(timescale_duration(mdhd)?),
                None => None,
            };
            let delta = match path(trak, &[b"mdia", b"minf", b"stbl", b"stts"])? {
                Some(stts) => typical_delta(stts)?,
                None => None,
            };
            let ms = |(scale, duration): (u64, u64)| {
                (scale > 0 && duration > 0).then(|| duration as f64 * 1000.0 / scale as f64)
            };
            // A fragmented file leaves the movie duration at 0; the track's media header is
            // the next best word.
            let duration_ms = movie.and_then(ms).or_else(|| media.and_then(ms));
            let fps = media
                .zip(delta)
                .map(|((scale, _), delta)| scale as f64 / delta as f64);
            return checked(Container::Mp4, false, duration_ms, fps, size);
        }
        Err(ProbeError::NoVideoTrack)
    }
}

mod matroska {
    //! Matroska / WebM: EBML elements, each a variable-length id and size. The segment's Info
    //! gives the timestamp scale and duration; each TrackEntry its type, default frame duration
    //! and picture size. Files written live (e.g. by a browser's MediaRecorder) may declare no
    //! duration; then the clusters' block timestamps give it.
    use super::{checked, Container, ProbeError, VideoInfo};

    const EBML: u32 = 0x1A45_DFA3;
    const DOC_TYPE: u32 = 0x4282;
    const SEGMENT: u32 = 0x1853_8067;
    const INFO: u32 = 0x1549_A966;
    const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    const DURATION: u32 = 0x4489;
    const TRACKS: u32 = 0x1654_AE6B;
    const TRACK_ENTRY: u32 = 0xAE;
    const TRACK_TYPE: u32 = 0x83;
    const DEFAULT_DURATION: u32 = 0x23_E383;
    const VIDEO: u32 = 0xE0;
    const PIXEL_WIDTH: u32 = 0xB0;
    const PIXEL_HEIGHT: u32 = 0xBA;
    const CLUSTER: u32 = 0x1F43_B675;
    const CLUSTER_TIMESTAMP: u32 = 0xE7;
    const SIMPLE_BLOCK: u32 = 0xA3;
    const BLOCK_GROUP: u32 = 0xA0;
    const BLOCK: u32 = 0xA1;

    /// A variable-length integer: the leading zero bits of the first byte give its length.
    /// Ids keep their marker bit; sizes drop it, and all ones means "unknown size".
    fn vint(bytes: &[u8], keep_marker: bool) -> Result<(u64, usize, bool), ProbeError> {
        let first = *bytes.first().ok_or(ProbeError::Truncated)?;
        let len = first.leading_zeros() as usize + 1;
        if len > 8 || bytes.len() < len {
            return Err(ProbeError::Truncated);
        }
        // The bits after the length marker; a 8-byte number has none left in its first byte.
        let payload = u64::from(first) & ((1u64 << (8 - len)) - 1);
        let rest = bytes[1..len]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let value_bits = 7 * len;
        let value = (payload << (8 * (len - 1))) | rest;
        if keep_marker {
            return Ok((value | (1u64 << value_bits), len, false));
        }
        Ok((value, len, value == (1u64 << value_bits) - 1))
    }

    /// The elements directly inside `bytes`: (id, body). An element of unknown size (a live
    /// stream's segment or cluster) runs to the end of its parent.
    fn elements(bytes: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8]), ProbeError>> {
        let mut rest = bytes;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            Some(next_element(&mut rest))
        })
    }

    fn next_element<'a>(rest: &mut &'a [u8]) -> Result<(u32, &'a [u8]), ProbeError> {
        let (id, id_len, _) = vint(rest, true)?;
        if id_len > 4 {
            return Err(ProbeError::NotAVideo);
        }
        let (size, size_len, unknown) = vint(&rest[id_len..], false)?;
        let start = id_len + size_len;
        let end = if unknown {
            rest.len()
        } else {
            start
                .checked_add(usize::try_from(size).map_err(|_| ProbeError::Truncated)?)
                .filter(|&end| end <= rest.len())
                .ok_or(ProbeError::Truncated)?
        };
        let body = &rest[start..end];
        *rest = &rest[end..];
        Ok((id as u32, body))
    }

    fn uint(body: &[u8]) -> Result<u64, ProbeError> {
        if body.len() > 8 {
            return Err(ProbeError::NotAVideo);
        }
        Ok(body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn float(body: &[u8]) -> Result<f64, ProbeError> {
        match body.len() {
            4 => Ok(f64::from(f32::from_be_bytes(body.try_into().expect("4")))),
            8 => Ok(f64::from_be_bytes(body.try_into().expect("8"))),
            0 => Ok(0.0),
            _ => Err(ProbeError::NotAVideo),
        }
    }

    #[derive(Default)]
    struct VideoTrack {
        default_duration_ns: Option<u64>,
        size: (Option<u32>, Option<u32>),
    }

    fn video_track(entry: &[u8]) -> Result<Option<VideoTrack>, ProbeError> {
        let mut track = VideoTrack::default();
        let mut is_video = false;
        for e in elements(entry) {
            let (id, body) = e?;
            match id {
                TRACK_TYPE => is_video = uint(body)? == 1,
                DEFAULT_DURATION => track.default_duration_ns = Some(uint(body)?),
                VIDEO => {
                    for v in elements(body) {
                        let (id, body) = v?;
                        let side = || uint(body).map(|v| u32::try_from(v).ok());
                        match id {
                            PIXEL_WIDTH => track.size.0 = side()?,
                            PIXEL_HEIGHT => track.size.1 = side()?,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(is_video.then_some(track))
    }

    /// The end of the last block, in timestamp-scale units, from the clusters.
    fn last_block_end(clusters: &[&[u8]]) -> Result<Option<u64>, ProbeError> {
        let mut last = None;
        for cluster in clusters {
            let mut base = 0u64;
            for e in elements(cluster) {
                let (id, body) = e?;
                let block = match id {
                    CLUSTER_TIMESTAMP => {
                        base = uint(body)?;
                        continue;
                    }
                    SIMPLE_BLOCK => body,
                    BLOCK_GROUP => match elements(body).find(|e| matches!(e, Ok((BLOCK, _)))) {
                        Some(Ok((_, b))) => b,
                        _ => continue,
                    },
                    _ => continue,
                };
                // Track number (a vint), then a signed 16-bit offset from the cluster's time.
                let (_, n, _) = vint(block, false)?;
                let offset = block.get(n..n + 2).ok_or(ProbeError::Truncated)?;
                let offset = i16::from_be_bytes([offset[0], offset[1]]);
                let at = base.saturating_add_signed(i64::from(offset));
                last = Some(last.map_or(at, |l: u64| l.max(at)));
            }
        }
        Ok(last)
    }

    pub(super) fn probe(bytes: &[u8]) -> Result<VideoInfo, ProbeError> {
        let mut top = elements(bytes);
        let (id, header) = top.next().ok_or(ProbeError::NotAVideo)??;
        if id != EBML {
            return Err(ProbeError::NotAVideo);
        }
        let mut webm = false;
        for e in elements(header) {
            let (id, body) = e?;
            if id == DOC_TYPE {
                webm = body == b"webm";
            }
        }
        let segment = top
            .find_map(|e| match e {
                Ok((SEGMENT, body)) => Some(Ok(body)),
                Ok(_) => None,
                Err(err) => Some(Err(err)),
            })
            .ok_or(ProbeError::Truncated)??;

        let (mut scale_ns, mut duration, mut track) = (1_000_000u64, None, None);
        let mut clusters = Vec::new();
        for e in elements(segment) {
            let (id, body) = e?;
            match id {
                INFO => {
                    for i in elements(body) {
                        let (id, body) = i?;
                        match id {
                            TIMESTAMP_SCALE => scale_ns = uint(body)?.max(1),
                            DURATION => duration = Some(float(body)?),
                            _ => {}
                        }
                    }
                }
                TRACKS => {
                    for t in elements(body) {
                        let (id, body) = t?;
                        if id == TRACK_ENTRY && track.is_none() {
                            track = video_track(body)?;
                        }
                    }
                }
                CLUSTER => clusters.push(body),
                _ => {}
            }
        }
        let track = track.ok_or(ProbeError::NoVideoTrack)?;
        let frame_ns = track.default_duration_ns.filter(|&d| d > 0);
        let duration_ms = match duration.filter(|d| *d > 0.0) {
            Some(d) => Some(d * scale_ns as f64 / 1e6),
            None => last_block_end(&clusters)?
                .map(|end| (end as f64 * scale_ns as f64 + frame_ns.unwrap_or(0) as f64) / 1e6),
        };
        let fps = frame_ns.map(|ns| 1e9 / ns as f64);
        let size = track.size.0.zip(track.size.1);
        checked(Container::Matroska, webm, duration_ms, fps, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_video() {
        assert_eq!(probe(b""), Err(ProbeError::NotAVideo));
        assert_eq!(probe(b"\x89PNG\r\n\x1a\n rest"), Err(ProbeError::NotAVideo));
        assert_eq!(probe(&[0u8; 64]), Err(ProbeError::NotAVideo));
    }

    #[test]
    fn a_box_longer_than_the_file_is_truncated_not_a_panic() {
        let mut bytes = vec![0, 0, 0, 24];
        bytes.extend_from_slice(b"ftypisom");
        bytes.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
        bytes.extend_from_slice(b"moov");
        assert_eq!(probe(&bytes), Err(ProbeError::Truncated));
    }

    #[test]
    fn an_ebml_header_alone_is_truncated() {
        assert_eq!(
            probe(&[0x1A, 0x45, 0xDF, 0xA3, 0x80]),
            Err(ProbeError::Truncated)
        );
    }
}
