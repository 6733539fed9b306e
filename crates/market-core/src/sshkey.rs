//! Parsing and validation of OpenSSH public keys as users paste them.
//!
//! [`parse_public_key`] takes one line in the `authorized_keys` / `*.pub` format
//! (`<type> <base64> [comment]`, e.g. `ssh-ed25519 AAAAC3... user@host`) and returns a
//! [`ParsedKey`] with the algorithm family, the SHA-256 fingerprint exactly as
//! `ssh-keygen -l -E sha256` prints it, a normalised key line, the comment and the key size.
//!
//! Accepted types are `ssh-ed25519`, `ecdsa-sha2-nistp256|384|521`, `ssh-rsa` and the FIDO
//! security-key variants `sk-ssh-ed25519@openssh.com` and
//! `sk-ecdsa-sha2-nistp256@openssh.com`. Certificates, DSA keys and `authorized_keys`
//! option prefixes are refused.
//!
//! The base64 blob is decoded and its SSH wire structure (RFC 4251 length-prefixed
//! strings and mpints) is verified by hand:
//!
//! * the first string must equal the declared type;
//! * ed25519: a 32-byte public key;
//! * ecdsa: the curve name matching the type, then an uncompressed point (`0x04` prefix,
//!   65/97/133 bytes for nistp256/384/521);
//! * rsa: positive, minimally encoded mpints `e` and `n`; the modulus must have between
//!   2048 and 16384 bits;
//! * security keys additionally carry their application string (e.g. `ssh:`);
//! * nothing may follow.
//!
//! Curve points are checked for shape only, not for lying on the curve. The parser uses
//! checked arithmetic throughout and never panics, whatever the input.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest as _, Sha256};

/// The largest input accepted by [`parse_public_key`], in bytes.
pub const MAX_KEY_LINE_BYTES: usize = 16 * 1024;
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: u32 = 2048;
/// The largest RSA modulus accepted, in bits (OpenSSH's own limit).
pub const MAX_RSA_BITS: u32 = 16384;

/// How many characters of an unrecognised key type are echoed back in an error.
const MAX_ECHOED_TYPE_CHARS: usize = 64;

/// The algorithm family of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl KeyAlgorithm {
    /// The lower-case name of the family: `"ed25519"`, `"ecdsa"` or `"rsa"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Ecdsa => "ecdsa",
            KeyAlgorithm::Rsa => "rsa",
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated OpenSSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub algorithm: KeyAlgorithm,
    /// `SHA256:<base64 without padding>` of the decoded key blob, exactly as `ssh-keygen -l -E sha256` prints it.
    pub fingerprint: String,
    /// The normalised key line: `<type> <base64>` plus ` <comment>` when one was given (comment trimmed, inner whitespace kept).
    pub normalized: String,
    pub comment: Option<String>,
    /// Key size in bits (ed25519: 256; ecdsa: 256/384/521 from the curve; rsa: modulus bits).
    pub bits: u32,
}

/// Why a pasted key was refused. Each message is meant to be shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key given: paste an OpenSSH public key such as 'ssh-ed25519 AAAA... user@host'")]
    Empty,
    #[error("key too long (at most {MAX_KEY_LINE_BYTES} bytes are accepted)")]
    TooLong,
    #[error("this is a private key: never share it; paste the public key (the .pub file) instead")]
    PrivateKey,
    #[error("paste exactly one key on a single line (the input contains a line break)")]
    MultipleLines,
    #[error("the key line contains control characters")]
    ControlCharacters,
    #[error("not an OpenSSH public key: expected '<type> <base64> [comment]'")]
    NotOpenSsh,
    #[error(
        "authorized_keys options (such as 'command=' or 'no-pty') are not allowed: paste only '<type> <base64> [comment]'"
    )]
    OptionsNotAllowed,
    #[error("unsupported key type '{0}' (use ed25519, ecdsa or rsa)")]
    UnsupportedType(String),
    #[error("the key data is not valid base64")]
    InvalidBase64,
    #[error("the key data does not match its type '{0}'")]
    TypeMismatch(String),
    #[error("the key data is truncated (was the key copied completely?)")]
    Truncated,
    #[error("the key data has unexpected bytes after the key")]
    TrailingData,
    #[error("the key data is not a valid '{key_type}' key: {reason}")]
    InvalidKeyData {
        key_type: String,
        reason: &'static str,
    },
    #[error("RSA keys must have at least {MIN_RSA_BITS} bits (this one has {0})")]
    RsaTooSmall(u32),
    #[error("RSA keys may have at most {MAX_RSA_BITS} bits (this one has {0})")]
    RsaTooLarge(u32),
}

/// The ECDSA curves OpenSSH supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    NistP256,
    NistP384,
    NistP521,
}

impl Curve {
    fn name(self) -> &'static [u8] {
        match self {
            Curve::NistP256 => b"nistp256",
            Curve::NistP384 => b"nistp384",
            Curve::NistP521 => b"nistp521",
        }
    }

    fn bits(self) -> u32 {
        match self {
            Curve::NistP256 => 256,
            Curve::NistP384 => 384,
            Curve::NistP521 => 521,
        }
    }

    /// Length of an uncompressed point: `0x04 || X || Y`.
    fn point_len(self) -> usize {
        match self {
            Curve::NistP256 => 65,
            Curve::NistP384 => 97,
            Curve::NistP521 => 133,
        }
    }
}

