//! Log file integrity validation as the plugin reads (`logFileValidation`): CloudTrail's
//! signed hourly digests prove that each log file is the one CloudTrail wrote, that
//! none was deleted, and that none was slipped in; the plugin checks them beside the
//! files it reads and reports every failure as an event of its own stream.
//!
//! [`digest`] reads digest files, [`checker::Checker`] holds what waits for a digest
//! and decides (no I/O: the sources fetch, it judges), [`event`] writes a finding as a
//! CloudTrail-shaped record with an event source AWS never uses
//! (`integrity.cloudtrail-plugin`), so every `ct.*` field and Falco rule works on it.

pub mod checker;
pub mod digest;
pub mod event;

/// What went wrong (the event's `eventName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A log file's SHA-256 differs from the one its digest lists.
    LogFileModified,
    /// A log file the plugin read is listed by no digest covering its time.
    LogFileNotInDigest,
    /// A digest lists a log file the bucket does not have.
    LogFileMissing,
    /// A digest whose signature does not verify, signed by an unknown key, not where
    /// it says it is, or not a digest at all.
    DigestInvalid,
    /// A digest that does not continue the one before it.
    DigestChainBroken,
    /// No digest where one must be (named by the next one, or none for hours).
    DigestMissing,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::LogFileModified,
        Kind::LogFileNotInDigest,
        Kind::LogFileMissing,
        Kind::DigestInvalid,
        Kind::DigestChainBroken,
        Kind::DigestMissing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::LogFileModified => "LogFileModified",
            Kind::LogFileNotInDigest => "LogFileNotInDigest",
            Kind::LogFileMissing => "LogFileMissing",
            Kind::DigestInvalid => "DigestInvalid",
            Kind::DigestChainBroken => "DigestChainBroken",
            Kind::DigestMissing => "DigestMissing",
        }
    }
}

/// One failure, with what the event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub account: String,
    pub region: String,
    pub bucket: String,
    pub log_file: Option<String>,
    pub digest_file: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    /// A sentence for the log and the event's `errorMessage`.
    pub detail: String,
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Bytes of a hex string (either case); `None` when it is not one.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Whether `signature` is `public_key`'s SHA256withRSA (PKCS #1 v1.5) signature of
/// `message`; `public_key` is a DER `RSAPublicKey`, as `ListPublicKeys` gives it.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(message, signature)
    .is_ok()
}

/// SHA-256 of a stream, fed as it is read.
pub struct Hasher(ring::digest::Context);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(ring::digest::Context::new(&ring::digest::SHA256))
    }
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish_hex(self) -> String {
        hex(self.0.finish().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_hashes_match_known_values() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut h = Hasher::default();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish_hex(), sha256_hex(b"abc"));
        assert!(!verify(b"not a key", b"m", b"s"));
    }
}
