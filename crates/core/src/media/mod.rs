//! What an uploaded media file is — an image or a video clip, its picture size, and for a clip its
//! duration and frame rate — read from the file's bytes alone (no decoding, no ffmpeg).
//!
//! Uploads are untrusted: every length is checked against the bytes that are there, only a fixed
//! path of structures is entered (so hostile nesting costs nothing), and anything that is not a
//! well-formed file of a known kind is a [`ProbeError`], never a panic.

mod image;
mod matroska;
mod mp4;

use std::fmt;

/// An uploaded file Quorum can show.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaInfo {
    /// A still picture.
    Image(ImageInfo),
    /// A video clip.
    Video(VideoInfo),
}

impl MediaInfo {
    /// The MIME type to serve the file with.
    pub fn mime(&self) -> &'static str {
        match self {
            MediaInfo::Image(i) => i.format.mime(),
            MediaInfo::Video(v) => v.mime(),
        }
    }

    /// Picture width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            MediaInfo::Image(i) => (i.width, i.height),
            MediaInfo::Video(v) => (v.width, v.height),
        }
    }
}

/// The still-image formats browsers show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
}

impl ImageFormat {
    /// The format's MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// A picture's format and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

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

/// Why the bytes are not a file Quorum can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// Not a PNG, JPEG, GIF, WebP, MP4 or Matroska/WebM file.
    Unsupported,
    /// A structure runs past the end of the file (a partial upload, or a damaged file).
    Truncated,
    /// A container that holds no video track (e.g. an audio-only file).
    NoVideoTrack,
    /// The file declares no usable duration or picture size.
    Missing(&'static str),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Unsupported => {
                f.write_str("not an image (PNG, JPEG, GIF, WebP) or a video (MP4, WebM, Matroska)")
            }
            ProbeError::Truncated => f.write_str("the file is cut short or damaged"),
            ProbeError::NoVideoTrack => f.write_str("the file holds no video track"),
            ProbeError::Missing(what) => write!(f, "the file does not declare its {what}"),
        }
    }
}

impl std::error::Error for ProbeError {}

/// The longest clip accepted: a day. Longer durations come from damaged headers.
const MAX_DURATION_MS: f64 = 24.0 * 3600.0 * 1000.0;
/// The largest picture side accepted (8K video is 7680; big scans and maps reach 65,535).
const MAX_SIDE: u32 = 65_535;

/// Reads what a file is from its bytes (the whole file: an MP4's index may sit at its end).
pub fn probe(bytes: &[u8]) -> Result<MediaInfo, ProbeError> {
    if let Some(image) = image::probe(bytes)? {
        return checked_image(image).map(MediaInfo::Image);
    }
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return matroska::probe(bytes).map(MediaInfo::Video);
    }
    if bytes.len() >= 8 && (&bytes[4..8] == b"ftyp" || &bytes[4..8] == b"moov") {
        return mp4::probe(bytes).map(MediaInfo::Video);
    }
    Err(ProbeError::Unsupported)
}

fn side_ok(side: u32) -> bool {
    (1..=MAX_SIDE).contains(&side)
}

fn checked_image(image: ImageInfo) -> Result<ImageInfo, ProbeError> {
    if side_ok(image.width) && side_ok(image.height) {
        Ok(image)
    } else {
        Err(ProbeError::Missing("picture size"))
    }
}

fn checked_video(
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
        .filter(|&(w, h)| side_ok(w) && side_ok(h))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_show() {
        assert_eq!(probe(b""), Err(ProbeError::Unsupported));
        assert_eq!(probe(b"%PDF-1.7 ..."), Err(ProbeError::Unsupported));
        assert_eq!(probe(&[0u8; 64]), Err(ProbeError::Unsupported));
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
