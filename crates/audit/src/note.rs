//! Checkpoints (docs/audit.md "Checkpoints"): the C2SP tlog-checkpoint body (`origin`, size, base64 root) in a
//! C2SP signed note signed with Ed25519 by a dedicated audit key, key ids, and verifier keys in the signed-note
//! form `<name>+<key id hex>+<base64(0x01 || public key)>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::tree::Hash;

const DASH: &str = "\u{2014} ";
/// Longest note a verifier reads.
pub const MAX_NOTE: usize = 64 * 1024;

/// A checkpoint: the tree of `size` entries of the chain whose origin is `origin` has root `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// `cfp-audit/<chain id>`.
pub fn origin(chain: &str) -> String {
    format!("cfp-audit/{chain}")
}

/// `<origin>\n<size>\n<base64 root>\n`.
pub fn checkpoint_body(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// Parses a checkpoint body of exactly three lines.
pub fn parse_body(body: &str) -> Option<Checkpoint> {
    let rest = body.strip_suffix('\n')?;
    let mut lines = rest.split('\n');
    let (origin, size, root) = (lines.next()?, lines.next()?, lines.next()?);
    if lines.next().is_some() || origin.is_empty() || origin.len() > 256 || origin.chars().any(|c| c < ' ') {
        return None;
    }
    if size.is_empty() || size.len() > 16 || (size.len() > 1 && size.starts_with('0')) {
        return None;
    }
    if !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size: u64 = size.parse().ok().filter(|s| *s <= 1 << 53)?;
    let root: Hash = B64.decode(root).ok()?.try_into().ok()?;
    Some(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 200 && !name.chars().any(|c| c.is_whitespace() || c == '+' || c == '\u{2014}')
}

/// The first 4 bytes of `SHA-256(name || "\n" || 0x01 || public key)`.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A public audit key (current or retired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    pub key: [u8; 32],
}

impl PublicKey {
    /// `<name>+<key id hex>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut raw = vec![1u8];
        raw.extend_from_slice(&self.key);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &self.key)),
            B64.encode(raw)
        )
    }

    /// Parses a verifier key; `None` when malformed, of another algorithm, or its key id does not match.
    pub fn parse(text: &str) -> Option<Self> {
        // split at the first two `+`: the base64 key data may itself hold `+`
        let mut parts = text.trim().splitn(3, '+');
        let (name, id, data) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !valid_name(name) || id.len() != 8 || id.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let raw = B64.decode(data).ok()?;
        if raw.len() != 33 || raw[0] != 1 {
            return None;
        }
        let key: [u8; 32] = raw[1..].try_into().ok()?;
        (hex::encode(key_id(name, &key)) == id).then(|| Self {
            name: name.to_string(),
            key,
        })
    }
}

/// A private audit key: its name and Ed25519 signing key.
pub struct AuditKey {
    pub name: String,
    signing: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, String> {
        if !valid_name(name) {
            return Err(format!("`{name}` is not a key name (no spaces, `+` or em dash)"));
        }
        Ok(Self {
            name: name.to_string(),
            signing: SigningKey::from_bytes(seed),
        })
    }

    /// A new random key.
    pub fn generate(name: &str) -> Result<Self, String> {
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        Self::from_seed(name, &seed)
    }

    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.signing.verifying_key().to_bytes(),
        }
    }

    /// The signed note of a checkpoint body.
    pub fn sign(&self, body: &str) -> String {
        let sig = self.signing.sign(body.as_bytes());
        let mut raw = key_id(&self.name, &self.signing.verifying_key().to_bytes()).to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{body}\n{DASH}{} {}\n", self.name, B64.encode(raw))
    }
}

/// Verifies a signed note against known keys: at least one signature by a known key (same name and key id)
/// verifies and none by a known key fails; signatures by unknown keys are ignored (C2SP signed-note). Returns the
/// checkpoint it carries, or why not.
pub fn verify_note(note: &str, keys: &[PublicKey]) -> Result<Checkpoint, String> {
    if note.len() > MAX_NOTE {
        return Err("not a note of at most 64 KiB".into());
    }
    let Some(cut) = note.rfind("\n\n").filter(|_| note.ends_with('\n')) else {
        return Err("no empty line before the signatures".into());
    };
    if cut + 2 >= note.len() {
        return Err("no signature lines".into());
    }
    let body = &note[..cut + 1];
    let sigs = &note[cut + 2..note.len() - 1];
    let mut signed = 0;
    for line in sigs.split('\n') {
        let Some(rest) = line.strip_prefix(DASH) else {
            return Err("a signature line does not start with an em dash".into());
        };
        let Some((name, data)) = rest.rsplit_once(' ').filter(|(n, _)| !n.is_empty()) else {
            return Err("a signature line has no key name".into());
        };
        let raw = match B64.decode(data) {
            Ok(raw) if valid_name(name) && raw.len() >= 5 => raw,
            _ => return Err("a signature line is malformed".into()),
        };
        let Some(key) = keys
            .iter()
            .find(|k| k.name == name && key_id(&k.name, &k.key) == raw[..4])
        else {
            continue;
        };
        let ok = raw.len() == 68
            && VerifyingKey::from_bytes(&key.key).is_ok_and(|vk| {
                let sig = Signature::from_bytes(raw[4..].try_into().expect("64 bytes"));
                vk.verify(body.as_bytes(), &sig).is_ok()
            });
        if !ok {
            return Err(format!("the signature by {name} does not verify"));
        }
        signed += 1;
    }
    if signed == 0 {
        return Err("no signature by a known key".into());
    }
    parse_body(body).ok_or_else(|| "the body is not origin, size, base64 root".into())
}

/// The size a note's body claims, signed or not (to place a bad checkpoint in a report).
pub fn claimed_size(note: &str) -> Option<u64> {
    let cut = note.rfind("\n\n")?;
    parse_body(&note[..cut + 1]).map(|c| c.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_note_verifies_with_its_key_and_not_when_changed() {
        let key = AuditKey::from_seed("cfp-audit-runtime-1", &[7u8; 32]).unwrap();
        let other = AuditKey::from_seed("cfp-audit-runtime-2", &[8u8; 32]).unwrap();
        let body = checkpoint_body(&origin("runtime:t1"), 5, &[3u8; 32]);
        let note = key.sign(&body);
        let keys = [key.public()];
        assert_eq!(verify_note(&note, &keys).unwrap().size, 5);
        assert!(verify_note(&note, &[other.public()]).is_err());
        assert!(verify_note(&note.replace("\n5\n", "\n6\n"), &keys).is_err());
        assert_eq!(PublicKey::parse(&key.public().verifier_key()), Some(key.public()));
        assert!(PublicKey::parse(&key.public().verifier_key().replace("runtime-1", "runtime-3")).is_none());
        assert_eq!(claimed_size(&note), Some(5));
    }
}