/// The shape of the blob behind a supported key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ed25519,
    Ecdsa(Curve),
    Rsa,
}

/// A supported key type name and what it implies.
#[derive(Debug, Clone, Copy)]
struct KeyType {
    name: &'static str,
    kind: Kind,
    /// FIDO security-key variant: the blob ends with an application string.
    security_key: bool,
}

const KEY_TYPES: [KeyType; 7] = [
    KeyType {
        name: "ssh-ed25519",
        kind: Kind::Ed25519,
        security_key: false,
    },
    KeyType {
        name: "ecdsa-sha2-nistp256",
        kind: Kind::Ecdsa(Curve::NistP256),
        security_key: false,
    },
    KeyType {
        name: "ecdsa-sha2-nistp384",
        kind: Kind::Ecdsa(Curve::NistP384),
        security_key: false,
    },
    KeyType {
        name: "ecdsa-sha2-nistp521",
        kind: Kind::Ecdsa(Curve::NistP521),
        security_key: false,
    },
    KeyType {
        name: "ssh-rsa",
        kind: Kind::Rsa,
        security_key: false,
    },
    KeyType {
        name: "sk-ssh-ed25519@openssh.com",
        kind: Kind::Ed25519,
        security_key: true,
    },
    KeyType {
        name: "sk-ecdsa-sha2-nistp256@openssh.com",
        kind: Kind::Ecdsa(Curve::NistP256),
        security_key: true,
    },
];

fn supported_type(token: &str) -> Option<KeyType> {
    KEY_TYPES.iter().copied().find(|t| t.name == token)
}

/// Whether a token looks like an SSH key type name, supported or not
/// (`ssh-dss`, certificates, `x509v3-*`, ...).
fn looks_like_key_type(token: &str) -> bool {
    const PREFIXES: [&str; 5] = ["ssh-", "ecdsa-", "sk-", "x509v3-", "rsa-sha2-"];
    PREFIXES.iter().any(|p| token.starts_with(p)) || token.ends_with("@openssh.com")
}

/// Whether a token looks like the start of an `authorized_keys` options list.
fn looks_like_options(token: &str) -> bool {
    const FLAG_OPTIONS: [&str; 14] = [
        "agent-forwarding",
        "cert-authority",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-user-rc",
        "no-x11-forwarding",
        "no-touch-required",
        "port-forwarding",
        "pty",
        "restrict",
        "user-rc",
        "verify-required",
        "x11-forwarding",
    ];
    token.contains('"')
        || token
            .split(',')
            .any(|opt| FLAG_OPTIONS.iter().any(|f| f.eq_ignore_ascii_case(opt)))
}

/// Parses and validates one OpenSSH public key line (`<type> <base64> [comment]`).
///
/// Leading and trailing whitespace is ignored; the comment is optional and may contain
/// inner whitespace. See the [module documentation](self) for the checks made.
pub fn parse_public_key(line: &str) -> Result<ParsedKey, KeyError> {
    if line.len() > MAX_KEY_LINE_BYTES {
        return Err(KeyError::TooLong);
    }
    let line = line.trim();
    if line.is_empty() {
        return Err(KeyError::Empty);
    }
    if line.contains("PRIVATE KEY-----") {
        return Err(KeyError::PrivateKey);
    }
    if line.starts_with('-') {
        // PEM or RFC 4716 ("---- BEGIN SSH2 PUBLIC KEY ----") armour.
        return Err(KeyError::NotOpenSsh);
    }
    if line.contains(['\n', '\r']) {
        return Err(KeyError::MultipleLines);
    }
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(KeyError::ControlCharacters);
    }

    let (type_token, rest) = split_token(line);
    let Some(key_type) = supported_type(type_token) else {
        return Err(classify_unknown_type(type_token, rest));
    };
    let (data_token, rest) = split_token(rest);
    if data_token.is_empty() {
        return Err(KeyError::NotOpenSsh);
    }
    let comment = Some(rest.trim()).filter(|c| !c.is_empty());

    let blob = STANDARD
        .decode(data_token)
        .map_err(|_| KeyError::InvalidBase64)?;
    let bits = check_blob(key_type, &blob)?;

    let fingerprint = format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&blob)));
    let mut normalized = format!("{} {}", key_type.name, STANDARD.encode(&blob));
    if let Some(c) = comment {
        normalized.push(' ');
        normalized.push_str(c);
    }
    let algorithm = match key_type.kind {
        Kind::Ed25519 => KeyAlgorithm::Ed25519,
        Kind::Ecdsa(_) => KeyAlgorithm::Ecdsa,
        Kind::Rsa => KeyAlgorithm::Rsa,
    };
    Ok(ParsedKey {
        algorithm,
        fingerprint,
        normalized,
        comment: comment.map(str::to_owned),
        bits,
    })
}

/// Splits off the first whitespace-delimited token; the rest keeps its leading whitespace
/// trimmed away but its inner whitespace intact.
fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(char::is_whitespace) {
        Some((token, rest)) => (token, rest.trim_start()),
        None => (s, ""),
    }
}

