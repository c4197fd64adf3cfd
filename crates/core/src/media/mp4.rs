//! ISO base media file format (ISO/IEC 14496-12): a tree of boxes, each a 32-bit size and a
//! four-letter type. The movie header gives the duration; each track's header, media header,
//! handler and time-to-sample table give its kind, size and frame rate.

use super::{checked_video, Container, ProbeError, Reader, VideoInfo};

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
        return checked_video(Container::Mp4, false, duration_ms, fps, size);
    }
    Err(ProbeError::NoVideoTrack)
}
