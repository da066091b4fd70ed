//! Compact JWS (`header.payload.signature`, each base64url without padding): splitting and decoding, shared by
//! control-plane access tokens ([`crate::jwt`]) and end users' tokens ([`crate::oidc`]). Nothing here verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;

/// The three parts of a compact JWS, still encoded.
pub struct Compact<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// Splits a token into exactly three parts; `None` for anything else.
pub fn split(token: &str) -> Option<Compact<'_>> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(Compact {
        header,
        payload,
        signature,
        signing_input: &token[..header.len() + 1 + payload.len()],
    })
}

pub fn decode(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// A base64url part decoded and parsed as JSON.
pub fn decode_json<T: DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&decode(part)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_parts_only() {
        let c = split("aGk.eyJhIjoxfQ.c2ln").unwrap();
        assert_eq!(
            (c.header, c.payload, c.signature, c.signing_input),
            ("aGk", "eyJhIjoxfQ", "c2ln", "aGk.eyJhIjoxfQ")
        );
        assert_eq!(decode_json::<serde_json::Value>(c.payload).unwrap()["a"], 1);
        assert!(split("a.b").is_none());
        assert!(split("a.b.c.d").is_none());
        assert!(decode_json::<serde_json::Value>("!!").is_none());
    }
}