/// The error for a line whose first token is not a supported key type.
fn classify_unknown_type(first: &str, rest: &str) -> KeyError {
    let later_key_type = rest
        .split_whitespace()
        .any(|t| supported_type(t).is_some() || looks_like_key_type(t));
    if later_key_type || looks_like_options(first) {
        return KeyError::OptionsNotAllowed;
    }
    if looks_like_key_type(first) {
        return KeyError::UnsupportedType(first.chars().take(MAX_ECHOED_TYPE_CHARS).collect());
    }
    KeyError::NotOpenSsh
}

/// Verifies the wire structure of a decoded blob against its declared type and returns the
/// key size in bits.
fn check_blob(key_type: KeyType, blob: &[u8]) -> Result<u32, KeyError> {
    let invalid = |reason: &'static str| KeyError::InvalidKeyData {
        key_type: key_type.name.to_owned(),
        reason,
    };
    let mut r = Reader::new(blob);
    if r.string()? != key_type.name.as_bytes() {
        return Err(KeyError::TypeMismatch(key_type.name.to_owned()));
    }
    let bits = match key_type.kind {
        Kind::Ed25519 => {
            if r.string()?.len() != 32 {
                return Err(invalid("the public key must be 32 bytes"));
            }
            256
        }
        Kind::Ecdsa(curve) => {
            if r.string()? != curve.name() {
                return Err(KeyError::TypeMismatch(key_type.name.to_owned()));
            }
            let point = r.string()?;
            if point.first() != Some(&0x04) || point.len() != curve.point_len() {
                return Err(invalid("the curve point is not an uncompressed point"));
            }
            curve.bits()
        }
        Kind::Rsa => {
            let e = r.mpint(&invalid)?;
            if e.is_empty() {
                return Err(invalid("the public exponent is zero"));
            }
            let n = r.mpint(&invalid)?;
            let bits = bit_length(n);
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall(bits));
            }
            if bits > MAX_RSA_BITS {
                return Err(KeyError::RsaTooLarge(bits));
            }
            bits
        }
    };
    if key_type.security_key {
        let application = r.string()?;
        if application.is_empty() || application.contains(&0) {
            return Err(invalid("the security-key application is malformed"));
        }
    }
    if !r.is_empty() {
        return Err(KeyError::TrailingData);
    }
    Ok(bits)
}

/// Bit length of a big-endian unsigned magnitude without leading zero bytes.
/// Saturates at `u32::MAX` (unreachable given the input size limit).
fn bit_length(magnitude: &[u8]) -> u32 {
    match magnitude.split_first() {
        None => 0,
        Some((&first, rest)) => u32::try_from(rest.len())
            .ok()
            .and_then(|n| n.checked_mul(8))
            .and_then(|b| b.checked_add(u8::BITS.saturating_sub(first.leading_zeros())))
            .unwrap_or(u32::MAX),
    }
}

