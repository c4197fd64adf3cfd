//! Video items: which frames a task with `sample_ms` labels ([`sample_times`]), and tracks — a box
//! followed across frames, given on key frames and interpolated on the frames between them
//! ([`interpolate`]). What a clip is (duration, size) is read by [`crate::media::probe`].
//!
//! A sampled frame is a unit of work like an image: the server turns each (video, time) pair into
//! an item of its own, so leases, overlap, review, consensus and honeypots apply per frame
//! unchanged. Only the times are decided here.

use crate::label::BoxShape;

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
}
