//! Secrets: random tokens, peppered SHA-256 token hashes, and AEAD sealing of credentials.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Errors from key handling and sealing.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// `SPECGATE_SECRET_KEY` or the key file is not 32 base64 bytes.
    #[error("secret key must be 32 bytes, base64-encoded ({0})")]
    BadKey(&'static str),
    /// Reading or creating the key file failed.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// Key file path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The OS random generator failed.
    #[error("OS random generator failed")]
    Random,
    /// Ciphertext was tampered with or sealed under another key.
    #[error("sealed data cannot be opened with this server's key")]
    Open,
}

/// Fills a buffer from the OS random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

/// A new secret token: `prefix` plus 32 random bytes in URL-safe base64.
pub fn new_token(prefix: &str) -> Result<String, CryptoError> {
    Ok(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    ))
}

/// A new opaque record id.
pub fn new_id() -> Result<String, CryptoError> {
    Ok(random_bytes::<16>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The server's secret material: the AEAD key that seals secrets, and the key the token-hash
/// pepper and the audit log's digests derive from (the first key of the installation: token
/// hashes cannot be rewritten without the tokens, so a rotation keeps it). During a rotation
/// the AEAD key before it still opens what it sealed.
///
/// Written as base64 segments joined by `.`: the AEAD key, then (when it differs) the pepper
/// key, then (during a rotation) the previous AEAD key. A single segment is both keys.
#[derive(Clone)]
pub struct Keys {
    cipher: XChaCha20Poly1305,
    /// The AEAD key before a rotation and its fingerprint, until the rotation finishes.
    previous: Option<(XChaCha20Poly1305, String)>,
    material: Material,
    pepper: [u8; 32],
    /// The HMAC of the audit log's argument digests, keyed once (its key blocks absorbed) and
    /// cloned for each digest.
    audit_mac: hmac::Hmac<Sha256>,
    fingerprint: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// The raw keys behind [`Keys`], kept to write a rotated key file.
#[derive(Clone, Copy)]
struct Material {
    cipher: [u8; 32],
    pepper: [u8; 32],
    previous: Option<[u8; 32]>,
}

fn fingerprint_of(key: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"specgate key fingerprint v1")
        .chain_update(key)
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Keys {
    /// Keys from 32 raw bytes, which both seal and pepper.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self::from_material(Material {
            cipher: key,
            pepper: key,
            previous: None,
        })
    }

    fn from_material(material: Material) -> Self {
        let pepper: [u8; 32] = Sha256::new()
            .chain_update(b"specgate token pepper v1")
            .chain_update(material.pepper)
            .finalize()
            .into();
        let audit_key: [u8; 32] = Sha256::new()
            .chain_update(b"specgate audit arguments v1")
            .chain_update(material.pepper)
            .finalize()
            .into();
        Self {
            cipher: XChaCha20Poly1305::new(&material.cipher.into()),
            previous: material
                .previous
                .map(|key| (XChaCha20Poly1305::new(&key.into()), fingerprint_of(&key))),
            material,
            pepper,
            audit_mac: <hmac::Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&audit_key)
                .expect("HMAC takes a key of any length"),
            fingerprint: fingerprint_of(&material.cipher),
        }
    }

    /// A rotation's keys: a fresh AEAD key, the same pepper, and this AEAD key as the
    /// previous one, which still opens what it sealed until the rotation finishes.
    pub fn rotated(&self) -> Result<Self, CryptoError> {
        Ok(Self::from_material(Material {
            cipher: random_bytes::<32>()?,
            pepper: self.material.pepper,
            previous: Some(self.material.cipher),
        }))
    }

    /// These keys without the previous AEAD key: what a finished rotation keeps.
    pub fn without_previous(&self) -> Self {
        Self::from_material(Material {
            previous: None,
            ..self.material
        })
    }

    /// The previous AEAD key's fingerprint, during a rotation.
    pub fn previous_fingerprint(&self) -> Option<&str> {
        self.previous
            .as_ref()
            .map(|(_, fingerprint)| fingerprint.as_str())
    }

    /// The text form a key file holds (see [`Keys`]).
    pub fn encoded(&self) -> String {
        let m = &self.material;
        let mut segments = vec![STANDARD.encode(m.cipher)];
        if m.pepper != m.cipher || m.previous.is_some() {
            segments.push(STANDARD.encode(m.pepper));
        }
        segments.extend(m.previous.map(|key| STANDARD.encode(key)));
        segments.join(".")
    }

    /// Writes [`Keys::encoded`] to `path`, mode 0600, replacing it in one rename.
    pub fn write(&self, path: &Path) -> Result<(), CryptoError> {
        let fail = |source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let staged = path.with_extension("rotating");
        let _ = std::fs::remove_file(&staged);
        write_private(&staged, self.encoded().as_bytes()).map_err(fail)?;
        std::fs::rename(&staged, path).map_err(fail)
    }

    /// A short public identifier of the key (not usable to recover it), which the database
    /// records so that a process holding another key refuses to run.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Loads the key from `SPECGATE_SECRET_KEY` if given, else from `key_file`. With `create`,
    /// a missing file is created with a fresh key and mode 0600; without it, that is an error.
    pub fn load(env_key: Option<&str>, key_file: &Path, create: bool) -> Result<Self, CryptoError> {
        if let Some(encoded) = env_key {
            return Self::decode(encoded.trim(), "SPECGATE_SECRET_KEY");
        }
        match std::fs::read_to_string(key_file) {
            Ok(encoded) => Self::decode(encoded.trim(), "key file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                Err(CryptoError::KeyFile {
                    path: key_file.display().to_string(),
                    source: e,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>()?;
                write_private(key_file, STANDARD.encode(key).as_bytes()).map_err(|source| {
                    CryptoError::KeyFile {
                        path: key_file.display().to_string(),
                        source,
                    }
                })?;
                Ok(Self::from_bytes(key))
            }
            Err(source) => Err(CryptoError::KeyFile {
                path: key_file.display().to_string(),
                source,
            }),
        }
    }

    fn decode(encoded: &str, from: &'static str) -> Result<Self, CryptoError> {
        let key = |segment: &str| -> Result<[u8; 32], CryptoError> {
            let bytes = STANDARD
                .decode(segment)
                .map_err(|_| CryptoError::BadKey(from))?;
            bytes.try_into().map_err(|_| CryptoError::BadKey(from))
        };
        let segments: Vec<&str> = encoded.split('.').collect();
        let (cipher, pepper, previous) = match segments.as_slice() {
            [cipher] => (key(cipher)?, key(cipher)?, None),
            [cipher, pepper] => (key(cipher)?, key(pepper)?, None),
            [cipher, pepper, previous] => (key(cipher)?, key(pepper)?, Some(key(previous)?)),
            _ => return Err(CryptoError::BadKey(from)),
        };
        Ok(Self::from_material(Material {
            cipher,
            pepper,
            previous,
        }))
    }

    /// Peppered SHA-256 of a token, hex-encoded: what the store keeps and looks up by.
    pub fn hash_token(&self, token: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.pepper)
            .chain_update(token.as_bytes())
            .finalize();
        hex(&digest)
    }

    /// HMAC-SHA256 of a call's arguments as compact JSON, hex-encoded: equal arguments give
    /// equal digests under one key, and short values such as ids cannot be found by hashing
    /// guesses without the key. Objects must already be key-sorted for a canonical digest.
    pub fn mac_arguments(&self, canonical: &serde_json::Value) -> String {
        use hmac::Mac;
        /// Feeds serialized JSON straight into the MAC, with no buffer in between.
        struct MacWriter(hmac::Hmac<Sha256>);
        impl std::io::Write for MacWriter {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.update(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut writer = MacWriter(self.audit_mac.clone());
        // Writing a `Value` into an infallible writer cannot fail.
        let _ = serde_json::to_writer(&mut writer, canonical);
        hex(&writer.0.finalize().into_bytes())
    }

    /// Encrypts with XChaCha20-Poly1305 under a random nonce; returns base64(nonce || ciphertext).
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, CryptoError> {
        self.seal_bound(plaintext, b"")
    }

    /// Like [`Keys::seal`], bound to `context` (AEAD associated data): it opens only with
    /// [`Keys::open_bound`] and the same context.
    pub fn seal_bound(&self, plaintext: &[u8], context: &[u8]) -> Result<String, CryptoError> {
        let nonce_bytes = random_bytes::<24>()?;
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                chacha20poly1305::aead::Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let mut out = nonce_bytes.to_vec();
        out.extend(ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Encrypts under a key derived from this key and `secret` together, so that the
    /// database and the key alone cannot open it: only someone who also presents `secret`
    /// (a token kept only as a hash) can. Opens with [`Keys::open_for`].
    pub fn seal_for(&self, secret: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        Keys::from_bytes(self.derived(secret)).seal(plaintext)
    }

    /// Decrypts what [`Keys::seal_for`] produced with the same `secret`.
    pub fn open_for(&self, secret: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        Keys::from_bytes(self.derived(secret)).open(sealed)
    }

    fn derived(&self, secret: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"specgate sealed for a secret v1")
            .chain_update(self.pepper)
            .chain_update(secret.as_bytes())
            .finalize()
            .into()
    }

    /// Decrypts what [`Keys::seal`] produced.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        self.open_bound(sealed, b"")
    }

    /// Decrypts what [`Keys::seal_bound`] produced under the same context, with this AEAD
    /// key or, during a rotation, the previous one.
    pub fn open_bound(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let opened = open_with(&self.cipher, sealed, context);
        match &self.previous {
            Some((previous, _)) if opened.is_err() => open_with(previous, sealed, context),
            _ => opened,
        }
    }
}

fn open_with(
    cipher: &XChaCha20Poly1305,
    sealed: &str,
    context: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| CryptoError::Open)?;
    if bytes.len() < 24 {
        return Err(CryptoError::Open);
    }
    let (nonce, ciphertext) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| CryptoError::Open)?;
    cipher
        .decrypt(
            &XNonce::from(nonce),
            chacha20poly1305::aead::Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Open)
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = create_private_file(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates a new file that only its owner can read and write (0600); fails if it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Creates a new directory that only its owner can enter (0700).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Lower-case hex, without a `format!` per byte: every request hashes its token.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_are_the_lowercase_hex_stored_databases_hold() {
        let keys = Keys::from_bytes([7; 32]);
        let expected: String = Sha256::new()
            .chain_update(keys.pepper)
            .chain_update(b"mcp_token")
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(keys.hash_token("mcp_token"), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn seal_round_trips_and_detects_tampering() {
        let keys = Keys::from_bytes([7; 32]);
        let sealed = keys.seal(b"sk_live_secret").unwrap();
        assert!(!sealed.contains("sk_live"));
        assert_eq!(keys.open(&sealed).unwrap(), b"sk_live_secret");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(keys.open(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(Keys::from_bytes([8; 32]).open(&sealed).is_err());
        let bound = keys.seal_bound(b"cursor", b"server-a").unwrap();
        assert_eq!(keys.open_bound(&bound, b"server-a").unwrap(), b"cursor");
        assert!(keys.open_bound(&bound, b"server-b").is_err());
        assert!(keys.open(&bound).is_err());
    }

    #[test]
    fn a_rotation_keeps_token_hashes_and_opens_old_seals_until_it_finishes() {
        let old = Keys::from_bytes([5; 32]);
        let sealed_before = old.seal(b"credentials").unwrap();
        let rotated = old.rotated().unwrap();
        assert_ne!(rotated.fingerprint(), old.fingerprint());
        assert_eq!(rotated.previous_fingerprint(), Some(old.fingerprint()));
        assert_eq!(rotated.hash_token("mcp_x"), old.hash_token("mcp_x"));
        assert_eq!(
            rotated
                .seal_for("sgr_a", b"p")
                .ok()
                .map(|s| old.open_for("sgr_a", &s).is_ok()),
            Some(true),
            "secret-derived keys come from the pepper, which a rotation keeps"
        );
        assert_eq!(rotated.open(&sealed_before).unwrap(), b"credentials");
        let sealed_after = rotated.seal(b"credentials").unwrap();
        assert!(old.open(&sealed_after).is_err());
        // Through the key file's text, and after the rotation finishes.
        let read = Keys::decode(&rotated.encoded(), "test").unwrap();
        assert_eq!(read.fingerprint(), rotated.fingerprint());
        assert_eq!(read.open(&sealed_before).unwrap(), b"credentials");
        let finished = Keys::decode(&rotated.without_previous().encoded(), "test").unwrap();
        assert!(finished.open(&sealed_before).is_err());
        assert_eq!(finished.open(&sealed_after).unwrap(), b"credentials");
        assert_eq!(finished.hash_token("mcp_x"), old.hash_token("mcp_x"));
        // A key file from before rotations existed reads as it did.
        let single = STANDARD.encode([5; 32]);
        assert_eq!(
            Keys::decode(&single, "test").unwrap().fingerprint(),
            old.fingerprint()
        );
        assert_eq!(old.encoded(), single);
    }

    #[test]
    fn sealed_for_a_secret_opens_only_with_it() {
        let keys = Keys::from_bytes([3; 32]);
        let sealed = keys.seal_for("sgr_old", b"next pair").unwrap();
        assert_eq!(keys.open_for("sgr_old", &sealed).unwrap(), b"next pair");
        assert!(keys.open_for("sgr_other", &sealed).is_err());
        assert!(keys.open(&sealed).is_err());
        assert!(
            Keys::from_bytes([4; 32])
                .open_for("sgr_old", &sealed)
                .is_err()
        );
    }

    #[test]
    fn tokens_are_long_random_and_hashes_peppered() {
        let a = new_token("mcp_").unwrap();
        assert!(a.len() >= 4 + 43);
        assert_ne!(a, new_token("mcp_").unwrap());
        let keys = Keys::from_bytes([1; 32]);
        assert_eq!(keys.hash_token(&a), keys.hash_token(&a));
        assert_ne!(
            keys.hash_token(&a),
            Keys::from_bytes([2; 32]).hash_token(&a)
        );
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(Keys::load(None, &path, false).is_err());
        assert!(!path.exists());
        let first = Keys::load(None, &path, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Keys::load(None, &path, false).unwrap();
        assert_eq!(first.hash_token("x"), second.hash_token("x"));
        assert_eq!(first.fingerprint(), second.fingerprint());
        assert_ne!(first.fingerprint(), Keys::from_bytes([3; 32]).fingerprint());
        assert!(Keys::load(Some("not-base64!"), &path, false).is_err());
    }
}
