//! Video items: which frames a task with `sample_ms` labels ([`sample_times`]), and tracks — a box
//! followed across frames, given on key frames and interpolated on the frames between them
//! ([`interpolate`]). What a clip is (duration, size) is read by [`crate::media::probe`].
//!
//! A sampled frame is a unit of work like an image: the server turns each (video, time) pair into
//! an item of its own, so leases, overlap, review, consensus and honeypots apply per frame
//! unchanged. Only the times are decided here.

use crate::label::{BoxShape, LabelValue};

/// The most frames one video may be cut into: beyond this a `sample_ms` is a mistake (a two-hour
/// film at 40 ms is 180,000 frames), and the task is refused rather than flooding the database.
pub const MAX_FRAMES_PER_VIDEO: u64 = 100_000;

/// Why a sampling step does not fit a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleError {
    /// `sample_ms` was 0.
    ZeroStep,
    /// The clip would give more than [`MAX_FRAMES_PER_VIDEO`] frames.
    TooManyFrames {
        /// How many frames the step asks for.
        frames: u64,
    },
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::ZeroStep => f.write_str("sample_ms must be at least 1"),
            SampleError::TooManyFrames { frames } => write!(
                f,
                "this step cuts a video into {frames} frames; at most {MAX_FRAMES_PER_VIDEO} are allowed"
            ),
        }
    }
}

/// How many frames a clip of `duration_ms` gives at one every `sample_ms`: `⌈duration / step⌉`.
pub fn frame_count(duration_ms: u64, sample_ms: u64) -> Result<u64, SampleError> {
    if sample_ms == 0 {
        return Err(SampleError::ZeroStep);
    }
    let frames = duration_ms.div_ceil(sample_ms);
    if frames > MAX_FRAMES_PER_VIDEO {
        return Err(SampleError::TooManyFrames { frames });
    }
    Ok(frames)
}

/// The sampled times of a clip: `0, N, 2N, …` strictly before its end.
pub fn sample_times(
    duration_ms: u64,
    sample_ms: u64,
) -> Result<impl Iterator<Item = u64>, SampleError> {
    let frames = frame_count(duration_ms, sample_ms)?;
    Ok((0..frames).map(move |i| i * sample_ms))
}

/// The box of a track at `time_ms`, linearly between the key frames `from` and `to` (each a time
/// and the box drawn there). The class and track are the earlier key's; outside `[from, to]` the nearest key
/// holds, so a caller asking past the last key gets the last box, never an extrapolation that
/// could leave the picture.
pub fn interpolate(from: (u64, &BoxShape), to: (u64, &BoxShape), time_ms: u64) -> BoxShape {
    let ((t0, a), (t1, b)) = if from.0 <= to.0 {
        (from, to)
    } else {
        (to, from)
    };
    let f = if t1 == t0 {
        0.0
    } else {
        (time_ms.clamp(t0, t1) - t0) as f64 / (t1 - t0) as f64
    };
    let mix = |p: f64, q: f64| p + (q - p) * f;
    BoxShape {
        concept: a.concept.clone(),
        x: mix(a.x, b.x),
        y: mix(a.y, b.y),
        w: mix(a.w, b.w),
        h: mix(a.h, b.h),
        track: a.track,
    }
}

/// The boxes of an answer (none for other kinds).
pub fn boxes(v: &LabelValue) -> &[BoxShape] {
    match v {
        LabelValue::BoundingBox { boxes } => boxes,
        _ => &[],
    }
}

/// Labelled frames of one video: each frame's time and boxes.
pub type Keys<'a> = [(u64, &'a [BoxShape])];

/// The boxes of frame `t` for every track with a key frame before and after it, each between the
/// nearest two.
pub fn between(keys: &Keys, t: u64) -> Vec<BoxShape> {
    // In order of appearance, each once (no sort: it would cost the bundle more than it saves).
    let mut tracks: Vec<u32> = Vec::new();
    for t in keys
        .iter()
        .flat_map(|(_, b)| b.iter().filter_map(|b| b.track))
    {
        if !tracks.contains(&t) {
            tracks.push(t);
        }
    }
    tracks
        .into_iter()
        .filter_map(|track| {
            let near = |later: bool| {
                keys.iter()
                    .filter(|(at, _)| if later { *at > t } else { *at < t })
                    .filter_map(|(at, b)| Some((*at, b.iter().find(|b| b.track == Some(track))?)))
                    .min_by_key(|(at, _)| at.abs_diff(t))
            };
            Some(interpolate(near(false)?, near(true)?, t))
        })
        .collect()
}

