//! The container probe on real clips: a 4-second 320×240 pan over `chelsea.png` at 10 fps, encoded
//! by ffmpeg as VP8/WebM and H.264/MP4 (how: `crates/core/tests/fixtures/README.md`).

use quorum_core::video::{probe, sample_times, Container, ProbeError};

const WEBM: &[u8] = include_bytes!("fixtures/chelsea-pan.webm");
const MP4: &[u8] = include_bytes!("fixtures/chelsea-pan.mp4");

#[test]
fn webm_clip() {
    let info = probe(WEBM).unwrap();
    assert_eq!(info.container, Container::Matroska);
    assert_eq!(info.mime(), "video/webm");
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(info.duration_ms, 4000);
    assert_eq!(sample_times(info.duration_ms, 500).unwrap().count(), 8);
}

#[test]
fn mp4_clip() {
    let info = probe(MP4).unwrap();
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
    assert_eq!(probe(&noise), Err(ProbeError::NotAVideo));
}

proptest::proptest! {
    /// Hostile uploads: any bytes behind either container's magic give an answer, never a panic.
    #[test]
    fn any_bytes_behind_a_container_magic_are_answered(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        webm in proptest::bool::ANY,
        flip in 0usize..4096,
    ) {
        let mut bytes = if webm { WEBM[..4].to_vec() } else { MP4[..8].to_vec() };
        bytes.extend_from_slice(&body);
        let _ = probe(&bytes);
        // And real clips with one byte changed.
        let mut clip = if webm { WEBM.to_vec() } else { MP4.to_vec() };
        let at = flip % clip.len();
        clip[at] ^= 0xFF;
        let _ = probe(&clip);
    }
}
