//! Label schemas and annotation values, and the validation both the server and the app apply.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of answer a task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationType {
    /// One concept per item.
    Classification,
    /// Zero or more axis-aligned boxes, each with a concept.
    BoundingBox,
    /// Zero or more closed polygons, each with a concept.
    Polygon,
}

impl fmt::Display for AnnotationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnnotationType::Classification => "classification",
            AnnotationType::BoundingBox => "bounding_box",
            AnnotationType::Polygon => "polygon",
        })
    }
}

/// A task's label schema: its concepts (classes) and the annotation type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSchema {
    /// The answer shape.
    pub annotation_type: AnnotationType,
    /// The classes, in display order (the app binds keys 1..9 to the first nine).
    pub concepts: Vec<String>,
}

impl LabelSchema {
    /// The longest concept name accepted.
    pub const MAX_CONCEPT_LEN: usize = 200;
    /// The largest number of concepts per schema.
    pub const MAX_CONCEPTS: usize = 1000;

    /// Checks the schema itself: at least one concept, no blanks, no duplicates.
    pub fn validate(&self) -> Result<(), LabelError> {
        if self.concepts.is_empty() {
            return Err(LabelError::new("a label schema needs at least one concept"));
        }
        if self.concepts.len() > Self::MAX_CONCEPTS {
            return Err(LabelError::new(format!(
                "a label schema has at most {} concepts",
                Self::MAX_CONCEPTS
            )));
        }
        for (i, c) in self.concepts.iter().enumerate() {
            if c.trim().is_empty() || c.len() > Self::MAX_CONCEPT_LEN {
                return Err(LabelError::new(format!(
                    "concept {i} must be 1 to {} characters",
                    Self::MAX_CONCEPT_LEN
                )));
            }
            if self.concepts[..i].contains(c) {
                return Err(LabelError::new(format!("concept {c:?} appears twice")));
            }
        }
        Ok(())
    }

    fn check_concept(&self, concept: &str) -> Result<(), LabelError> {
        if self.concepts.iter().any(|c| c == concept) {
            Ok(())
        } else {
            Err(LabelError::new(format!(
                "{concept:?} is not one of the task's concepts"
            )))
        }
    }

    /// Checks an answer against this schema, with shapes inside [`ImageSize::MAX_SIDE`].
    pub fn validate_value(&self, value: &LabelValue) -> Result<(), LabelError> {
        self.validate_value_in(value, None)
    }

    /// Checks an answer against this schema; shapes must lie inside `image` when its size is
    /// known (the item's metadata), else inside a square of [`ImageSize::MAX_SIDE`].
    pub fn validate_value_in(
        &self,
        value: &LabelValue,
        image: Option<ImageSize>,
    ) -> Result<(), LabelError> {
        match (self.annotation_type, value) {
            (AnnotationType::Classification, LabelValue::Classification { concept }) => {
                self.check_concept(concept)
            }
            (AnnotationType::BoundingBox, LabelValue::BoundingBox { boxes }) => {
                for b in boxes {
                    self.check_concept(&b.concept)?;
                }
                value.check_geometry(image)
            }
            (AnnotationType::Polygon, LabelValue::Polygon { polygons }) => {
                for p in polygons {
                    self.check_concept(&p.concept)?;
                }
                value.check_geometry(image)
            }
            (expected, got) => Err(LabelError::new(format!(
                "this task expects a {expected} answer, got {}",
                got.annotation_type()
            ))),
        }
    }
}

/// An axis-aligned box in image pixels: top-left corner, width and height.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxShape {
    /// The concept the box marks.
    pub concept: String,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width (> 0).
    pub w: f64,
    /// Height (> 0).
    pub h: f64,
    /// On a video frame, the track the box belongs to: the same object on other frames of the
    /// video carries the same id, which is how boxes are interpolated between key frames.
    /// Absent on still images, so their answers and exports are as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u32>,
}

impl BoxShape {
    fn validate(&self, image: ImageSize) -> Result<(), LabelError> {
        let finite = [self.x, self.y, self.w, self.h]
            .iter()
            .all(|v| v.is_finite());
        if !finite || self.w <= 0.0 || self.h <= 0.0 {
            return Err(LabelError::new(
                "a box needs finite coordinates and a positive width and height",
            ));
        }
        if !(image.holds(self.x, self.y) && image.holds(self.x + self.w, self.y + self.h)) {
            return Err(LabelError::new(format!(
                "a box must lie inside the {} × {} image",
                image.width, image.height
            )));
        }
        Ok(())
    }
}

