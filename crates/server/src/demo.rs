//! `quorum serve --demo`: seeds a fresh database with a project a newcomer can click around in —
//! users (whose tokens are their names, for the demo only), a few hundred text items, photos, a
//! short video clip, and classification, box and polygon tasks, and boxes on the clip's frames.

use crate::api::create_user;
use crate::clock;
use crate::db::Db;
use crate::media::MediaStore;
use crate::store::items::{self as item_rows, NewItem};
use crate::store::media::{self as media_rows, MediaKind, NewMedia};
use crate::store::projects as project_rows;
use crate::store::users::{self as user_rows, Roles};
use crate::store::Runner;
use quorum_core::ids::{Overlap, WorkerId};
use quorum_core::label::{AnnotationType, LabelSchema};
use quorum_core::strategy::{ReviewStrategy, WorkerStrategy};
use quorum_core::task::{InputSource, TaskKind, TaskSpec};
use serde_json::json;

/// The demo's users: name, admin, project roles. Each signs in with its name as token.
pub const USERS: &[(&str, bool, &str)] = &[
    ("demo-admin", true, "manager"),
    ("demo-manager", false, "manager"),
    ("demo-annotator-1", false, "annotator"),
    ("demo-annotator-2", false, "annotator"),
    ("demo-annotator-3", false, "annotator"),
    ("demo-reviewer", false, "reviewer"),
];

const PHOTOS: &[&str] = &["/demo/rocket.jpg", "/demo/horse.png", "/demo/coins.png"];

/// The demo's clip (4 s, 320×240, a picture panning 30 px/s), stored like an upload.
const CLIP: &[u8] = include_bytes!("../../core/tests/fixtures/chelsea-pan.webm");

const SUBJECTS: &[&str] = &[
    "The delivery",
    "Customer support",
    "The battery",
    "This update",
    "The screen",
    "Checkout",
    "The manual",
    "Shipping",
    "The app",
    "The price",
];
const VERDICTS: &[&str] = &[
    "was excellent and fast",
    "broke after two days",
    "is fine, nothing special",
    "made me want a refund",
    "exceeded what I hoped for",
    "was confusing but worked",
    "is the best I have used",
    "arrived damaged",
    "does what it says",
    "could be better",
];

