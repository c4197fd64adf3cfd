//! Agreement between shape answers: boxes and polygons matched across annotators by IoU.
//!
//! Matching is **greedy**, not Hungarian: all same-concept pairs at or above the IoU threshold
//! are taken in order of decreasing IoU, each shape used at most once (ties: lower indices
//! first). That is the rule COCO-style detection evaluation uses; it can miss the matching with
//! the largest total IoU only when overlaps chain across three or more shapes, and it is
//! O(n·m·log(n·m)) instead of O(n³). Two answers agree by `Σ matched IoU / (|A| + |B| − matched)`:
//! 1 for identical answers (including two empty ones), 0 when nothing matches, and every
//! unmatched shape counts against it. An item's agreement is the mean over pairs of answers.

use crate::label::{BoxShape, LabelValue, PolygonShape};
use geo::{Area, BooleanOps, LineString, Polygon};

/// Intersection over union of two axis-aligned boxes.
pub fn box_iou(a: &BoxShape, b: &BoxShape) -> f64 {
    let w = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x);
    let h = (a.y + a.h).min(b.y + b.h) - a.y.max(b.y);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let union = a.w * a.h + b.w * b.h - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

fn to_geo(p: &PolygonShape) -> Polygon<f64> {
    Polygon::new(
        LineString::from(p.points.iter().map(|&[x, y]| (x, y)).collect::<Vec<_>>()),
        vec![],
    )
}

/// Intersection over union of two polygons. Both areas come from the boolean operations (not the
/// shoelace formula), so self-intersecting outlines are measured as the region they enclose.
pub fn polygon_iou(a: &PolygonShape, b: &PolygonShape) -> f64 {
    let (pa, pb) = (to_geo(a), to_geo(b));
    let union = pa.union(&pb).unsigned_area();
    if union <= 0.0 {
        return 0.0;
    }
    (pa.intersection(&pb).unsigned_area() / union).clamp(0.0, 1.0)
}

/// A pair of matched shapes: index in the first answer, index in the second, their IoU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeMatch {
    /// Index in the first answer.
    pub a: usize,
    /// Index in the second answer.
    pub b: usize,
    /// Their IoU.
    pub iou: f64,
}

