//! `init`, `backup` and `key rotate`: the database and its key.

use std::io::Write;
use std::path::Path;

use clap::Subcommand;
use serde_json::json;

use crate::store::sqlite_file;

use super::{CliError, Common, KEY_FINGERPRINT, Open, human, key_file, open_store, print, setup};

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Rotate the key that seals credentials and secrets, in two steps: this writes a new key
    /// file that still opens what the old key sealed; reload every server (`specgate reload`
    /// or a restart), then `key rotate --finish` seals every stored secret again with the new
    /// key in one transaction. Token hashes keep their pepper (they cannot be rewritten
    /// without the tokens), so every URL and token keeps working.
    Rotate {
        /// Seal every stored secret again with the new key and drop the old one.
        #[arg(long)]
        finish: bool,
    },
}

/// `specgate init`.
pub(super) async fn init(common: &Common) -> Result<(), CliError> {
    let (_, keys) = open_store(common, Open::Create).await?;
    let key = match std::env::var("SPECGATE_SECRET_KEY") {
        Ok(_) => "SPECGATE_SECRET_KEY".to_owned(),
        Err(_) => key_file(common)?.display().to_string(),
    };
    print(
        common.json,
        &json!({"database": common.database, "key": key, "key_fingerprint": keys.fingerprint()}),
        || {
            format!(
                "database: {}\nkey: {key} (fingerprint {})",
                common.database,
                keys.fingerprint()
            )
        },
    );
    Ok(())
}

/// `specgate backup`: the database (SQLite) and the key, into a new private directory, each
/// file 0600; a restore is `--database sqlite://<dir>/specgate.db --key-file <dir>/secret.key`.
pub(super) async fn backup(common: &Common, to: &Path) -> Result<(), CliError> {
    let (store, keys) = open_store(common, Open::Existing).await?;
    if to.exists() {
        return Err(CliError::Usage(format!(
            "{} exists already; back up into a new directory",
            to.display()
        )));
    }
    crate::crypto::create_private_dir(to)
        .map_err(|e| setup(format!("cannot create {}: {e}", to.display())))?;
    let key_path = to.join("secret.key");
    let key = match std::env::var("SPECGATE_SECRET_KEY") {
        Ok(encoded) => encoded.trim().to_owned(),
        Err(_) => std::fs::read_to_string(key_file(common)?)
            .map_err(|e| setup(format!("cannot read the key: {e}")))?
            .trim()
            .to_owned(),
    };
    let mut file = crate::crypto::create_private_file(&key_path)
        .map_err(|e| setup(format!("cannot write {}: {e}", key_path.display())))?;
    file.write_all(key.as_bytes())
        .map_err(|e| setup(format!("cannot write {}: {e}", key_path.display())))?;
    let database = if sqlite_file(&common.database).is_some() {
        let path = to.join("specgate.db");
        store.backup_into(&path).await.map_err(setup)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| setup(format!("cannot restrict {}: {e}", path.display())))?;
        }
        Some(path)
    } else {
        None
    };
    let restore = database.as_ref().map(|path| {
        format!(
            "specgate --database sqlite://{} --key-file {} ...",
            path.display(),
            key_path.display()
        )
    });
    let note = "PostgreSQL: dump the database with pg_dump (e.g. `pg_dump --format=custom`); the key is in the backup, and the dump is useless without it";
    print(
        common.json,
        &json!({
            "database": database.as_ref().map(|p| p.display().to_string()),
            "key": key_path.display().to_string(),
            "key_fingerprint": keys.fingerprint(),
            "restore": restore,
            "note": database.is_none().then_some(note),
        }),
        || match (&database, &restore) {
            (Some(path), Some(restore)) => format!(
                "database: {}\nkey: {} (fingerprint {})\nrestore with: {restore}",
                path.display(),
                key_path.display(),
                keys.fingerprint()
            ),
            _ => format!(
                "key: {} (fingerprint {})\n{note}",
                key_path.display(),
                keys.fingerprint()
            ),
        },
    );
    Ok(())
}

/// `specgate key rotate [--finish]`.
pub(super) async fn rotate_key(common: &Common, finish: bool) -> Result<(), CliError> {
    if std::env::var_os("SPECGATE_SECRET_KEY").is_some() {
        return Err(CliError::Usage(
            "the key comes from SPECGATE_SECRET_KEY; `key rotate` rewrites a key file, so point --key-file at one holding the key instead".to_owned(),
        ));
    }
    let (store, keys) = open_store(common, Open::Existing).await?;
    let path = key_file(common)?;
    let under_way = keys.previous_fingerprint().map(str::to_owned);
    let value = match (finish, under_way) {
        (false, Some(_)) => {
            return Err(CliError::Usage(
                "a rotation is under way: reload every server, then run `specgate key rotate --finish`".to_owned(),
            ));
        }
        (true, None) => {
            return Err(CliError::Usage(
                "no rotation is under way: `specgate key rotate` starts one".to_owned(),
            ));
        }
        (false, None) => {
            let rotated = keys.rotated().map_err(setup)?;
            rotated.write(&path).map_err(setup)?;
            json!({
                "key": path.display().to_string(),
                "key_fingerprint": rotated.fingerprint(),
                "previous_fingerprint": keys.fingerprint(),
                "next": "reload every server (specgate reload, or restart it), then run `specgate key rotate --finish`",
            })
        }
        (true, Some(previous)) => {
            let resealed = store
                .reseal_all(
                    |sealed| {
                        let plain = keys
                            .open(sealed)
                            .map_err(|_| crate::store::StoreError::Unsealable)?;
                        keys.seal(&plain)
                            .map_err(|_| crate::store::StoreError::Unsealable)
                    },
                    (KEY_FINGERPRINT, keys.fingerprint()),
                )
                .await
                .map_err(setup)?;
            keys.without_previous().write(&path).map_err(setup)?;
            json!({
                "key": path.display().to_string(),
                "key_fingerprint": keys.fingerprint(),
                "retired_fingerprint": previous,
                "secrets_sealed_again": resealed,
            })
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
}