/// The size of the image an answer marks, in pixels: shapes must lie inside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageSize {
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl ImageSize {
    /// The longest image side: shapes on an image of unknown size must fit a square this big,
    /// so areas and overlaps stay finite numbers.
    pub const MAX_SIDE: f64 = 1_000_000.0;
    /// The bounds used when the image's size is unknown.
    pub const LARGEST: ImageSize = ImageSize {
        width: Self::MAX_SIDE,
        height: Self::MAX_SIDE,
    };
    /// How far (in pixels) a corner may stray past an edge: float sums such as `x + w` round.
    const SLACK: f64 = 1e-6;

    /// The size an item's metadata declares (`width` and `height`, positive numbers up to
    /// [`ImageSize::MAX_SIDE`]); `None` when it declares none.
    pub fn from_metadata(metadata: &serde_json::Value) -> Option<ImageSize> {
        let side = |k: &str| {
            metadata
                .get(k)?
                .as_f64()
                .filter(|v| *v > 0.0 && *v <= Self::MAX_SIDE)
        };
        Some(ImageSize {
            width: side("width")?,
            height: side("height")?,
        })
    }

    /// Whether the point lies inside the image (edges included).
    fn holds(&self, x: f64, y: f64) -> bool {
        (-Self::SLACK..=self.width + Self::SLACK).contains(&x)
            && (-Self::SLACK..=self.height + Self::SLACK).contains(&y)
    }
}

/// A closed polygon in image pixels (the last point joins the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolygonShape {
    /// The concept the polygon marks.
    pub concept: String,
    /// Vertices as `[x, y]`, at least three.
    pub points: Vec<[f64; 2]>,
}

impl PolygonShape {
    /// The most vertices one polygon may have.
    pub const MAX_POINTS: usize = 10_000;

    fn validate(&self, image: ImageSize) -> Result<(), LabelError> {
        if self.points.len() < 3 || self.points.len() > Self::MAX_POINTS {
            return Err(LabelError::new(format!(
                "a polygon needs 3 to {} points",
                Self::MAX_POINTS
            )));
        }
        if !self.points.iter().flatten().all(|v| v.is_finite()) {
            return Err(LabelError::new(
                "polygon coordinates must be finite numbers",
            ));
        }
        if !self.points.iter().all(|&[x, y]| image.holds(x, y)) {
            return Err(LabelError::new(format!(
                "a polygon must lie inside the {} × {} image",
                image.width, image.height
            )));
        }
        Ok(())
    }
}

/// One annotator's (or model's) answer for one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LabelValue {
    /// The chosen concept.
    Classification {
        /// Concept name.
        concept: String,
    },
    /// The boxes drawn (possibly none: "nothing to mark").
    BoundingBox {
        /// Boxes.
        boxes: Vec<BoxShape>,
    },
    /// The polygons drawn (possibly none).
    Polygon {
        /// Polygons.
        polygons: Vec<PolygonShape>,
    },
}

impl LabelValue {
    /// The most shapes one answer may hold.
    pub const MAX_SHAPES: usize = 1000;

    /// Checks the shapes alone, whatever the schema (gold answers are uploaded before any task):
    /// at most [`LabelValue::MAX_SHAPES`], finite, of positive size and inside `image` when its
    /// size is known, else inside a square of [`ImageSize::MAX_SIDE`].
    pub fn check_geometry(&self, image: Option<ImageSize>) -> Result<(), LabelError> {
        let image = image.unwrap_or(ImageSize::LARGEST);
        match self {
            LabelValue::Classification { .. } => Ok(()),
            LabelValue::BoundingBox { boxes } => {
                if boxes.len() > Self::MAX_SHAPES {
                    return Err(LabelError::new("too many boxes"));
                }
                boxes.iter().try_for_each(|b| b.validate(image))
            }
            LabelValue::Polygon { polygons } => {
                if polygons.len() > Self::MAX_SHAPES {
                    return Err(LabelError::new("too many polygons"));
                }
                polygons.iter().try_for_each(|p| p.validate(image))
            }
        }
    }

    /// The annotation type this value answers.
    pub fn annotation_type(&self) -> AnnotationType {
        match self {
            LabelValue::Classification { .. } => AnnotationType::Classification,
            LabelValue::BoundingBox { .. } => AnnotationType::BoundingBox,
            LabelValue::Polygon { .. } => AnnotationType::Polygon,
        }
    }

    /// A key under which identical answers compare equal (used for consensus counting).
    /// Classification answers compare by concept; shape answers by their exact JSON.
    pub fn consensus_key(&self) -> String {
        match self {
            LabelValue::Classification { concept } => concept.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }
}

/// Why a schema or a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError(pub String);

impl LabelError {
    fn new(message: impl Into<String>) -> Self {
        LabelError(message.into())
    }
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabelError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(t: AnnotationType) -> LabelSchema {
        LabelSchema {
            annotation_type: t,
            concepts: vec!["cat".into(), "dog".into()],
        }
    }

    fn check(t: AnnotationType, json: &str, ok: bool) {
        let value: LabelValue = serde_json::from_str(json).expect(json);
        assert_eq!(schema(t).validate_value(&value).is_ok(), ok, "{json}");
    }

