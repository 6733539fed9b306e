//! Requests signed by a peer node of the community board: `X-Node-Id`
//! (public key, 64 hex), `X-Node-Timestamp` (Unix seconds, within five
//! minutes of this server's clock) and `X-Node-Signature` (hex Ed25519
//! signature of `METHOD\nTIMESTAMP\nBODY`, METHOD being the HTTP method).

use axum::http::HeaderMap;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use market_rpc::RpcError;

pub const NODE_ID: &str = "x-node-id";
pub const NODE_TIMESTAMP: &str = "x-node-timestamp";
pub const NODE_SIGNATURE: &str = "x-node-signature";

/// How far a request's timestamp may be from this server's clock.
const MAX_SKEW_SECS: i64 = 300;

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut out).ok()?;
    Some(out)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, RpcError> {
    headers
        .get(name)
        .ok_or_else(|| RpcError::unauthenticated(format!("signed node request without {name}")))?
        .to_str()
        .map_err(|_| RpcError::unauthenticated(format!("{name} is not text")))
}

/// The verified node of a signed request; `None` when the request carries
/// no node headers at all.
pub fn verify(
    headers: &HeaderMap,
    method: &str,
    body: &[u8],
    now_secs: i64,
) -> Option<Result<String, RpcError>> {
    if ![NODE_ID, NODE_TIMESTAMP, NODE_SIGNATURE]
        .iter()
        .any(|h| headers.contains_key(*h))
    {
        return None;
    }
    Some(check(headers, method, body, now_secs))
}

fn check(
    headers: &HeaderMap,
    method: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<String, RpcError> {
    let node = header(headers, NODE_ID)?.trim().to_ascii_lowercase();
    let timestamp = header(headers, NODE_TIMESTAMP)?.trim();
    let signature = header(headers, NODE_SIGNATURE)?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| RpcError::unauthenticated("X-Node-Timestamp must be Unix seconds"))?;
    if (now_secs - at).abs() > MAX_SKEW_SECS {
        return Err(RpcError::unauthenticated(
            "X-Node-Timestamp is more than 5 minutes away from this server's clock",
        ));
    }
    let key = unhex::<32>(&node)
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| {
            RpcError::unauthenticated("X-Node-Id is not an Ed25519 public key in hex")
        })?;
    let sig = unhex::<64>(signature)
        .ok_or_else(|| RpcError::unauthenticated("X-Node-Signature is not 128 hex digits"))?;
    let mut message = format!("{method}\n{timestamp}\n").into_bytes();
    message.extend_from_slice(body);
    key.verify(&message, &Signature::from_bytes(&sig))
        .map_err(|_| {
            tracing::warn!(node = %node, "signed node request with a bad signature refused");
            RpcError::unauthenticated("X-Node-Signature does not verify")
        })?;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(key: &SigningKey, ts: i64, body: &[u8]) -> HeaderMap {
        let mut message = format!("POST\n{ts}\n").into_bytes();
        message.extend_from_slice(body);
        let mut h = HeaderMap::new();
        h.insert(
            NODE_ID,
            hex::encode(key.verifying_key().as_bytes()).parse().unwrap(),
        );
        h.insert(NODE_TIMESTAMP, ts.to_string().parse().unwrap());
        h.insert(
            NODE_SIGNATURE,
            hex::encode(key.sign(&message).to_bytes()).parse().unwrap(),
        );
        h
    }

    #[test]
    fn signed_requests_verify_and_tampering_fails() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"board.events"}"#;
        let h = signed(&key, 1000, body);
        assert_eq!(
            verify(&h, "POST", body, 1100).unwrap().unwrap(),
            hex::encode(key.verifying_key().as_bytes())
        );
        assert!(verify(&HeaderMap::new(), "POST", body, 1000).is_none());
        let kind = |r: Option<Result<String, RpcError>>| {
            r.unwrap().unwrap_err().kind().map(str::to_string)
        };
        assert_eq!(
            kind(verify(&h, "POST", b"{}", 1000)).as_deref(),
            Some("unauthenticated")
        );
        assert_eq!(
            kind(verify(&h, "POST", body, 1000 + 301)).as_deref(),
            Some("unauthenticated")
        );
        let mut partial = h.clone();
        partial.remove(NODE_SIGNATURE);
        assert_eq!(
            kind(verify(&partial, "POST", body, 1000)).as_deref(),
            Some("unauthenticated")
        );
    }
}
