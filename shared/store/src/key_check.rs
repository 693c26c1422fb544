//! That a deployment always starts with the key its secrets were sealed with.
//!
//! The first start with a key seals a known value into `bot_config.secret_key_check`; every
//! later start must open it, so a different key — or none, once secrets exist — is refused
//! before anything is read or written with it.

use mongodb::bson::{Binary, doc, spec::BinarySubtype};

use crate::db::Database;
use crate::secret::{SecretError, SecretKey};

const KEY_CHECK_ID: &str = "secret_key_check";
const KEY_CHECK_CONTEXT: &str = "bot_config/secret_key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"tower-of-temptation key check";

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error(
        "secrets are stored in this database but no secret key is configured: set \
         TOWER_SECRET_KEY or TOWER_SECRET_KEY_FILE to the key they were sealed with"
    )]
    KeyRequired,
    #[error("the configured secret key is not the one this database's secrets were sealed with")]
    WrongKey,
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
}

/// Refuses to run with the wrong key, or with none when secrets exist; records the key
/// check on a deployment's first start with a key.
pub async fn check(key: Option<&SecretKey>, db: &Database) -> Result<(), KeyCheckError> {
    let bot_config = db.raw().collection::<mongodb::bson::Document>("bot_config");
    let check = bot_config.find_one(doc! { "_id": KEY_CHECK_ID }).await?;
    let sealed = check
        .as_ref()
        .and_then(|d| d.get_binary_generic("sealed").ok())
        .cloned();
    match (key, sealed) {
        (Some(key), Some(sealed)) => key
            .open(&sealed, KEY_CHECK_CONTEXT)
            .map(|_| ())
            .map_err(|_| KeyCheckError::WrongKey),
        (Some(key), None) => {
            let sealed = key.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_CONTEXT)?;
            let record = doc! {
                "_id": KEY_CHECK_ID,
                "sealed": Binary { subtype: BinarySubtype::Generic, bytes: sealed },
                "schema_version": crate::schema::SCHEMA_VERSION,
            };
            // Two processes starting together with different keys: the first write wins
            // and the other fails its check on the next start.
            match bot_config.insert_one(record).await {
                Ok(_) => Ok(()),
                Err(e) if crate::db::is_duplicate_key(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        (None, Some(_)) => Err(KeyCheckError::KeyRequired),
        (None, None) => Ok(()),
    }
}