    #[test]
    fn a_box_track_is_optional_and_absent_from_boxes_without_one() {
        let plain = r#"{"type":"bounding_box","boxes":[{"concept":"cat","x":1.0,"y":2.0,"w":3.0,"h":4.0}]}"#;
        let value: LabelValue = serde_json::from_str(plain).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), plain);
        let tracked = r#"{"type":"bounding_box","boxes":[{"concept":"cat","x":1.0,"y":2.0,"w":3.0,"h":4.0,"track":7}]}"#;
        let value: LabelValue = serde_json::from_str(tracked).unwrap();
        let LabelValue::BoundingBox { boxes } = &value else {
            panic!("{value:?}")
        };
        assert_eq!(boxes[0].track, Some(7));
        assert_eq!(serde_json::to_string(&value).unwrap(), tracked);
        assert!(schema(AnnotationType::BoundingBox)
            .validate_value(&value)
            .is_ok());
    }

    #[test]
    fn values_are_checked_against_the_schema() {
        use AnnotationType::*;
        check(
            Classification,
            r#"{"type":"classification","concept":"cat"}"#,
            true,
        );
        check(
            Classification,
            r#"{"type":"classification","concept":"cow"}"#,
            false,
        );
        check(
            BoundingBox,
            r#"{"type":"classification","concept":"cat"}"#,
            false,
        );
        check(BoundingBox, r#"{"type":"bounding_box","boxes":[]}"#, true);
        check(
            BoundingBox,
            r#"{"type":"bounding_box","boxes":[{"concept":"dog","x":1,"y":2,"w":3,"h":4}]}"#,
            true,
        );
        check(
            BoundingBox,
            r#"{"type":"bounding_box","boxes":[{"concept":"dog","x":1,"y":2,"w":0,"h":4}]}"#,
            false,
        );
        check(
            Polygon,
            r#"{"type":"polygon","polygons":[{"concept":"cat","points":[[0,0],[1,0],[1,1]]}]}"#,
            true,
        );
        check(
            Polygon,
            r#"{"type":"polygon","polygons":[{"concept":"cat","points":[[0,0],[1,0]]}]}"#,
            false,
        );
    }

    #[test]
    fn shapes_lie_inside_the_image() {
        let s = schema(AnnotationType::BoundingBox);
        let b = |x: f64, y: f64, w: f64, h: f64| LabelValue::BoundingBox {
            boxes: vec![BoxShape {
                concept: "cat".into(),
                x,
                y,
                w,
                h,
                track: None,
            }],
        };
        let image = ImageSize::from_metadata(&serde_json::json!({"width": 100, "height": 50}));
        assert_eq!(
            image,
            Some(ImageSize {
                width: 100.0,
                height: 50.0
            })
        );
        assert!(s
            .validate_value_in(&b(80.0, 0.0, 20.0, 50.0), image)
            .is_ok());
        assert!(s
            .validate_value_in(&b(90.0, 0.0, 20.0, 10.0), image)
            .is_err());
        assert!(s
            .validate_value_in(&b(-1.0, 0.0, 20.0, 10.0), image)
            .is_err());
        // Unknown size: anything up to the largest side, nothing that overflows.
        assert!(s.validate_value(&b(5000.0, 0.0, 10.0, 10.0)).is_ok());
        assert!(s.validate_value(&b(1e308, 0.0, 1e308, 1.0)).is_err());
        assert!(s.validate_value(&b(0.0, 0.0, 2e6, 1.0)).is_err());
        let p = LabelValue::Polygon {
            polygons: vec![PolygonShape {
                concept: "cat".into(),
                points: vec![[0.0, 0.0], [100.0, 0.0], [100.0, 51.0]],
            }],
        };
        assert!(schema(AnnotationType::Polygon)
            .validate_value_in(&p, image)
            .is_err());
        assert!(schema(AnnotationType::Polygon).validate_value(&p).is_ok());
        // Sizes that are not positive numbers say nothing.
        for bad in [
            serde_json::json!({"width": 0, "height": 5}),
            serde_json::json!({"width": "9", "height": 5}),
            serde_json::json!({"width": 1e300, "height": 5}),
            serde_json::json!({}),
        ] {
            assert_eq!(ImageSize::from_metadata(&bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_value_types_do_not_parse() {
        assert!(serde_json::from_str::<LabelValue>(r#"{"type":"mask"}"#).is_err());
    }

    #[test]
    fn schemas_refuse_empty_and_duplicate_concepts() {
        let mut s = schema(AnnotationType::Classification);
        assert!(s.validate().is_ok());
        s.concepts.push("cat".into());
        assert!(s.validate().is_err());
        s.concepts.clear();
        assert!(s.validate().is_err());
        s.concepts.push("  ".into());
        assert!(s.validate().is_err());
    }
}
