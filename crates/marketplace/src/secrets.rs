//! The key that seals `@secret` fields: `MARKETPLACE_SECRET_KEY`, or on the
//! embedded database a key file beside it, created on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use market_store::{DbUrl, SecretCipher};

/// Where the key of a redb database is kept when the environment has none.
pub fn key_file(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

/// The cipher for `db_url`: from `env_key` when set, else from the key file
/// beside a redb database, created (mode 0600) when the database is new too.
/// An existing database without its key file is refused: a new key could
/// not open what it sealed.
pub fn cipher_for(db_url: &str, env_key: Option<&str>) -> Result<SecretCipher, String> {
    if let Some(text) = env_key {
        return SecretCipher::from_text(text).map_err(|e| format!("MARKETPLACE_SECRET_KEY: {e}"));
    }
    let db_path = match db_url.parse::<DbUrl>().map_err(|e| e.to_string())? {
        DbUrl::Redb(path) => path,
        DbUrl::Postgres(_) => {
            return Err("on PostgreSQL the secret key comes from MARKETPLACE_SECRET_KEY (the same for every process); set it".into());
        }
    };
    let path = key_file(&db_path);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            SecretCipher::from_text(&text).map_err(|e| format!("key file {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && db_path.exists() => Err(format!(
            "the database {} exists but has no key file ({}) and MARKETPLACE_SECRET_KEY is not set; set MARKETPLACE_SECRET_KEY to the key the database was sealed with (a new key is only made for a new database)",
            db_path.display(),
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = SecretCipher::generate_key_text().map_err(|e| e.to_string())?;
            write_private(&path, &text)
                .map_err(|e| format!("cannot create key file {}: {e}", path.display()))?;
            tracing::warn!(
                file = %path.display(),
                "MARKETPLACE_SECRET_KEY is not set: created a random key file beside the database; back it up with the database, secret fields cannot be read without it"
            );
            SecretCipher::from_text(&text).map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("cannot read key file {}: {e}", path.display())),
    }
}

pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    market_store::sync_folder(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("redb://{}/d/m.redb", dir.path().display());
        cipher_for(&url, None).unwrap();
        let path = dir.path().join("d/m.redb.key");
        let first = std::fs::read_to_string(&path).unwrap();
        cipher_for(&url, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            first,
            "the key is kept"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // an existing database never gets a new key file
        std::fs::remove_file(&path).unwrap();
        std::fs::write(dir.path().join("d/m.redb"), b"").unwrap();
        let e = cipher_for(&url, None).unwrap_err();
        assert!(e.contains("MARKETPLACE_SECRET_KEY"), "{e}");
        assert!(!path.exists());
        std::fs::write(&path, "garbage").unwrap();
        assert!(cipher_for(&url, None).unwrap_err().contains("key file"));
        assert!(
            cipher_for(&url, Some("short"))
                .unwrap_err()
                .contains("MARKETPLACE_SECRET_KEY")
        );
        assert!(cipher_for(&url, Some(&"ab".repeat(32))).is_ok());
    }
}
