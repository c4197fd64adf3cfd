//! Tracks on video frames, as the labeling screen uses them: a frame item names its video and
//! time; the frames of the same video this annotator already labelled here are the key frames.
//! A frame between two key frames of a track opens with the track's box interpolated by the
//! core ([`quorum_core::video::interpolate`]); with key frames only before it, the annotator
//! copies the previous frame's boxes. Pure, so it is tested natively.

use serde_json::Value;

/// The video (its URL) and time of a frame item's data (`{"video": …, "time_ms": …}`).
pub fn frame_of(data: &Value) -> Option<(&str, u64)> {
    Some((data.get("video")?.as_str()?, data.get("time_ms")?.as_u64()?))
}

pub use quorum_core::video::{between, boxes, next_free, previous};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_names_its_video_and_time() {
        let data = serde_json::json!({"video": "/v.webm", "time_ms": 500});
        assert_eq!(frame_of(&data), Some(("/v.webm", 500)));
        assert_eq!(frame_of(&serde_json::json!({"image": "/a.png"})), None);
    }
}
