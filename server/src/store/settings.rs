//! Settings (the public URL, the key's fingerprint), the key rotation's reseal, online backups and the reachability probe.

use sqlx::Row;

use super::{Store, StoreError, migrator};

impl Store {
    /// Seals every stored secret again (`reseal`: opened with the key that sealed it, sealed
    /// with the current one) and sets the setting `fingerprint.0` to `fingerprint.1`, in one
    /// transaction: a key rotation's end. Returns how many secrets were sealed again.
    pub async fn reseal_all(
        &self,
        reseal: impl Fn(&str) -> Result<String, StoreError>,
        fingerprint: (&str, &str),
    ) -> Result<usize, StoreError> {
        /// Every sealed column, with its table's key column.
        const SEALED: [(&str, &str, &str); 4] = [
            ("accounts", "id", "credentials_sealed"),
            ("oauth_apps", "integration", "client_secret_sealed"),
            ("oauth_connections", "state_hash", "verifier_sealed"),
            ("oauth_connections", "state_hash", "authorize_sealed"),
        ];
        let mut transaction = self.pool.begin().await?;
        let mut count = 0;
        for (table, key, column) in SEALED {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(&mut *transaction)
            .await?;
            for row in rows {
                let id: String = row.try_get("k")?;
                let sealed: String = row.try_get("v")?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {column} = $1 WHERE {key} = $2"
                )))
                .bind(reseal(&sealed)?)
                .bind(id)
                .execute(&mut *transaction)
                .await?;
                count += 1;
            }
        }
        sqlx::query("UPDATE settings SET value = $2 WHERE name = $1")
            .bind(fingerprint.0)
            .bind(fingerprint.1)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        self.changes.bump();
        Ok(count)
    }

    /// Writes a consistent copy of this SQLite database to `path` while others keep using
    /// it (`VACUUM INTO`, which also leaves no free pages behind).
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::File(format!("{} is not UTF-8", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A shared setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Sets a shared setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The setting's value, storing `value` first if it has none (first writer wins, also
    /// when several processes start at once).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(self
            .setting(name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }

    /// Whether the database answers and has every migration this build knows.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(&self.pool)
        .await?;
        // Newer is fine: during a rolling upgrade a newer instance may have migrated first.
        let expected = migrator(false)
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < expected {
            return Err(StoreError::Schema { applied, expected });
        }
        Ok(())
    }
}
