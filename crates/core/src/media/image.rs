//! Still images: the picture size from the header of a PNG (IHDR), JPEG (the first start-of-frame
//! segment), GIF (logical screen) or WebP (VP8, VP8L or VP8X chunk).

use super::{ImageFormat, ImageInfo, ProbeError, Reader};

/// `Ok(None)` when the bytes do not start like any image format; an error when they do but the
/// header is cut short or damaged.
pub(super) fn probe(bytes: &[u8]) -> Result<Option<ImageInfo>, ProbeError> {
    let info = |format, (width, height)| {
        Some(ImageInfo {
            format,
            width,
            height,
        })
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(info(ImageFormat::Png, png(&bytes[8..])?));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(info(ImageFormat::Jpeg, jpeg(&bytes[2..])?));
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        let mut r = Reader { bytes: &bytes[6..] };
        let le16 = |b: &[u8]| u32::from(u16::from_le_bytes([b[0], b[1]]));
        let (w, h) = (r.take(2)?, r.take(2)?);
        return Ok(info(ImageFormat::Gif, (le16(w), le16(h))));
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok(info(ImageFormat::Webp, webp(&bytes[12..])?));
    }
    Ok(None)
}

fn png(after_signature: &[u8]) -> Result<(u32, u32), ProbeError> {
    let mut r = Reader {
        bytes: after_signature,
    };
    r.take(4)?; // chunk length
    if r.take(4)? != b"IHDR" {
        return Err(ProbeError::Truncated);
    }
    Ok((r.uint(4)? as u32, r.uint(4)? as u32))
}

fn jpeg(after_soi: &[u8]) -> Result<(u32, u32), ProbeError> {
    let mut r = Reader { bytes: after_soi };
    loop {
        if r.uint(1)? != 0xFF {
            return Err(ProbeError::Truncated);
        }
        let mut marker = r.uint(1)?;
        while marker == 0xFF {
            marker = r.uint(1)?; // fill bytes
        }
        match marker {
            // Markers without a length: restart markers, TEM.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Err(ProbeError::Missing("picture size")),
            // Start of frame, every coding process (not DHT, JPG or DAC, which share the range).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                r.take(3)?; // length, precision
                let height = r.uint(2)? as u32;
                return Ok((r.uint(2)? as u32, height));
            }
            _ => {
                let length = r.uint(2)? as usize;
                r.take(length.checked_sub(2).ok_or(ProbeError::Truncated)?)?;
            }
        }
    }
}

fn webp(chunks: &[u8]) -> Result<(u32, u32), ProbeError> {
    let mut r = Reader { bytes: chunks };
    let kind = r.take(4)?;
    r.take(4)?; // chunk size
    let le = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
    };
    match kind {
        b"VP8 " => {
            r.take(3)?; // frame tag
            if r.take(3)? != [0x9D, 0x01, 0x2A] {
                return Err(ProbeError::Truncated);
            }
            let (w, h) = (le(r.take(2)?), le(r.take(2)?));
            Ok((w & 0x3FFF, h & 0x3FFF))
        }
        b"VP8L" => {
            if r.take(1)? != [0x2F] {
                return Err(ProbeError::Truncated);
            }
            let bits = le(r.take(4)?);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => {
            r.take(4)?; // flags, reserved
            let (w, h) = (le(r.take(3)?), le(r.take(3)?));
            Ok((w + 1, h + 1))
        }
        _ => Err(ProbeError::Truncated),
    }
}