/// The boxes of the nearest labelled frame before `t`.
pub fn previous<'a>(keys: &Keys<'a>, t: u64) -> Option<&'a [BoxShape]> {
    keys.iter()
        .filter(|(at, _)| *at < t)
        .max_by_key(|(at, _)| *at)
        .map(|(_, b)| *b)
}

/// The first track id no labelled frame uses.
pub fn next_free(keys: &Keys) -> u32 {
    keys.iter()
        .flat_map(|(_, b)| b.iter().filter_map(|b| b.track))
        .max()
        .map_or(1, |m| m.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f64, y: f64, w: f64, h: f64) -> BoxShape {
        BoxShape {
            concept: "cat".into(),
            x,
            y,
            w,
            h,
            track: None,
        }
    }

    #[test]
    fn samples_start_at_zero_and_stop_before_the_end() {
        let at = |d, n| sample_times(d, n).unwrap().collect::<Vec<_>>();
        assert_eq!(at(4000, 1000), vec![0, 1000, 2000, 3000]);
        assert_eq!(at(4001, 1000), vec![0, 1000, 2000, 3000, 4000]);
        assert_eq!(at(999, 1000), vec![0]);
        assert_eq!(at(0, 1000), Vec::<u64>::new());
        assert_eq!(frame_count(4000, 0), Err(SampleError::ZeroStep));
        assert!(matches!(
            frame_count(7_200_000, 40),
            Err(SampleError::TooManyFrames { frames: 180_000 })
        ));
    }

    #[test]
    fn a_track_moves_linearly_between_its_keys() {
        let (a, b) = (bx(0.0, 10.0, 100.0, 50.0), bx(120.0, 10.0, 80.0, 50.0));
        let mid = interpolate((1000, &a), (3000, &b), 2000);
        assert_eq!(mid, bx(60.0, 10.0, 90.0, 50.0));
        assert_eq!(interpolate((1000, &a), (3000, &b), 1000), a);
        assert_eq!(interpolate((1000, &a), (3000, &b), 3000).x, 120.0);
        // Keys given in either order, and times outside them, hold the nearest key.
        assert_eq!(interpolate((3000, &b), (1000, &a), 1500).x, 30.0);
        assert_eq!(interpolate((1000, &a), (3000, &b), 9000).x, 120.0);
        assert_eq!(interpolate((1000, &a), (1000, &b), 1000), a);
    }

    #[test]
    fn an_interpolated_box_keeps_its_track() {
        let a = BoxShape {
            track: Some(3),
            ..bx(0.0, 0.0, 10.0, 10.0)
        };
        let b = BoxShape {
            track: Some(3),
            ..bx(30.0, 0.0, 10.0, 10.0)
        };
        assert_eq!(interpolate((0, &a), (1000, &b), 500).track, Some(3));
    }

    fn tracked(x: f64, track: Option<u32>) -> BoxShape {
        BoxShape {
            concept: "cat".into(),
            x,
            y: 10.0,
            w: 20.0,
            h: 20.0,
            track,
        }
    }

    #[test]
    fn only_tracks_with_keys_on_both_sides_are_interpolated_between_the_nearest() {
        let (k0, k2, k4) = (
            vec![tracked(0.0, Some(1)), tracked(50.0, Some(2))],
            vec![tracked(40.0, Some(1))],
            vec![tracked(100.0, Some(1)), tracked(90.0, Some(2))],
        );
        let keys: Vec<(u64, &[BoxShape])> = vec![(4000, &k4), (0, &k0), (2000, &k2)];
        let at1 = between(&keys, 1000);
        assert_eq!(at1, vec![tracked(20.0, Some(1)), tracked(60.0, Some(2))]);
        let at3 = between(&keys, 3000);
        assert_eq!(at3[0], tracked(70.0, Some(1)));
        // Past the last key nothing is guessed; boxes without a track are never followed.
        assert!(between(&keys, 5000).is_empty());
        let untracked = [tracked(0.0, None)];
        assert!(between(&[(0, &untracked[..]), (2000, &untracked[..])], 1000).is_empty());
    }

    #[test]
    fn the_previous_frame_and_the_next_free_track() {
        let (k0, k2) = (vec![tracked(0.0, Some(1))], vec![tracked(40.0, Some(3))]);
        let keys: Vec<(u64, &[BoxShape])> = vec![(2000, &k2), (0, &k0)];
        assert_eq!(previous(&keys, 3000), Some(&k2[..]));
        assert_eq!(previous(&keys, 1000), Some(&k0[..]));
        assert_eq!(previous(&keys, 0), None);
        assert_eq!(next_free(&keys), 4);
        assert_eq!(next_free(&[]), 1);
    }
}
