//! Enumerated columns refuse values outside their enum (migration 17), on both backends: a
//! bug that writes a misspelt seat state is stopped at the write, not found later as a seat no
//! query sees.

use crate::support::*;
use serde_json::json;

/// Runs `statement` past the CHECK (`constraint`, migration 17) that would refuse it, as a
/// damaged file or a hand edit would: to see that the server's decoding still fails loudly.
pub async fn write_around_checks(env: &Env, statement: &str, constraint: &str) {
    match quorum_server::db::sqlite_path(env.db_url()) {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(&format!(
                "PRAGMA ignore_check_constraints = ON; {statement}"
            ))
            .unwrap(),
        None => {
            let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
            let table = statement.split_whitespace().nth(1).unwrap();
            sqlx::raw_sql(&format!(
                "ALTER TABLE {table} DROP CONSTRAINT {constraint}; {statement}"
            ))
            .execute(db.pool())
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_stored_result_state_that_is_not_one_fails_loudly() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let results = format!("/tasks/{task}/results");
        let before = env.ok(ADMIN, "GET", &results, None).await;
        assert_eq!(before["results"][0]["state"], "pending", "{before}");
        write_around_checks(
            &env,
            &format!("UPDATE task_items SET state = 'done' WHERE task_id = {task}"),
            "task_items_state_known",
        )
        .await;
        // Before, the page passed the stored text on as a state no client knows.
        let (s, v) = env.call(ADMIN, "GET", &results, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (500, Some("internal")),
            "{v}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn writing_a_value_outside_an_enumerated_column_is_refused() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let (ann, token) = env.user("ann", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[ann], 1, json!({})).await;
        let batch = env
            .ok(&token, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        assert!(!item_ids(&batch).is_empty(), "{batch}");
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        let refused = [
            (
                "UPDATE seats SET state = 'held' WHERE task_id = $1",
                "seats_state_known",
            ),
            (
                "UPDATE task_items SET state = 'done' WHERE task_id = $1",
                "task_items_state_known",
            ),
            (
                "UPDATE tasks SET status = 'paused' WHERE id = $1",
                "tasks_status_known",
            ),
            (
                "INSERT INTO task_people (task_id, user_id, role) VALUES ($1, 1, 'owner')",
                "task_people_role_known",
            ),
            (
                "INSERT INTO reviews (task_id, item_id, reviewer_id, decision, created_at) \
                 VALUES ($1, 1, 1, 'maybe', 0)",
                "reviews_decision_known",
            ),
            (
                "INSERT INTO jobs (kind, project_id, status, progress, params, created_at, updated_at) \
                 VALUES ('import', $1, 'queued', 0, '{}', 0, 0)",
                "jobs_status_known",
            ),
            // A name that is not a role, and roles out of their one stored order (a LIKE-free
            // role test compares whole stored forms).
            (
                "UPDATE members SET roles = 'annotator,boss' WHERE project_id = $1",
                "members_roles_known",
            ),
            (
                "UPDATE members SET roles = 'reviewer,manager' WHERE project_id = $1",
                "members_roles_known",
            ),
        ];
        for (statement, constraint) in refused {
            let bind = if statement.contains("project_id = $1") || statement.contains("jobs") {
                project
            } else {
                task
            };
            let err = sqlx::query(statement)
                .bind(bind)
                .execute(db.pool())
                .await
                .expect_err(statement);
            assert!(
                err.to_string().contains(constraint),
                "{}: {statement}: {err}",
                env.backend
            );
        }
        // The values the server writes still go in.
        sqlx::query("UPDATE members SET roles = 'manager,reviewer' WHERE project_id = $1")
            .bind(project)
            .execute(db.pool())
            .await
            .unwrap();
        env
    })
    .await;
}
