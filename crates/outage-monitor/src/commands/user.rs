//! `user add|passwd|remove|list`: the admin panel's users, kept in the store.
//!
//! Passwords never come from the command line (they would show in the shell history and in
//! `ps`): they are asked on the terminal without echo, or read from the first line of standard
//! input when that is not a terminal. They are hashed with the panel's own argon2id function.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use outage_core::config::Config;
use outage_core::store::{StatusStore, StoreError};
use outage_core::{Role, User};

use super::json::user_json;
use crate::cli::UserCommand;
use crate::context::{
    open_existing_store, open_store, open_store_or_empty, print_json, print_table, rfc3339,
};
use crate::plugins::hash_password;

/// Shortest password accepted, in characters (the panel's first-user file has the same rule).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Runs a `user …` command.
pub async fn user(cfg: Config, cmd: UserCommand) -> Result<()> {
    let store = match cmd {
        UserCommand::Add { .. } => open_store(&cfg).await?,
        UserCommand::List { .. } => open_store_or_empty(&cfg).await?,
        UserCommand::Passwd { .. } | UserCommand::Remove { .. } => {
            open_existing_store(&cfg).await?
        }
    };
    let store = &*store;
    match cmd {
        UserCommand::Add { name, role } => {
            let role = Role::from(role);
            check_name(&name)?;
            if find(store, &name).await?.is_some() {
                bail!(
                    "a user named `{name}` already exists (change its password with `outage-monitor user passwd {name}`)"
                );
            }
            let password = new_password(&name)?;
            let phc = hash_password(&password)?;
            let user = store
                .create_user(&name, role, &phc, Utc::now())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => {
                        anyhow::anyhow!("a user named `{name}` already exists")
                    }
                    e => users_error(e),
                })?;
            println!("added user {} ({})", user.name, user.role);
        }
        UserCommand::Passwd { name } => {
            let user = existing(store, &name).await?;
            let password = new_password(&user.name)?;
            let phc = hash_password(&password)?;
            store
                .update_user(user.id, Some(&phc), None, Utc::now())
                .await
                .map_err(users_error)?;
            println!(
                "changed the password of {} (their panel sessions were ended)",
                user.name
            );
        }
        UserCommand::Remove { name } => {
            let user = existing(store, &name).await?;
            if !store.delete_user(user.id).await.map_err(users_error)? {
                bail!("user `{}` was removed meanwhile", user.name);
            }
            println!("removed user {} ({})", user.name, user.role);
            let left = store.list_users().await.map_err(users_error)?;
            if user.role == Role::Admin && !left.iter().any(|u| u.role == Role::Admin) {
                eprintln!(
                    "note: no admin is left; add one with `outage-monitor user add NAME --role admin`"
                );
            }
        }
        UserCommand::List { json } => {
            let users = store.list_users().await.map_err(users_error)?;
            if json {
                print_json(&users.iter().map(user_json).collect::<Vec<_>>());
            } else if users.is_empty() {
                println!(
                    "No users yet. Add the first administrator with: outage-monitor user add NAME --role admin"
                );
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| vec![u.name.clone(), u.role.to_string(), rfc3339(u.created_at)])
                    .collect();
                print_table(&["NAME", "ROLE", "CREATED"], &rows);
            }
        }
    }
    Ok(())
}

/// A store without users says so in words a user of the CLI can act on.
fn users_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Unsupported(_) => {
            anyhow::anyhow!("this store does not keep admin-panel users (use SQLite or PostgreSQL)")
        }
        e => anyhow::Error::new(e),
    }
}

async fn find(store: &dyn StatusStore, name: &str) -> Result<Option<User>> {
    store.find_user(name).await.map_err(users_error)
}

/// The user named `name`, or an error saying there is none.
async fn existing(store: &dyn StatusStore, name: &str) -> Result<User> {
    find(store, name)
        .await?
        .with_context(|| format!("no user named `{name}` (see `outage-monitor user list`)"))
}

/// A login name: 1 to 64 characters, no whitespace or control characters.
pub fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 {
        bail!("the user name must not be empty");
    }
    if n > MAX_NAME_CHARS {
        bail!("the user name is {n} characters long; at most {MAX_NAME_CHARS} are allowed");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "the user name {name:?} contains spaces or control characters; use e.g. anna or anna.k"
        );
    }
    Ok(())
}

/// The new password for `name`: from the terminal (twice, no echo) or from the first line of
/// standard input when that is not a terminal.
fn new_password(name: &str) -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {name}: "))
            .context("cannot read the password from the terminal")?;
        check_password(&first)?;
        let again = rpassword::prompt_password("Repeat it: ")
            .context("cannot read the password from the terminal")?;
        if again != first {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let line = first_line(&mut std::io::stdin().lock())?;
        check_password(&line)?;
        line
    };
    Ok(password)
}

/// The first line of `input` without its line break; an empty input is an error.
fn first_line(input: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    let read = input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if read == 0 {
        bail!(
            "standard input is empty: give the password on its first line, or run this on a terminal to be asked"
        );
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

/// At least [`MIN_PASSWORD_CHARS`] characters.
fn check_password(password: &str) -> Result<()> {
    if password.is_empty() {
        bail!("the password is empty; nothing was changed");
    }
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        bail!(
            "the password is too short ({n} characters); use at least {MIN_PASSWORD_CHARS}; nothing was changed"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_first_line_loses_its_line_break_only() {
        let line = |s: &str| first_line(&mut s.as_bytes()).unwrap();
        assert_eq!(line("secret pw\r\nsecond"), "secret pw");
        assert_eq!(line("secret pw\n"), "secret pw");
        assert_eq!(line("secret pw"), "secret pw");
        assert_eq!(line(" spaced  \n"), " spaced  ");
        assert_eq!(line("\n"), "");
        assert!(first_line(&mut "".as_bytes()).is_err());
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("anna").is_ok());
        assert!(check_name("Ганна.К").is_ok());
        assert!(check_name(&"я".repeat(64)).is_ok());
        assert!(check_name(&"я".repeat(65)).is_err());
        for bad in ["", "an na", "anna\t", "a\u{7}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("12345678").is_ok());
        assert!(check_password("пароль12").is_ok(), "characters, not bytes");
        assert!(check_password("1234567").is_err());
        assert!(check_password("").is_err());
    }
}
