//! Signed board events and node keys.
//!
//! An event's signature is an Ed25519 signature by its origin node's key
//! over a fixed prefix and the canonical JSON of every field but `seq` and
//! `signature` (fields in declaration order, absent options left out), so
//! any change to an event after signing fails verification.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use market_store::{Id, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{ExpiryReason, PostCategory, PostLocation};

/// What an event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "post.created")]
    PostCreated,
    #[serde(rename = "post.updated")]
    PostUpdated,
    #[serde(rename = "post.expired")]
    PostExpired,
}

/// What the signature covers, after this prefix.
const DOMAIN: &[u8] = b"marketplace-board-event-v1\n";

/// Bytes of a hex string of exactly `N` bytes.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut out).ok()?;
    Some(out)
}

/// A node's Ed25519 key: signs its events and its sync requests.
#[derive(Clone)]
pub struct NodeKey(SigningKey);

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.node_id())
    }
}

impl NodeKey {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> NodeKey {
        NodeKey(SigningKey::from_bytes(&seed))
    }

    /// The key of a seed written as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<NodeKey, String> {
        unhex::<32>(text)
            .map(NodeKey::from_seed)
            .ok_or_else(|| "expected the 32-byte Ed25519 seed as 64 hex digits".to_string())
    }

    /// A new random key.
    pub fn generate() -> Result<NodeKey, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a node key: {e}"))?;
        Ok(NodeKey::from_seed(seed))
    }

    /// The seed as 64 hex digits (what a key file holds).
    pub fn seed_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The public key as 64 hex digits: the node's id.
    pub fn node_id(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    /// Hex signature of `message`.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message).to_bytes())
    }
}

/// Does `signature_hex` sign `message` for the node `node_id` (64 hex)?
pub fn verify_hex(node_id: &str, message: &[u8], signature_hex: &str) -> Result<(), String> {
    let key = unhex::<32>(node_id).ok_or("node id is not 64 hex digits")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "node id is not an Ed25519 key")?;
    let sig = unhex::<64>(signature_hex).ok_or("signature is not 128 hex digits")?;
    key.verify(message, &Signature::from_bytes(&sig))
        .map_err(|_| "bad signature".to_string())
}

/// The fields an event carries besides its envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<PostCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<PostLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExpiryReason>,
}

/// One event of the log, as stored and as exchanged between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedEvent {
    pub id: Id,
    pub kind: EventKind,
    pub lamport: u64,
    pub origin: String,
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Id>,
    pub at: Timestamp,
    pub data: EventData,
    pub signature: String,
}

/// The signed part of an event, in its canonical field order.
#[derive(Serialize)]
struct Unsigned<'a> {
    id: &'a Id,
    kind: &'a EventKind,
    lamport: u64,
    origin: &'a str,
    author: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: &'a Option<Id>,
    at: &'a Timestamp,
    data: &'a EventData,
}

/// An event before it is signed.
pub struct Draft {
    pub id: Id,
    pub kind: EventKind,
    pub lamport: u64,
    pub author: String,
    pub target: Option<Id>,
    pub at: Timestamp,
    pub data: EventData,
}

impl SignedEvent {
    fn message(&self) -> Vec<u8> {
        let unsigned = Unsigned {
            id: &self.id,
            kind: &self.kind,
            lamport: self.lamport,
            origin: &self.origin,
            author: &self.author,
            target: &self.target,
            at: &self.at,
            data: &self.data,
        };
        let mut out = DOMAIN.to_vec();
        // Serializing plain data into a Vec cannot fail.
        out.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
        out
    }

    /// Sign `draft` as node `key`.
    pub fn sign(draft: Draft, key: &NodeKey) -> SignedEvent {
        let mut event = SignedEvent {
            id: draft.id,
            kind: draft.kind,
            lamport: draft.lamport,
            origin: key.node_id(),
            author: draft.author,
            target: draft.target,
            at: draft.at,
            data: draft.data,
            signature: String::new(),
        };
        event.signature = key.sign_hex(&event.message());
        event
    }

    /// Is the signature the origin node's?
    pub fn verify(&self) -> Result<(), String> {
        verify_hex(&self.origin, &self.message(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap(),
            kind: EventKind::PostCreated,
            lamport: 3,
            author: "someone".into(),
            target: None,
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
            data: EventData {
                title: Some("bikes".into()),
                ..EventData::default()
            },
        }
    }

    #[test]
    fn signatures_cover_every_field() {
        let key = NodeKey::from_seed([7; 32]);
        let event = SignedEvent::sign(draft(), &key);
        assert_eq!(event.origin, key.node_id());
        event.verify().unwrap();
        let mut tampered = event.clone();
        tampered.data.title = Some("cars".into());
        assert_eq!(tampered.verify().unwrap_err(), "bad signature");
        let mut tampered = event.clone();
        tampered.lamport += 1;
        assert!(tampered.verify().is_err());
        let mut foreign = event.clone();
        foreign.origin = NodeKey::from_seed([8; 32]).node_id();
        assert!(foreign.verify().is_err());
        let text = serde_json::to_string(&event).unwrap();
        let back: SignedEvent = serde_json::from_str(&text).unwrap();
        back.verify().unwrap();
    }

    #[test]
    fn hex_round_trips() {
        let key = NodeKey::from_seed([9; 32]);
        assert_eq!(
            NodeKey::from_hex(&key.seed_hex()).unwrap().node_id(),
            key.node_id()
        );
        assert!(NodeKey::from_hex("zz").is_err());
        assert_eq!(unhex::<2>("0aFf"), Some([10, 255]));
        assert_eq!(unhex::<2>("0a"), None);
    }
}
