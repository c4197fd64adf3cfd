//! `quorum user`: users and tokens, straight on the database (like `serve`), so an operator can
//! make the first accounts before any token exists. Tokens go to stdout alone, everything else
//! to stderr, so `TOKEN=$(quorum user create --name bob)` works.

use crate::api::{self, error::ApiError, AppState};
use crate::db::Db;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;

/// Arguments of `quorum user`.
#[derive(Args, Debug)]
pub struct UserArgs {
    /// sqlite://FILE or postgres://USER@HOST/DB (the same database `quorum serve` uses).
    #[arg(
        long,
        global = true,
        default_value = "sqlite://quorum.db",
        env = "QUORUM_DATABASE_URL"
    )]
    database_url: String,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Creates a user, optionally with project roles, and prints its first token (shown once).
    Create {
        /// The user's name (unique).
        #[arg(long)]
        name: String,
        /// A role in the --project at the same position (repeatable; one --project serves all);
        /// `admin` needs no project and is the same as --admin.
        #[arg(long, value_parser = ["manager", "annotator", "reviewer", "admin"])]
        role: Vec<String>,
        /// The project of the --role at the same position.
        #[arg(long)]
        project: Vec<i64>,
        /// Make the user an admin (every role in every project).
        #[arg(long)]
        admin: bool,
    },
    /// Issues another token for a user and prints it (shown once).
    Token {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Revokes every token of a user; they are signed out everywhere at once.
    RevokeTokens {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
    /// Lists the users.
    List,
}

/// Runs `quorum user …`.
pub fn run(args: UserArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(user(args))
}

async fn user(args: UserArgs) -> anyhow::Result<()> {
    // Only `create` may start a database: the others on a missing file mean a wrong URL.
    if !matches!(args.command, UserCommand::Create { .. }) {
        ensure_sqlite_exists(&args.database_url)?;
    }
    let db = Db::connect(&args.database_url).await?;
    match args.command {
        UserCommand::Create {
            name,
            role,
            project,
            admin,
        } => {
            let admin = admin || role.iter().any(|r| r == "admin");
            let role: Vec<String> = role.into_iter().filter(|r| r != "admin").collect();
            let memberships = memberships(&role, &project)?;
            // Check every project first: a user half made (no roles) would need cleaning up.
            let state = AppState::new(db.clone());
            for project_id in memberships.keys() {
                api::ensure_project(&state, *project_id)
                    .await
                    .map_err(api_err)
                    .with_context(|| format!("--project {project_id}"))?;
            }
            let (id, token) = api::create_user(&db, &name, admin, None)
                .await
                .map_err(api_err)?;
            for (project_id, roles) in &memberships {
                api::set_member_roles(&db, *project_id, id, roles)
                    .await
                    .map_err(api_err)
                    .with_context(|| {
                        format!(
                            "user {id} was created, but not made a member of project {project_id}"
                        )
                    })?;
                eprintln!("{} in project {project_id}", roles.join(", "));
            }
            eprintln!(
                "created {}user {:?} (id {id}); its token, shown once:",
                if admin { "admin " } else { "" },
                name.trim()
            );
            println!("{token}");
        }
        UserCommand::Token { name } => {
            let id = api::user_id_by_name(&db, &name).await.map_err(api_err)?;
            let token = api::issue_token(&db, id).await.map_err(api_err)?;
            eprintln!("new token for {:?} (id {id}), shown once:", name.trim());
            println!("{token}");
        }
        UserCommand::RevokeTokens { name } => {
            let id = api::user_id_by_name(&db, &name).await.map_err(api_err)?;
            let n = api::revoke_tokens(&db, id).await.map_err(api_err)?;
            println!("revoked {n} token(s) of {:?}", name.trim());
        }
        UserCommand::List => {
            let users = api::list_users(&db).await.map_err(api_err)?;
            println!("{:>6}  {:<5}  name", "id", "admin");
            for u in users {
                let admin = if u.is_admin { "yes" } else { "no" };
                println!("{:>6}  {:<5}  {}", u.id, admin, u.name);
            }
        }
    }
    Ok(())
}

/// Pairs each --role with its --project (one --project applies to every role), roles merged
/// per project because a membership holds a set of roles.
fn memberships(roles: &[String], projects: &[i64]) -> anyhow::Result<BTreeMap<i64, Vec<String>>> {
    if roles.is_empty() && projects.is_empty() {
        return Ok(BTreeMap::new());
    }
    let project_of = |i: usize| match projects {
        [one] => Some(*one),
        many => many.get(i).copied(),
    };
    if projects.is_empty() || (projects.len() != 1 && projects.len() != roles.len()) {
        bail!(
            "give one --project for each --role (or a single --project for all): {} role(s), {} project(s)",
            roles.len(),
            projects.len()
        );
    }
    if roles.is_empty() {
        bail!("--project needs a --role (manager, annotator or reviewer)");
    }
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (i, role) in roles.iter().enumerate() {
        let project = project_of(i).unwrap_or_default();
        let list = out.entry(project).or_default();
        if !list.contains(role) {
            list.push(role.clone());
        }
    }
    Ok(out)
}

/// Fails when a SQLite URL names a file that does not exist (connecting would create it).
fn ensure_sqlite_exists(url: &str) -> anyhow::Result<()> {
    let Some(path) = crate::db::sqlite_path(url) else {
        return Ok(());
    };
    if std::path::Path::new(path).exists() {
        return Ok(());
    }
    bail!("no database at {path:?}: check --database-url (or QUORUM_DATABASE_URL)")
}

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}

#[cfg(test)]
mod tests {
    use super::memberships;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn roles_pair_with_projects_and_merge() {
        let m = memberships(&s(&["annotator", "reviewer", "manager"]), &[1, 1, 2]).unwrap();
        assert_eq!(m[&1], s(&["annotator", "reviewer"]));
        assert_eq!(m[&2], s(&["manager"]));
        let one = memberships(&s(&["annotator", "reviewer", "annotator"]), &[7]).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[&7], s(&["annotator", "reviewer"]));
        assert!(memberships(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn unpaired_roles_are_refused() {
        assert!(memberships(&s(&["annotator"]), &[]).is_err());
        assert!(memberships(&[], &[1]).is_err());
        assert!(memberships(&s(&["annotator", "reviewer", "manager"]), &[1, 2]).is_err());
    }
}