/// Greedy matching of `n × m` shapes; `iou(i, j)` is `None` for pairs that may not match
/// (different concepts).
pub fn match_greedy(
    n: usize,
    m: usize,
    threshold: f64,
    iou: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<ShapeMatch> {
    let mut candidates: Vec<ShapeMatch> = (0..n)
        .flat_map(|a| (0..m).map(move |b| (a, b)))
        .filter_map(|(a, b)| {
            iou(a, b)
                .filter(|&v| v >= threshold && v > 0.0)
                .map(|iou| ShapeMatch { a, b, iou })
        })
        .collect();
    candidates.sort_by(|x, y| {
        y.iou
            .total_cmp(&x.iou)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let (mut used_a, mut used_b) = (vec![false; n], vec![false; m]);
    candidates
        .into_iter()
        .filter(|c| {
            let free = !used_a[c.a] && !used_b[c.b];
            if free {
                used_a[c.a] = true;
                used_b[c.b] = true;
            }
            free
        })
        .collect()
}

/// Matches two box answers (same concept only).
pub fn match_boxes(a: &[BoxShape], b: &[BoxShape], threshold: f64) -> Vec<ShapeMatch> {
    match_greedy(a.len(), b.len(), threshold, |i, j| {
        (a[i].concept == b[j].concept).then(|| box_iou(&a[i], &b[j]))
    })
}

/// Matches two polygon answers (same concept only).
pub fn match_polygons(a: &[PolygonShape], b: &[PolygonShape], threshold: f64) -> Vec<ShapeMatch> {
    match_greedy(a.len(), b.len(), threshold, |i, j| {
        (a[i].concept == b[j].concept).then(|| polygon_iou(&a[i], &b[j]))
    })
}

fn set_score(n: usize, m: usize, matches: &[ShapeMatch]) -> f64 {
    let denominator = n + m - matches.len();
    if denominator == 0 {
        1.0
    } else {
        // Folded from +0.0: an empty `sum()` of floats is -0.0, which would print as "-0%".
        matches.iter().fold(0.0, |total, c| total + c.iou) / denominator as f64
    }
}

/// Agreement of two answers in [0, 1]; classification answers agree when the concept is equal.
/// `None` when the answers are of different types.
pub fn answer_agreement(a: &LabelValue, b: &LabelValue, iou_threshold: f64) -> Option<f64> {
    match (a, b) {
        (LabelValue::Classification { concept: x }, LabelValue::Classification { concept: y }) => {
            Some(if x == y { 1.0 } else { 0.0 })
        }
        (LabelValue::BoundingBox { boxes: x }, LabelValue::BoundingBox { boxes: y }) => Some(
            set_score(x.len(), y.len(), &match_boxes(x, y, iou_threshold)),
        ),
        (LabelValue::Polygon { polygons: x }, LabelValue::Polygon { polygons: y }) => Some(
            set_score(x.len(), y.len(), &match_polygons(x, y, iou_threshold)),
        ),
        _ => None,
    }
}

/// An item's agreement: the mean [`answer_agreement`] over all pairs of its answers. `None` with
/// fewer than two answers of one type.
pub fn item_agreement(answers: &[LabelValue], iou_threshold: f64) -> Option<f64> {
    let mut total = 0.0;
    let mut pairs = 0usize;
    for (i, a) in answers.iter().enumerate() {
        for b in &answers[i + 1..] {
            total += answer_agreement(a, b, iou_threshold)?;
            pairs += 1;
        }
    }
    (pairs > 0).then(|| total / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(concept: &str, x: f64, y: f64, w: f64, h: f64) -> BoxShape {
        BoxShape {
            concept: concept.into(),
            x,
            y,
            w,
            h,
            track: None,
        }
    }

    fn poly(concept: &str, points: &[[f64; 2]]) -> PolygonShape {
        PolygonShape {
            concept: concept.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn boxes_that_match_nothing_score_plain_zero() {
        let a = LabelValue::BoundingBox {
            boxes: vec![BoxShape {
                concept: "cat".into(),
                x: 0.0,
                y: 0.0,
                w: 1.0,
                h: 1.0,
                track: None,
            }],
        };
        let b = LabelValue::BoundingBox {
            boxes: vec![BoxShape {
                concept: "cat".into(),
                x: 5.0,
                y: 5.0,
                w: 1.0,
                h: 1.0,
                track: None,
            }],
        };
        let score = answer_agreement(&a, &b, 0.5).unwrap();
        assert_eq!(score, 0.0);
        assert!(score.is_sign_positive(), "{score:?}");
    }

    #[test]
    fn box_iou_table() {
        for (a, b, expected) in [
            (bx("c", 0., 0., 2., 2.), bx("c", 0., 0., 2., 2.), 1.0),
            (bx("c", 0., 0., 2., 2.), bx("c", 1., 0., 2., 2.), 2.0 / 6.0),
            (bx("c", 0., 0., 2., 2.), bx("c", 2., 0., 2., 2.), 0.0),
            (bx("c", 0., 0., 4., 4.), bx("c", 1., 1., 2., 2.), 0.25),
        ] {
            assert!((box_iou(&a, &b) - expected).abs() < 1e-12, "{a:?} {b:?}");
            assert!((box_iou(&b, &a) - expected).abs() < 1e-12);
        }
    }

    #[test]
    fn polygon_iou_agrees_with_boxes_and_triangles() {
        let square = poly("c", &[[0., 0.], [2., 0.], [2., 2.], [0., 2.]]);
        let shifted = poly("c", &[[1., 0.], [3., 0.], [3., 2.], [1., 2.]]);
        assert!((polygon_iou(&square, &shifted) - 2.0 / 6.0).abs() < 1e-9);
        assert!((polygon_iou(&square, &square) - 1.0).abs() < 1e-9);
        // The lower-left half of the square: IoU = 2 / 4.
        let triangle = poly("c", &[[0., 0.], [2., 0.], [0., 2.]]);
        assert!((polygon_iou(&square, &triangle) - 0.5).abs() < 1e-9);
        let far = poly("c", &[[10., 10.], [11., 10.], [11., 11.]]);
        assert_eq!(polygon_iou(&square, &far), 0.0);
    }

    #[test]
    fn greedy_matching_takes_best_pairs_and_respects_concepts() {
        let a = [bx("car", 0., 0., 10., 10.), bx("car", 20., 0., 10., 10.)];
        let b = [
            bx("car", 21., 0., 10., 10.),
            bx("car", 1., 0., 10., 10.),
            bx("dog", 0., 0., 10., 10.),
        ];
        let m = match_boxes(&a, &b, 0.5);
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|c| (c.a, c.b) == (0, 1)));
        assert!(m.iter().any(|c| (c.a, c.b) == (1, 0)));
        // Two matches of IoU 9/11 each, one unmatched dog: (18/11) / (2 + 3 − 2).
        let score = answer_agreement(
            &LabelValue::BoundingBox { boxes: a.to_vec() },
            &LabelValue::BoundingBox { boxes: b.to_vec() },
            0.5,
        )
        .unwrap();
        assert!((score - (18.0 / 11.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn item_agreement_table() {
        let empty = LabelValue::BoundingBox { boxes: vec![] };
        let one = LabelValue::BoundingBox {
            boxes: vec![bx("c", 0., 0., 1., 1.)],
        };
        assert_eq!(
            item_agreement(&[empty.clone(), empty.clone()], 0.5),
            Some(1.0)
        );
        assert_eq!(
            item_agreement(&[empty.clone(), one.clone()], 0.5),
            Some(0.0)
        );
        assert_eq!(
            item_agreement(&[one.clone(), one.clone(), empty.clone()], 0.5),
            Some(1.0 / 3.0)
        );
        assert_eq!(item_agreement(std::slice::from_ref(&one), 0.5), None);
        let cat = LabelValue::Classification {
            concept: "cat".into(),
        };
        assert_eq!(item_agreement(&[one, cat], 0.5), None);
        let p = LabelValue::Polygon {
            polygons: vec![poly("c", &[[0., 0.], [2., 0.], [2., 2.], [0., 2.]])],
        };
        assert!((item_agreement(&[p.clone(), p], 0.5).unwrap() - 1.0).abs() < 1e-9);
    }
}