/// A cursor over SSH wire-format data (RFC 4251 §5).
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], KeyError> {
        let (head, tail) = self.buf.split_at_checked(n).ok_or(KeyError::Truncated)?;
        self.buf = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, KeyError> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| KeyError::Truncated)?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// A `string`: u32 big-endian length, then that many bytes.
    fn string(&mut self) -> Result<&'a [u8], KeyError> {
        let len = usize::try_from(self.u32()?).map_err(|_| KeyError::Truncated)?;
        self.take(len)
    }

    /// A non-negative, minimally encoded `mpint`; returns its magnitude without the sign
    /// byte (empty for zero).
    fn mpint(&mut self, invalid: &dyn Fn(&'static str) -> KeyError) -> Result<&'a [u8], KeyError> {
        let raw = self.string()?;
        match raw {
            [] => Ok(raw),
            [first, ..] if first & 0x80 != 0 => Err(invalid("an integer is negative")),
            [0, rest @ ..] => match rest.first() {
                Some(next) if next & 0x80 != 0 => Ok(rest),
                _ => Err(invalid("an integer has a superfluous leading zero")),
            },
            _ => Ok(raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        line: &'static str,
        algorithm: KeyAlgorithm,
        fingerprint: &'static str,
        bits: u32,
        comment: &'static str,
    }

    // Generated with `ssh-keygen -t ... -N ''`; fingerprints from `ssh-keygen -l -E sha256 -f key.pub`.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdFs8oCdsm9sb0P+un3Xw55LjLj4VEiTQTxLKNxqtLE alice@laptop";
    const ED25519_FP: &str = "SHA256:ULBBZFBRUlwhMbqx90EBL80VekKH9H8u0Tba1IY8nlk";
    const ECDSA256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBgMBBHag2ynDT51N9tA7/DYVKqTVRQjDWMB9l49TZPfOAA0GN15NPJonsacPB9rGdONIHJmv95g0wMZuveuV9w= bob@host-256";
    const ECDSA384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBNWJdwztCU0myuLsY32Ca4oWALzK03Fougn7LbMl6f0h8edGuuGIfd9+Mk27gA3hBtwCmfdMROwW1mnmjEd+IsGyiv/TUrviiSNWFjBW3lNErZLqlgp8WD0H+QVVmFG/9w== bob@host-384";
    const ECDSA521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAFuepVZ1yf35bezmmAK8VOFDat0dQUiv+QbxfNCPMFmwOC/ndlgAP1kccM4jzEnrc1oQOmVJ2q72aDZOk5mNWg6KAEdVFvTo1yCH4AjZwHNK4JExhMjg/Vqpob2vPeM/1v1haGCGomkFYxr4RCwqJNna8myH+0i1CCn2VCQefaj7zIJjg== bob@host-521";
    const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDaxt0Grjn47s0tkwQXG06msAsEgt55HhcPSs1zQlh80XSLvAYNMBsUmV14ToHyKQhBCMk3PkZR7Etptb6byrnAkeHXGi/xG3MRaA0EXLoX1ersssUhETNkZUfskfXKbSCyNhTqY4c10D+AIQigQw6IXJ3lf+dBOvCJuvTc+CXP3w== carol@rsa1024";
    const RSA2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDEi7QKv+1cNpFJHXdxX7TpKXABn3ZbE50wd0X/4NLgdWO+bWEYS5TNkCq0pJzSMp8ayvS8JZDvyHUmVPZKwG/Zk8ZQxryEnsKxWaX4hzrGE7NdthQmW35dtBUtngfqVmVHocVATxivAjOUzqJvFi92BON3Y3buSFAq1UwZcn9zQ2bEnPBVtuEFE7iSEWXEnOnY32L3GkVR/fEf/jI17khdEuZPUN4ZtVvy26ToLRKNz4ixVVNecwlUVuFIxgR2Xz7vrz9J2TSPEu6ez9RTgW0NhTtU0dy/jDB18zUBlCLtWgRa/gpeqkClA5tY17AkgHT/pYYJw7gAFNhluJLSt6Xb carol@rsa2048";
    const RSA3072: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCdPzoiY3zfk3PUnXdiI4q1gWOKLVrYMeZISJ/lVrtELuhBzbqBXnONJrRcVT9A9RHOooF4DVdaOQLsWWObCtNvSlUyCGBn1ZolGqRu9NY2aLcBUpqG+t4G/VYppK0DZsgMSK1IMY5jAV7LS4ev4G1h3Ke7cyO4zvAtgZuq3ZKUTBJYr1d92KTWVlA/2IKQB9ffRqSHPU28BjjdX7g1uoNwM8cUW9HMLnTIIsy7DN7CkrvcQEno49yBHBg8r1zCJmGtG3Qh5U3F1zVpxK/nTitYm1FQlGvFj06E3NJoP9vBQfS8J6IK9M2Po+zpFpnIp5ZTvQQYWVm//h1RU1sqc83FAFVAJj2rJJEsX9d+N4GQaotjWbSDuoCDxImaIRNp1OLcZHXfPT26OwTpR6mFKUbIwpwllT3gdHZO/xI3DZUcUdw/Bn4Q2OJltySA6cekHm87089knhv9DCr6UYi5hlSuvC3l5Gr+rRDbBtdyDvNrSgZvqaH2f3R5O2pwYSsYG/M= carol@rsa3072";
    // Security-key public keys from OpenSSH's test data (regress/unittests/sshkey/testdata);
    // fingerprints from `ssh-keygen -l -E sha256` (no FIDO device needed for that).
    const SK_ED25519: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAICFo/k5LU8863u66YC9eUO2170QduohPURkQnbLa/dczAAAABHNzaDo= ED25519-SK test key #1";
    const SK_ECDSA: &str = "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBGdVPkKOLUMZ7b6rZfS8BOHotic4NX4MmuyEmiuvkaeKlbb1F+5oNezRYHpcF6P104trNVEONCu1XX1CA7px+QUAAAAEc3NoOg== ECDSA-SK test key #1";

    const FIXTURES: [Fixture; 8] = [
        Fixture {
            line: ED25519,
            algorithm: KeyAlgorithm::Ed25519,
            fingerprint: ED25519_FP,
            bits: 256,
            comment: "alice@laptop",
        },
        Fixture {
            line: ECDSA256,
            algorithm: KeyAlgorithm::Ecdsa,
            fingerprint: "SHA256:scxbnP7xs5eeubBTjH/obofwdGZv3+Z8JIdKh3P0z1E",
            bits: 256,
            comment: "bob@host-256",
        },
        Fixture {
            line: ECDSA384,
            algorithm: KeyAlgorithm::Ecdsa,
            fingerprint: "SHA256:20+ggNDCdjSHVDSUDjiVf2xEkvVhZFsZF7eqHcMy/MM",
            bits: 384,
            comment: "bob@host-384",
        },
        Fixture {
            line: ECDSA521,
            algorithm: KeyAlgorithm::Ecdsa,
            fingerprint: "SHA256:c916wLaEwd4EvElFn5RczEkCm35yzWHsosZetI4Atrc",
            bits: 521,
            comment: "bob@host-521",
        },
        Fixture {
            line: RSA2048,
            algorithm: KeyAlgorithm::Rsa,
            fingerprint: "SHA256:UtG0ARA0SbYGibhFKrJGPzdq1WLBZwnT3ZvO+cvQTcA",
            bits: 2048,
            comment: "carol@rsa2048",
        },
        Fixture {
            line: RSA3072,
            algorithm: KeyAlgorithm::Rsa,
            fingerprint: "SHA256:Wpw7Jyq1m1hHpzspUm9gOKE2vSZrwAXA9QVhn3KNJpQ",
            bits: 3072,
            comment: "carol@rsa3072",
        },
        Fixture {
            line: SK_ED25519,
            algorithm: KeyAlgorithm::Ed25519,
            fingerprint: "SHA256:6WZVJ44bqhAWLVP4Ns0TDkoSQSsZo/h2K+mEvOaNFbw",
            bits: 256,
            comment: "ED25519-SK test key #1",
        },
        Fixture {
            line: SK_ECDSA,
            algorithm: KeyAlgorithm::Ecdsa,
            fingerprint: "SHA256:Go7HO0CVPYG+BSDSk9ZUJBKGSrtBExp6obTa9iqzIUo",
            bits: 256,
            comment: "ECDSA-SK test key #1",
        },
    ];

    /// `(type, base64)` of a key line.
    fn parts(line: &str) -> (&str, &str) {
        let mut it = line.split(' ');
        (it.next().unwrap(), it.next().unwrap())
    }

    fn blob_of(line: &str) -> Vec<u8> {
        STANDARD.decode(parts(line).1).unwrap()
    }

    fn line_with_blob(key_type: &str, blob: &[u8]) -> String {
        format!("{key_type} {}", STANDARD.encode(blob))
    }

    fn wire_string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&u32::try_from(s.len()).unwrap().to_be_bytes());
        out.extend_from_slice(s);
    }

    #[test]
    fn real_keys_parse_with_ssh_keygen_fingerprints() {
        for f in &FIXTURES {
            let key = parse_public_key(f.line).unwrap_or_else(|e| panic!("{}: {e}", f.line));
            assert_eq!(key.algorithm, f.algorithm, "{}", f.line);
            assert_eq!(key.fingerprint, f.fingerprint, "{}", f.line);
            assert_eq!(key.bits, f.bits, "{}", f.line);
            assert_eq!(key.comment.as_deref(), Some(f.comment), "{}", f.line);
            assert_eq!(key.normalized, f.line);
        }
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(KeyAlgorithm::Ed25519.as_str(), "ed25519");
        assert_eq!(KeyAlgorithm::Ecdsa.as_str(), "ecdsa");
        assert_eq!(KeyAlgorithm::Rsa.as_str(), "rsa");
        assert_eq!(KeyAlgorithm::Rsa.to_string(), "rsa");
    }

    #[test]
    fn rsa_1024_is_refused() {
        let err = parse_public_key(RSA1024).unwrap_err();
        assert_eq!(err, KeyError::RsaTooSmall(1024));
        assert_eq!(
            err.to_string(),
            "RSA keys must have at least 2048 bits (this one has 1024)"
        );
    }

    #[test]
    fn without_comment() {
        let (ty, data) = parts(ED25519);
        let line = format!("{ty} {data}");
        let key = parse_public_key(&line).unwrap();
        assert_eq!(key.comment, None);
        assert_eq!(key.normalized, line);
        assert_eq!(key.fingerprint, ED25519_FP);
    }

    #[test]
    fn comment_with_inner_spaces_is_kept_and_trimmed() {
        let (ty, data) = parts(ED25519);
        let key = parse_public_key(&format!("{ty} {data}   my  work\tlaptop (2024)  ")).unwrap();
        assert_eq!(key.comment.as_deref(), Some("my  work\tlaptop (2024)"));
        assert_eq!(
            key.normalized,
            format!("{ty} {data} my  work\tlaptop (2024)")
        );
    }

    #[test]
    fn whitespace_only_comment_is_none() {
        let (ty, data) = parts(ED25519);
        let key = parse_public_key(&format!("{ty} {data} \t  ")).unwrap();
        assert_eq!(key.comment, None);
        assert_eq!(key.normalized, format!("{ty} {data}"));
    }

    #[test]
    fn extra_whitespace_is_tolerated() {
        let (ty, data) = parts(ED25519);
        let padded = format!("\n\t  {ty} \t  {data}    alice@laptop \r\n");
        let key = parse_public_key(&padded).unwrap();
        assert_eq!(key.normalized, ED25519);
        assert_eq!(key.fingerprint, ED25519_FP);
        assert_eq!(key.comment.as_deref(), Some("alice@laptop"));
    }

    #[test]
    fn blob_labelled_with_the_wrong_type() {
        let (_, data) = parts(ED25519);
        let err = parse_public_key(&format!("ssh-rsa {data} x")).unwrap_err();
        assert_eq!(err, KeyError::TypeMismatch("ssh-rsa".into()));
        assert_eq!(
            err.to_string(),
            "the key data does not match its type 'ssh-rsa'"
        );
        // Same family, different curve.
        let (_, data) = parts(ECDSA256);
        let err = parse_public_key(&format!("ecdsa-sha2-nistp384 {data}")).unwrap_err();
        assert_eq!(err, KeyError::TypeMismatch("ecdsa-sha2-nistp384".into()));
    }

    #[test]
    fn curve_name_must_match_the_type() {
        let mut blob = Vec::new();
        wire_string(&mut blob, b"ecdsa-sha2-nistp256");
        wire_string(&mut blob, b"nistp384");
        let mut point = vec![4u8];
        point.extend([7u8; 64]);
        wire_string(&mut blob, &point);
        let err = parse_public_key(&line_with_blob("ecdsa-sha2-nistp256", &blob)).unwrap_err();
        assert_eq!(err, KeyError::TypeMismatch("ecdsa-sha2-nistp256".into()));
    }

    #[test]
    fn ecdsa_point_must_be_uncompressed() {
        let mut blob = Vec::new();
        wire_string(&mut blob, b"ecdsa-sha2-nistp256");
        wire_string(&mut blob, b"nistp256");
        let mut compressed = vec![2u8];
        compressed.extend([7u8; 32]);
        wire_string(&mut blob, &compressed);
        let err = parse_public_key(&line_with_blob("ecdsa-sha2-nistp256", &blob)).unwrap_err();
        assert!(matches!(err, KeyError::InvalidKeyData { .. }), "{err:?}");

        let mut blob = blob_of(ECDSA256);
        let prefix_at = blob.len() - 65;
        blob[prefix_at] = 0x05;
        let err = parse_public_key(&line_with_blob("ecdsa-sha2-nistp256", &blob)).unwrap_err();
        assert!(matches!(err, KeyError::InvalidKeyData { .. }), "{err:?}");
    }

    #[test]
    fn ed25519_key_must_be_32_bytes() {
        let mut blob = Vec::new();
        wire_string(&mut blob, b"ssh-ed25519");
        wire_string(&mut blob, &[1u8; 31]);
        let err = parse_public_key(&line_with_blob("ssh-ed25519", &blob)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key data is not a valid 'ssh-ed25519' key: the public key must be 32 bytes"
        );
    }

    #[test]
    fn truncated_blob() {
        for f in &FIXTURES {
            let (ty, _) = parts(f.line);
            let blob = blob_of(f.line);
            for cut in [1, 3, 4, 10, blob.len() / 2, blob.len() - 1] {
                let err = parse_public_key(&line_with_blob(ty, &blob[..cut])).unwrap_err();
                assert_eq!(err, KeyError::Truncated, "{ty} cut at {cut}");
            }
        }
        // Truncating the base64 text itself usually breaks the base64 first.
        let (ty, data) = parts(ED25519);
        assert!(parse_public_key(&format!("{ty} {}", &data[..data.len() - 5])).is_err());
    }

    #[test]
    fn trailing_garbage_in_blob() {
        for f in &FIXTURES {
            let (ty, _) = parts(f.line);
            let mut blob = blob_of(f.line);
            blob.extend_from_slice(b"\0junk");
            let err = parse_public_key(&line_with_blob(ty, &blob)).unwrap_err();
            assert_eq!(err, KeyError::TrailingData, "{ty}");
        }
    }

    #[test]
    fn plain_key_type_rejects_security_key_blob_and_vice_versa() {
        // An ed25519 blob with an application string appended is trailing data for ssh-ed25519.
        let mut blob = blob_of(ED25519);
        wire_string(&mut blob, b"ssh:");
        assert_eq!(
            parse_public_key(&line_with_blob("ssh-ed25519", &blob)).unwrap_err(),
            KeyError::TrailingData
        );
        // A security key without its application string is truncated.
        let mut blob = blob_of(SK_ED25519);
        blob.truncate(blob.len() - 8);
        assert_eq!(
            parse_public_key(&line_with_blob("sk-ssh-ed25519@openssh.com", &blob)).unwrap_err(),
            KeyError::Truncated
        );
    }

    #[test]
    fn not_base64() {
        let (ty, data) = parts(ED25519);
        for bad in [
            format!("{ty} {}!{}", &data[..10], &data[11..]),
            format!("{ty} ***"),
            format!("{ty} {}", &data[..data.len() - 1]),
            format!("{ty} {data}=="),
        ] {
            assert_eq!(
                parse_public_key(&bad).unwrap_err(),
                KeyError::InvalidBase64,
                "{bad}"
            );
        }
        assert_eq!(
            KeyError::InvalidBase64.to_string(),
            "the key data is not valid base64"
        );
    }

    #[test]
    fn empty_and_incomplete_input() {
        assert_eq!(parse_public_key("").unwrap_err(), KeyError::Empty);
        assert_eq!(parse_public_key(" \t\r\n ").unwrap_err(), KeyError::Empty);
        assert_eq!(
            parse_public_key("ssh-ed25519").unwrap_err(),
            KeyError::NotOpenSsh
        );
        assert_eq!(
            parse_public_key("ssh-ed25519   ").unwrap_err(),
            KeyError::NotOpenSsh
        );
        assert_eq!(
            parse_public_key("hello world").unwrap_err(),
            KeyError::NotOpenSsh
        );
        assert_eq!(
            KeyError::NotOpenSsh.to_string(),
            "not an OpenSSH public key: expected '<type> <base64> [comment]'"
        );
    }

    #[test]
    fn unsupported_types() {
        let dss = "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= me@host";
        let err = parse_public_key(dss).unwrap_err();
        assert_eq!(err, KeyError::UnsupportedType("ssh-dss".into()));
        assert_eq!(
            err.to_string(),
            "unsupported key type 'ssh-dss' (use ed25519, ecdsa or rsa)"
        );
        for ty in [
            "ssh-ed25519-cert-v01@openssh.com",
            "ssh-rsa-cert-v01@openssh.com",
            "ecdsa-sha2-nistp224",
            "SSH-ED25519",
        ] {
            let err = parse_public_key(&format!("{ty} AAAA")).unwrap_err();
            assert!(
                matches!(err, KeyError::UnsupportedType(_) | KeyError::NotOpenSsh),
                "{ty}: {err:?}"
            );
        }
        // A huge bogus type is not echoed back in full.
        let long = format!("ssh-{} AAAA", "x".repeat(5000));
        match parse_public_key(&long).unwrap_err() {
            KeyError::UnsupportedType(t) => assert_eq!(t.chars().count(), MAX_ECHOED_TYPE_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_prefix_is_refused() {
        for prefix in [
            "no-pty",
            "restrict",
            "no-agent-forwarding,no-X11-forwarding",
            "from=\"10.0.0.0/8\"",
            "command=\"echo hello world\"",
            "environment=\"A=B\",no-pty",
        ] {
            let line = format!("{prefix} {ED25519}");
            let err = parse_public_key(&line).unwrap_err();
            assert_eq!(err, KeyError::OptionsNotAllowed, "{line}");
        }
        // Options with no key after them are still reported as options.
        assert_eq!(
            parse_public_key("command=\"ls\"").unwrap_err(),
            KeyError::OptionsNotAllowed
        );
        // Options before an unsupported type are options first.
        assert_eq!(
            parse_public_key("no-pty ssh-dss AAAA").unwrap_err(),
            KeyError::OptionsNotAllowed
        );
        assert!(KeyError::OptionsNotAllowed.to_string().contains("options"));
    }

    #[test]
    fn too_long() {
        let (ty, data) = parts(ED25519);
        let line = format!("{ty} {data} {}", "c".repeat(MAX_KEY_LINE_BYTES));
        assert_eq!(parse_public_key(&line).unwrap_err(), KeyError::TooLong);
        // Surrounding whitespace counts too: the limit is on what was sent.
        let padded = format!("{}{ED25519}", " ".repeat(MAX_KEY_LINE_BYTES));
        assert_eq!(parse_public_key(&padded).unwrap_err(), KeyError::TooLong);
        // Just under the limit is fine.
        let comment = "c".repeat(MAX_KEY_LINE_BYTES - ty.len() - data.len() - 2);
        let line = format!("{ty} {data} {comment}");
        assert_eq!(line.len(), MAX_KEY_LINE_BYTES);
        assert!(parse_public_key(&line).is_ok());
    }

    #[test]
    fn private_keys_multiline_and_armoured_input() {
        let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(parse_public_key(private).unwrap_err(), KeyError::PrivateKey);
        let rfc4716 =
            "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3NzaC1lZDI1NTE5\n---- END SSH2 PUBLIC KEY ----";
        assert_eq!(parse_public_key(rfc4716).unwrap_err(), KeyError::NotOpenSsh);
        let two = format!("{ED25519}\n{RSA2048}");
        assert_eq!(parse_public_key(&two).unwrap_err(), KeyError::MultipleLines);
        let ctrl = format!("{ED25519} evil\u{1b}[2J");
        assert_eq!(
            parse_public_key(&ctrl).unwrap_err(),
            KeyError::ControlCharacters
        );
    }

    #[test]
    fn rsa_integer_encoding_rules() {
        let n_2048 = {
            let mut n = vec![0u8];
            n.push(0xc1);
            n.extend([0x55u8; 255]);
            n
        };
        let build = |e: &[u8], n: &[u8]| {
            let mut blob = Vec::new();
            wire_string(&mut blob, b"ssh-rsa");
            wire_string(&mut blob, e);
            wire_string(&mut blob, n);
            line_with_blob("ssh-rsa", &blob)
        };
        let ok = parse_public_key(&build(&[1, 0, 1], &n_2048)).unwrap();
        assert_eq!(ok.bits, 2048);
        // Negative modulus (no sign byte).
        assert!(matches!(
            parse_public_key(&build(&[1, 0, 1], &n_2048[1..])).unwrap_err(),
            KeyError::InvalidKeyData { .. }
        ));
        // Superfluous leading zero.
        let mut padded = vec![0u8];
        padded.extend(&n_2048);
        assert!(matches!(
            parse_public_key(&build(&[1, 0, 1], &padded)).unwrap_err(),
            KeyError::InvalidKeyData { .. }
        ));
        // Zero exponent.
        assert!(matches!(
            parse_public_key(&build(&[], &n_2048)).unwrap_err(),
            KeyError::InvalidKeyData { .. }
        ));
        // 2047 bits is refused, 16385 bits is refused.
        let mut n_2047 = vec![0x41u8];
        n_2047.extend([0x55u8; 255]);
        assert_eq!(
            parse_public_key(&build(&[3], &n_2047)).unwrap_err(),
            KeyError::RsaTooSmall(2047)
        );
        let mut n_16385 = vec![0x01u8];
        n_16385.extend([0x55u8; 2048]);
        assert_eq!(
            parse_public_key(&build(&[3], &n_16385)).unwrap_err(),
            KeyError::RsaTooLarge(16385)
        );
    }

    #[test]
    fn huge_length_prefix_does_not_panic() {
        let mut blob = Vec::new();
        blob.extend(u32::MAX.to_be_bytes());
        blob.extend(b"ssh-ed25519");
        assert_eq!(
            parse_public_key(&line_with_blob("ssh-ed25519", &blob)).unwrap_err(),
            KeyError::Truncated
        );
        let mut blob = Vec::new();
        wire_string(&mut blob, b"ssh-ed25519");
        blob.extend(0xffff_fff0u32.to_be_bytes());
        assert_eq!(
            parse_public_key(&line_with_blob("ssh-ed25519", &blob)).unwrap_err(),
            KeyError::Truncated
        );
    }

    #[test]
    fn error_messages_are_sentences() {
        let errors = [
            KeyError::Empty,
            KeyError::TooLong,
            KeyError::PrivateKey,
            KeyError::MultipleLines,
            KeyError::ControlCharacters,
            KeyError::NotOpenSsh,
            KeyError::OptionsNotAllowed,
            KeyError::UnsupportedType("ssh-dss".into()),
            KeyError::InvalidBase64,
            KeyError::TypeMismatch("ssh-ed25519".into()),
            KeyError::Truncated,
            KeyError::TrailingData,
            KeyError::InvalidKeyData {
                key_type: "ssh-rsa".into(),
                reason: "an integer is negative",
            },
            KeyError::RsaTooSmall(1024),
            KeyError::RsaTooLarge(20000),
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(msg.len() > 10 && !msg.contains("{"), "{msg}");
        }
        assert_eq!(
            KeyError::TypeMismatch("ssh-ed25519".into()).to_string(),
            "the key data does not match its type 'ssh-ed25519'"
        );
    }

    /// Deterministic xorshift64 generator.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        fn byte(&mut self) -> u8 {
            (self.next() >> 24) as u8
        }
    }

    /// If a line parses, its normalised form must parse to the same key.
    fn check_no_panic(line: &str) {
        if let Ok(key) = parse_public_key(line) {
            let again = parse_public_key(&key.normalized).unwrap();
            assert_eq!(again, key, "{line:?}");
            assert!(key.fingerprint.starts_with("SHA256:"));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let len = rng.below(300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            check_no_panic(&String::from_utf8_lossy(&bytes));
            // The same bytes as a blob behind every supported type.
            for t in &KEY_TYPES {
                check_no_panic(&line_with_blob(t.name, &bytes));
            }
        }
    }

    #[test]
    fn random_base64ish_text_never_panics() {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t-@.,\"";
        let prefixes = [
            "",
            "ssh-ed25519 ",
            "ssh-rsa ",
            "ecdsa-sha2-nistp521 ",
            "sk-",
            "no-pty ",
        ];
        let mut rng = XorShift(42);
        for _ in 0..3000 {
            let mut line = prefixes[rng.below(prefixes.len())].to_owned();
            for _ in 0..rng.below(200) {
                line.push(char::from(ALPHABET[rng.below(ALPHABET.len())]));
            }
            check_no_panic(&line);
        }
    }

    #[test]
    fn mutated_valid_keys_never_panic() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for i in 0..4000 {
            let f = &FIXTURES[i % FIXTURES.len()];
            let (ty, _) = parts(f.line);
            let mut blob = blob_of(f.line);
            match rng.below(5) {
                0 => {
                    // Flip a few random bytes: may or may not stay valid.
                    for _ in 0..=rng.below(3) {
                        let at = rng.below(blob.len());
                        blob[at] ^= rng.byte() | 1;
                    }
                    check_no_panic(&line_with_blob(ty, &blob));
                }
                1 => {
                    // Every strict, non-empty prefix of a valid blob is truncated.
                    blob.truncate(1 + rng.below(blob.len() - 1));
                    let line = line_with_blob(ty, &blob);
                    assert_eq!(parse_public_key(&line), Err(KeyError::Truncated), "{line}");
                }
                2 => {
                    // Anything appended to a valid blob is trailing data.
                    for _ in 0..=rng.below(8) {
                        blob.push(rng.byte());
                    }
                    let line = line_with_blob(ty, &blob);
                    assert_eq!(
                        parse_public_key(&line),
                        Err(KeyError::TrailingData),
                        "{line}"
                    );
                }
                3 => {
                    // Corrupt a byte of the embedded type string (length prefix or name;
                    // the shortest, "ssh-rsa", spans 11 bytes).
                    let at = rng.below(11);
                    blob[at] ^= rng.byte() | 1;
                    let line = line_with_blob(ty, &blob);
                    assert!(parse_public_key(&line).is_err(), "{line}");
                }
                _ => {
                    // Mutate the text line instead of the blob.
                    let mut text: Vec<u8> = f.line.as_bytes().to_vec();
                    let at = rng.below(text.len());
                    text[at] = rng.byte();
                    check_no_panic(&String::from_utf8_lossy(&text));
                }
            }
        }
    }
}
