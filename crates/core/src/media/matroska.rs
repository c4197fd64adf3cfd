//! Matroska / WebM: EBML elements, each a variable-length id and size. The segment's Info
//! gives the timestamp scale and duration; each TrackEntry its type, default frame duration
//! and picture size. Files written live (e.g. by a browser's MediaRecorder) may declare no
//! duration; then the clusters' block timestamps give it.

use super::{checked_video, Container, ProbeError, VideoInfo};

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
        return Err(ProbeError::Truncated);
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
        return Err(ProbeError::Truncated);
    }
    Ok(body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn float(body: &[u8]) -> Result<f64, ProbeError> {
    match body.len() {
        4 => Ok(f64::from(f32::from_be_bytes(body.try_into().expect("4")))),
        8 => Ok(f64::from_be_bytes(body.try_into().expect("8"))),
        0 => Ok(0.0),
        _ => Err(ProbeError::Truncated),
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
    let (id, header) = top.next().ok_or(ProbeError::Unsupported)??;
    if id != EBML {
        return Err(ProbeError::Unsupported);
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
    checked_video(Container::Matroska, webm, duration_ms, fps, size)
}
