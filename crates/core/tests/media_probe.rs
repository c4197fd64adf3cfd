//! The media probe on real files: the shared sample photos, and: a 4-second 320×240 pan over `chelsea.png` at 10 fps, encoded
//! by ffmpeg as VP8/WebM and H.264/MP4 (how: `crates/core/tests/fixtures/README.md`).

use quorum_core::media::{probe, Container, ImageFormat, MediaInfo, ProbeError, VideoInfo};
use quorum_core::video::sample_times;

const WEBM: &[u8] = include_bytes!("fixtures/chelsea-pan.webm");
const MP4: &[u8] = include_bytes!("fixtures/chelsea-pan.mp4");

fn video(bytes: &[u8]) -> VideoInfo {
    match probe(bytes) {
        Ok(MediaInfo::Video(v)) => v,
        other => panic!("not a video: {other:?}"),
    }
}

#[test]
fn webm_clip() {
    let info = video(WEBM);
    assert_eq!(info.container, Container::Matroska);
    assert_eq!(info.mime(), "video/webm");
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.duration_ms, 4000);
    assert_eq!(sample_times(info.duration_ms, 500).unwrap().count(), 8);
}

#[test]
fn mp4_clip() {
    let info = video(MP4);
    assert_eq!(info.container, Container::Mp4);
    assert_eq!(info.mime(), "video/mp4");
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.duration_ms, 4000);
    let fps = info.fps.expect("a constant frame rate");
    assert!((fps - 10.0).abs() < 1e-9, "{fps}");
}

#[test]
fn every_cut_of_a_clip_is_an_error_not_a_panic() {
    for clip in [WEBM, MP4] {
        for end in (0..clip.len()).step_by(97) {
            let _ = probe(&clip[..end]);
        }
    }
    // Cut inside the header: the file cannot be read.
    assert_eq!(probe(&MP4[..200]).map(|_| ()), Err(ProbeError::Truncated));
}

#[test]
fn garbage_bytes_are_not_a_video() {
    let noise: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(probe(&noise), Err(ProbeError::Unsupported));
}

proptest::proptest! {
    /// Hostile uploads: any bytes behind a known format's magic give an answer, never a panic.
    #[test]
    fn any_bytes_behind_a_container_magic_are_answered(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        webm in proptest::bool::ANY,
        magic in 0usize..6,
        flip in 0usize..4096,
    ) {
        let magics: [&[u8]; 6] = [
            &WEBM[..4], &MP4[..8], b"\x89PNG\r\n\x1a\n", &[0xFF, 0xD8, 0xFF], b"GIF89a", b"RIFF....WEBP",
        ];
        let mut bytes = magics[magic].to_vec();
        bytes.extend_from_slice(&body);
        let _ = probe(&bytes);
        // And real clips with one byte changed.
        let mut clip = if webm { WEBM.to_vec() } else { MP4.to_vec() };
        let at = flip % clip.len();
        clip[at] ^= 0xFF;
        let _ = probe(&clip);
    }
}

#[test]
fn images_by_format_and_size() {
    let image = |bytes: &[u8]| match probe(bytes) {
        Ok(MediaInfo::Image(i)) => (i.format, i.width, i.height),
        other => panic!("not an image: {other:?}"),
    };
    let demo = |name: &str| std::fs::read(format!("../../public/demo/{name}")).unwrap();
    assert_eq!(image(&demo("coins.png")), (ImageFormat::Png, 384, 303));
    assert_eq!(image(&demo("rocket.jpg")), (ImageFormat::Jpeg, 640, 427));
    let webp = include_bytes!("fixtures/horse-40x33.webp");
    assert_eq!(image(webp), (ImageFormat::Webp, 40, 33));
    let gif = include_bytes!("fixtures/horse-40x33.gif");
    assert_eq!(image(gif), (ImageFormat::Gif, 40, 33));
    // A JPEG cut before its frame header says so.
    assert_eq!(probe(&demo("rocket.jpg")[..30]), Err(ProbeError::Truncated));
}