/// Seeds the demo unless the database already has users. Returns whether it seeded.
pub async fn seed(db: &Db, media: &MediaStore) -> anyhow::Result<bool> {
    if user_rows::count(&mut db.scan()).await? > 0 {
        return Ok(false);
    }
    let now = clock::now().0;
    let mut ids = Vec::new();
    for (name, admin, _) in USERS {
        let (id, _) = create_user(db, name, *admin, Some(name))
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        ids.push(id);
    }
    let mut w = db.write().await?;
    let project = project_rows::insert(&mut w, "Demo: reviews and photos", None, ids[0], now)
        .await?
        .id;
    for ((_, _, role), id) in USERS.iter().zip(&ids) {
        let roles = Roles::from_names(&[role.to_string()]).map_err(anyhow::Error::msg)?;
        user_rows::set_roles(&mut w, project, *id, roles).await?;
    }
    let texts = project_rows::insert_dataset(&mut w, project, "Product reviews", now).await?;
    for i in 0..300usize {
        let text = format!(
            "{} {}.",
            SUBJECTS[i % SUBJECTS.len()],
            VERDICTS[(i * 7 + i / 10) % VERDICTS.len()]
        );
        let dir = if i % 2 == 0 {
            "/reviews/web"
        } else {
            "/reviews/store"
        };
        item(
            &mut w,
            project,
            texts,
            &format!("review-{i}"),
            json!({ "text": text }),
            dir,
            now,
        )
        .await?;
    }
    let photos = project_rows::insert_dataset(&mut w, project, "Photos", now).await?;
    for i in 0..30usize {
        let url = PHOTOS[i % PHOTOS.len()];
        item(
            &mut w,
            project,
            photos,
            &format!("photo-{i}"),
            json!({ "image": url }),
            "/photos",
            now,
        )
        .await?;
    }
    let clips = project_rows::insert_dataset(&mut w, project, "Clips", now).await?;
    w.commit().await?;
    clip(db, media, project, clips, now).await?;
    let annotators: Vec<WorkerId> = ids[2..5].iter().map(|&i| WorkerId(i)).collect();
    let reviewers = vec![WorkerId(ids[5])];
    let task =
        |name: &str, kind, annotation_type, concepts: &[&str], dataset_id, overlap, review| {
            TaskSpec {
                name: name.into(),
                kind,
                schema: LabelSchema {
                    annotation_type,
                    concepts: concepts.iter().map(|c| c.to_string()).collect(),
                },
                input: InputSource::Dataset { dataset_id },
                worker_strategy: WorkerStrategy::Pull {
                    batch_size: 10,
                    max_batch_workload: None,
                    workers_per_input: Overlap::new(overlap).unwrap_or_default(),
                },
                review_strategy: review,
                assignees: annotators.clone(),
                reviewers: reviewers.clone(),
                due_date: None,
                lease_seconds: 600,
                seed: 7,
                order: Default::default(),
                priority: None,
                honeypot_rate: 0.0,
                qualifications: vec![],
                pass_gate: None,
                auto_accept: None,
                dynamic_overlap: None,
                steps: vec![],
                show_peer_labels: false,
                sample_ms: None,
            }
        };
    let specs = [
        task(
            "Review sentiment",
            TaskKind::Consensus,
            AnnotationType::Classification,
            &["positive", "neutral", "negative"],
            texts,
            2,
            ReviewStrategy::Consensus {
                approval_threshold: 2,
            },
        ),
        task(
            "Outline objects (boxes)",
            TaskKind::Labeling,
            AnnotationType::BoundingBox,
            &["object", "animal", "vehicle"],
            photos,
            1,
            ReviewStrategy::Manual {
                sample_percentage: 20.0,
            },
        ),
        task(
            "Trace shapes (polygons)",
            TaskKind::Labeling,
            AnnotationType::Polygon,
            &["object", "animal", "vehicle"],
            photos,
            1,
            ReviewStrategy::None,
        ),
        // Last, so that lists in id order (My tasks) still show the photos' box task first;
        // its name says video, not boxes, for whoever looks a box task up by name.
        TaskSpec {
            sample_ms: Some(500),
            ..task(
                "Follow the cat (video frames)",
                TaskKind::Labeling,
                AnnotationType::BoundingBox,
                &["cat", "object"],
                clips,
                1,
                ReviewStrategy::Manual {
                    sample_percentage: 20.0,
                },
            )
        },
    ];
    for spec in specs {
        crate::api::create_task(db, project, ids[1], &spec)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
    }
    Ok(true)
}

/// The demo clip as an item of `dataset`, its file in the media store and held by the project,
/// as `POST /datasets/{id}/media` leaves an upload (a task with `sample_ms` cuts it into frames).
async fn clip(
    db: &Db,
    media: &MediaStore,
    project: i64,
    dataset: i64,
    now: i64,
) -> anyhow::Result<()> {
    let info = quorum_core::media::probe(CLIP).map_err(|e| anyhow::anyhow!("demo clip: {e}"))?;
    let quorum_core::media::MediaInfo::Video(video) = &info else {
        anyhow::bail!("the demo clip is not a video");
    };
    let sha = crate::media::sha256_hex(CLIP);
    media.put(&sha, bytes::Bytes::from_static(CLIP)).await?;
    let (width, height) = info.size();
    let metadata = json!({"width": width, "height": height, "duration_ms": video.duration_ms});
    let mut tx = db.claim().await?;
    let new = NewMedia {
        project_id: project,
        sha256: &sha,
        kind: MediaKind::Video,
        mime: info.mime(),
        bytes: CLIP.len() as i64,
        name: "chelsea-pan.webm",
        now,
    };
    let media_id = media_rows::record(&mut tx, &new).await?;
    // The URL `api::media` serves a stored WebM at.
    let data = json!({ "video": format!("/api/v1/media/{sha}.webm") });
    let clip = NewItem {
        project_id: project,
        dataset_id: dataset,
        external_id: &sha,
        data: &data,
        metadata: &metadata,
        directory: "/clips",
        media_id: Some(media_id),
    };
    item_rows::insert(&mut tx, &clip, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn item(
    on: &mut impl Runner,
    project: i64,
    dataset: i64,
    external_id: &str,
    data: serde_json::Value,
    directory: &str,
    now: i64,
) -> anyhow::Result<()> {
    let item = NewItem {
        project_id: project,
        dataset_id: dataset,
        external_id,
        data: &data,
        metadata: &json!({}),
        directory,
        media_id: None,
    };
    Ok(item_rows::insert(on, &item, now).await?)
}
