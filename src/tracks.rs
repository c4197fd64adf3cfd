//! Tracks on video frames, as the labeling screen uses them: a frame item names its video and
//! time; the frames of the same video this annotator already labelled here are the key frames.
//! A frame between two key frames of a track opens with the track's box interpolated by the
//! core ([`quorum_core::video::interpolate`]); with key frames only before it, the annotator
//! copies the previous frame's boxes. Pure, so it is tested natively.

use quorum_core::label::{BoxShape, LabelValue};
use quorum_core::video::interpolate;
use serde_json::Value;

/// The video (its URL) and time of a frame item's data (`{"video": …, "time_ms": …}`).
pub fn frame_of(data: &Value) -> Option<(&str, u64)> {
    Some((data.get("video")?.as_str()?, data.get("time_ms")?.as_u64()?))
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

    fn bx(x: f64, track: Option<u32>) -> BoxShape {
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
    fn a_frame_names_its_video_and_time() {
        let data = serde_json::json!({"video": "/v.webm", "time_ms": 500});
        assert_eq!(frame_of(&data), Some(("/v.webm", 500)));
        assert_eq!(frame_of(&serde_json::json!({"image": "/a.png"})), None);
    }

    #[test]
    fn only_tracks_with_keys_on_both_sides_are_interpolated_between_the_nearest() {
        let (k0, k2, k4) = (
            vec![bx(0.0, Some(1)), bx(50.0, Some(2))],
            vec![bx(40.0, Some(1))],
            vec![bx(100.0, Some(1)), bx(90.0, Some(2))],
        );
        let keys: Vec<(u64, &[BoxShape])> = vec![(4000, &k4), (0, &k0), (2000, &k2)];
        let at1 = between(&keys, 1000);
        assert_eq!(at1, vec![bx(20.0, Some(1)), bx(60.0, Some(2))]);
        let at3 = between(&keys, 3000);
        assert_eq!(at3[0], bx(70.0, Some(1)));
        // Past the last key nothing is guessed; boxes without a track are never followed.
        assert!(between(&keys, 5000).is_empty());
        let untracked = [bx(0.0, None)];
        assert!(between(&[(0, &untracked[..]), (2000, &untracked[..])], 1000).is_empty());
    }

    #[test]
    fn the_previous_frame_and_the_next_free_track() {
        let (k0, k2) = (vec![bx(0.0, Some(1))], vec![bx(40.0, Some(3))]);
        let keys: Vec<(u64, &[BoxShape])> = vec![(2000, &k2), (0, &k0)];
        assert_eq!(previous(&keys, 3000), Some(&k2[..]));
        assert_eq!(previous(&keys, 1000), Some(&k0[..]));
        assert_eq!(previous(&keys, 0), None);
        assert_eq!(next_free(&keys), 4);
        assert_eq!(next_free(&[]), 1);
    }
}
