//! What waits for a digest, and the verdicts (no I/O: sources fetch and report, the
//! checker decides).
//!
//! A log file the plugin reads waits, with its SHA-256, until a valid digest lists it
//! (hash compared: [`Kind::LogFileModified`]), or until valid digests of its account
//! and region cover [`GRACE`] past its time without listing it
//! ([`Kind::LogFileNotInDigest`]). A file a valid digest lists waits until the plugin
//! reads it (hash compared), or, [`GRACE`] after the digest, is looked for in the
//! bucket: gone is [`Kind::LogFileMissing`]. Each digest is verified (signature with
//! the key its fingerprint names, its own bucket and key inside it) and, per trail
//! and region, chained to the one before: its `previousDigestSignature` and
//! `previousDigestHashValue` must be those of the digest it names. A digest named by
//! the next one but absent, or an hour with files and no digest [`GRACE`] after it,
//! is [`Kind::DigestMissing`]; the files of such an hour (or of an invalid digest's
//! hour) are not reported again one by one. Backfill digests (late files) are checked
//! and their files matched, outside the hourly chain.
//!
//! State is bounded ([`MAX_PENDING`] files each way, [`MAX_CHAINS`] chains; beyond,
//! the oldest is dropped and counted) and saved in the checkpoint when there is one.

use std::collections::{BTreeMap, HashMap};

use super::digest::{
    Digest, Listed, account_region, digest_folder_of_log, digest_key_time, digest_name,
};
use super::{Finding, Kind, sha256_hex, unhex, verify};
use crate::json::doc::Doc;
use crate::json::{View, write_string};

/// How long after a file's time, or after a digest, a verdict waits: CloudTrail
/// delivers a digest about an hour after the hour it covers, and late files later.
pub const GRACE: i64 = 2 * 3600;
/// How early a file may be named before the digest hour that lists it (CloudTrail
/// names a file when it starts writing it and delivers it minutes later).
const DELIVERY_SLACK: i64 = 15 * 60;
/// Files kept waiting each way, at most.
pub const MAX_PENDING: usize = 200_000;
/// Digest chains (trail × account × region) and folders tracked, at most.
pub const MAX_CHAINS: usize = 20_000;
/// Gaps (missing or invalid digest hours) remembered per folder, at most.
const MAX_GAPS: usize = 64;

/// A log file read, waiting for a digest to list it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    hash: String,
    /// Its time: the name's, else when it was read.
    at: i64,
}

/// A log file a digest lists, waiting to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    hash: String,
    digest: String,
    /// The digest's end time.
    since: i64,
}

/// The last valid digest of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    key: String,
    signature: String,
    hash: String,
    end: i64,
}

/// What the valid digests of one account and region cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Coverage {
    /// The latest end time of a valid digest.
    until: i64,
    /// Hours that have no valid digest (missing or invalid), reported already.
    gaps: Vec<(i64, i64)>,
}

/// A digest object as fetched: its uncompressed content and the S3 metadata that
/// carries its signature.
pub struct Fetched<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Uncompressed, or why it could not be read.
    pub content: Result<&'a [u8], String>,
    pub signature: Option<&'a str>,
    pub algorithm: Option<&'a str>,
}

/// A digest could not be judged now (a key could not be fetched): try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Later;

/// A verified digest's place and signature, for the chain.
struct Signed<'a> {
    bucket: &'a str,
    key: &'a str,
    signature: &'a str,
    hash: &'a str,
}

/// Answers the checker needs from the outside.
pub trait World {
    /// The DER public key with this fingerprint for `region`, if CloudTrail has one
    /// (`Err`: cannot tell now; the digest is tried again later).
    fn public_key(
        &mut self,
        region: &str,
        fingerprint: &str,
        around: i64,
    ) -> Result<Option<Vec<u8>>, Later>;
    /// Whether `bucket/key` exists (`None`: cannot tell now).
    fn exists(&mut self, bucket: &str, key: &str) -> Option<bool>;
}

/// Answers to [`World::exists`] asked beforehand, so that the network is not used while
/// the checker is held (workers report every file they read to it); a question not
/// answered beforehand goes to `inner`.
pub struct Answered<'a> {
    pub exists: HashMap<(String, String), Option<bool>>,
    pub inner: &'a mut dyn World,
}

impl World for Answered<'_> {
    fn public_key(
        &mut self,
        region: &str,
        fingerprint: &str,
        around: i64,
    ) -> Result<Option<Vec<u8>>, Later> {
        self.inner.public_key(region, fingerprint, around)
    }

    fn exists(&mut self, bucket: &str, key: &str) -> Option<bool> {
        match self.exists.get(&(bucket.to_string(), key.to_string())) {
            Some(known) => *known,
            None => self.inner.exists(bucket, key),
        }
    }
}

#[derive(Default)]
pub struct Checker {
    read: HashMap<(String, String), Read>,
    listed: HashMap<(String, String), Expected>,
    /// (digest folder, trail) → its last valid digest.
    chains: HashMap<(String, String), Head>,
    /// digest folder → coverage.
    coverage: HashMap<String, Coverage>,
    /// Entries dropped at the caps.
    pub dropped: u64,
    /// Digests that verified, and log files whose hash matched their digest.
    pub valid_digests: u64,
    pub valid_files: u64,
    /// Files are local copies (a synced directory): a file is known by its key from
    /// `AWSLogs/` on, whatever bucket and prefix it was copied from.
    pub local: bool,
}

/// The part of a key from `AWSLogs/` on (a copy's path below its root may start
/// there, or deeper in the bucket's prefix).
pub fn from_awslogs(key: &str) -> &str {
    key.find("AWSLogs/").map_or(key, |i| &key[i..])
}

/// The time in a log file's name (`…_YYYYMMDDTHHMMZ_…`).
fn name_time(key: &str) -> Option<i64> {
    crate::interval::stamp_secs(&crate::interval::key_stamp(key)?)
}

fn finding(kind: Kind, bucket: &str, key: &str, detail: String) -> Finding {
    let (account, region) = account_region(key);
    Finding {
        kind,
        account,
        region,
        bucket: bucket.to_string(),
        log_file: None,
        digest_file: None,
        expected: None,
        actual: None,
        detail,
    }
}

/// `"name":[[text…,number],…]`: a table of the checkpoint state.
fn push_rows<'a, const N: usize>(
    s: &mut String,
    name: &str,
    rows: impl Iterator<Item = ([&'a str; N], i64)>,
) {
    write_string(s, name);
    s.push_str(":[");
    for (i, (texts, number)) in rows.enumerate() {
        s.push_str(if i > 0 { ",[" } else { "[" });
        for t in texts {
            write_string(s, t);
            s.push(',');
        }
        s.push_str(&format!("{number}]"));
    }
    s.push(']');
}

impl Checker {
    /// Files waiting for a digest, and files a digest listed waiting to be read.
    pub fn pending(&self) -> (usize, usize) {
        (self.read.len(), self.listed.len())
    }

    /// How a file is known: its bucket and key, or for local copies its key from
    /// `AWSLogs/` on.
    fn id(&self, bucket: &str, key: &str) -> (String, String) {
        if self.local {
            (String::new(), from_awslogs(key).to_string())
        } else {
            (bucket.to_string(), key.to_string())
        }
    }

    /// The plugin read `bucket/key` whole; `hash` is the hex SHA-256 of its
    /// uncompressed content, `now` the time.
    pub fn file_read(&mut self, bucket: &str, key: &str, hash: String, now: i64) -> Vec<Finding> {
        let id = self.id(bucket, key);
        if let Some(e) = self.listed.remove(&id) {
            return self.compare(bucket, key, &e.digest, &e.hash, &hash);
        }
        if self.read.len() >= MAX_PENDING {
            self.dropped += 1;
            return Vec::new();
        }
        let at = name_time(key).unwrap_or(now);
        self.read.insert(id, Read { hash, at });
        Vec::new()
    }

    fn compare(
        &mut self,
        bucket: &str,
        key: &str,
        digest: &str,
        want: &str,
        got: &str,
    ) -> Vec<Finding> {
        if want.eq_ignore_ascii_case(got) {
            self.valid_files += 1;
            return Vec::new();
        }
        let mut f = finding(
            Kind::LogFileModified,
            bucket,
            key,
            format!(
                "s3://{bucket}/{key} is not the file CloudTrail delivered: its SHA-256 differs from the one its digest lists"
            ),
        );
        f.log_file = Some(key.to_string());
        f.digest_file = Some(digest.to_string());
        f.expected = Some(want.to_string());
        f.actual = Some(got.to_string());
        vec![f]
    }

    /// A digest object was fetched: verify it, chain it, and match its files.
    pub fn digest(&mut self, d: Fetched, world: &mut dyn World) -> Result<Vec<Finding>, Later> {
        let (bucket, key) = (d.bucket, d.key);
        let invalid = |this: &mut Self, why: String| {
            this.gap(key, None);
            let mut f = finding(
                Kind::DigestInvalid,
                bucket,
                key,
                format!("digest s3://{bucket}/{key} is not valid: {why}"),
            );
            f.digest_file = Some(key.to_string());
            Ok(vec![f])
        };
        let content = match d.content {
            Ok(c) => c,
            Err(e) => return invalid(self, e),
        };
        let digest = match Digest::parse(content) {
            Ok(x) => x,
            Err(e) => return invalid(self, e),
        };
        let moved = if self.local {
            from_awslogs(&digest.key) != from_awslogs(d.key)
        } else {
            digest.bucket != d.bucket || digest.key != d.key
        };
        if moved {
            return invalid(
                self,
                format!(
                    "it says it is s3://{}/{}: moved from its place",
                    digest.bucket, digest.key
                ),
            );
        }
        let Some(signature) = d.signature.and_then(unhex) else {
            return invalid(self, "no hex signature in its metadata".into());
        };
        if d.algorithm.is_some_and(|a| a != "SHA256withRSA") || digest.algorithm != "SHA256withRSA"
        {
            return invalid(
                self,
                format!(
                    "signature algorithm {} is not SHA256withRSA",
                    digest.algorithm
                ),
            );
        }
        let (_, region) = account_region(d.key);
        let Some(public) = world.public_key(&region, &digest.fingerprint, digest.end_secs)? else {
            return invalid(
                self,
                format!(
                    "signed by a key CloudTrail does not know in {region} (fingerprint {})",
                    digest.fingerprint
                ),
            );
        };
        let content_hash = sha256_hex(content);
        if !verify(
            &public,
            digest.signed_text(&content_hash).as_bytes(),
            &signature,
        ) {
            return invalid(self, "its signature does not verify".into());
        }
        self.valid_digests += 1;
        let mut out = Vec::new();
        if let Some(name) = digest_name(key).filter(|n| !n.backfill) {
            let at = Signed {
                bucket,
                key,
                signature: d.signature.unwrap_or_default(),
                hash: &content_hash,
            };
            out.extend(self.chain(&digest, &at, (name.folder.clone(), name.trail), world));
            let c = self.coverage.entry(name.folder).or_default();
            c.until = c.until.max(digest.end_secs);
        }
        for Listed {
            bucket: log_bucket,
            key: log_key,
            hash,
        } in digest.logs
        {
            let id = self.id(&log_bucket, &log_key);
            if let Some(r) = self.read.remove(&id) {
                out.extend(self.compare(&id.0, &id.1, key, &hash, &r.hash));
            } else if self.listed.len() < MAX_PENDING {
                let e = Expected {
                    hash,
                    digest: key.to_string(),
                    since: digest.end_secs,
                };
                self.listed.insert(id, e);
            } else {
                self.dropped += 1;
            }
        }
        Ok(out)
    }

    /// The previous digest whose existence judging `digest` (at `bucket/key`) will
    /// ask about: the one it names, unless that is its chain's head already judged or
    /// the head is newer. Asked beforehand, so a caller answers it over the network
    /// without holding the checker.
    pub fn previous_to_check(
        &self,
        bucket: &str,
        key: &str,
        digest: &Digest,
    ) -> Option<(String, String)> {
        let name = digest_name(key).filter(|n| !n.backfill)?;
        let prev = digest.previous_key.as_ref()?;
        let head = self.chains.get(&(name.folder, name.trail));
        if head.is_some_and(|h| *prev == h.key || h.end >= digest.end_secs) {
            return None;
        }
        let bucket = digest.previous_bucket.as_deref().unwrap_or(bucket);
        Some((bucket.to_string(), prev.clone()))
    }

    /// The listed files whose existence the next [`Checker::expire`] at `now` asks
    /// about (`last`: see there).
    pub fn listed_due(&self, now: i64, last: bool) -> Vec<(String, String)> {
        self.listed
            .iter()
            .filter(|(_, e)| last || now >= e.since + GRACE)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Chains a valid digest to the last one of its trail and region.
    fn chain(
        &mut self,
        digest: &Digest,
        d: &Signed,
        id: (String, String),
        world: &mut dyn World,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        let head = self.chains.get(&id).cloned();
        if let Some((bucket, prev)) = self.previous_to_check(d.bucket, d.key, digest) {
            if world.exists(&bucket, &prev) == Some(false) {
                let from = head
                    .as_ref()
                    .map(|h| h.end)
                    .or_else(|| digest_key_time(&prev).map(|t| t - 3600));
                self.gap(&prev, from.map(|f| (f, digest.start_secs)));
                let mut f = finding(
                    Kind::DigestMissing,
                    &bucket,
                    &prev,
                    format!(
                        "digest s3://{bucket}/{prev}, named by s3://{}/{} as the one before it, is not in the bucket",
                        d.bucket, d.key
                    ),
                );
                f.digest_file = Some(prev);
                out.push(f);
            }
        } else if let (Some(h), Some(prev)) = (&head, &digest.previous_key)
            && *prev == h.key
        {
            let sig_ok = digest.previous_signature.as_deref() == Some(h.signature.as_str());
            let hash_ok = digest
                .previous_hash
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(&h.hash));
            if !(sig_ok && hash_ok) {
                let mut f = finding(
                    Kind::DigestChainBroken,
                    d.bucket,
                    d.key,
                    format!(
                        "digest s3://{}/{} does not continue {prev}: the previous digest's {} differs",
                        d.bucket,
                        d.key,
                        if sig_ok { "SHA-256" } else { "signature" }
                    ),
                );
                f.digest_file = Some(d.key.to_string());
                f.expected = Some(if sig_ok {
                    h.hash.clone()
                } else {
                    h.signature.clone()
                });
                f.actual = Some(if sig_ok {
                    digest.previous_hash.clone().unwrap_or_default()
                } else {
                    digest
                        .previous_signature
                        .clone()
                        .unwrap_or_else(|| "null".into())
                });
                out.push(f);
            }
        }
        if head.is_none_or(|h| h.end < digest.end_secs) {
            if !self.chains.contains_key(&id) && self.chains.len() >= MAX_CHAINS {
                self.dropped += 1;
                return out;
            }
            self.chains.insert(
                id,
                Head {
                    key: d.key.to_string(),
                    signature: d.signature.to_ascii_lowercase(),
                    hash: d.hash.to_string(),
                    end: digest.end_secs,
                },
            );
        }
        out
    }

    /// Remembers an hour without a valid digest (`window`, else the hour before the
    /// time in `digest_key`), so its files are not reported one by one.
    fn gap(&mut self, digest_key: &str, window: Option<(i64, i64)>) {
        let Some(name) = digest_name(digest_key) else {
            return;
        };
        let Some(w) = window.or_else(|| digest_key_time(digest_key).map(|t| (t - 3600, t))) else {
            return;
        };
        let c = self.coverage.entry(name.folder).or_default();
        if c.gaps.len() >= MAX_GAPS {
            c.gaps.remove(0);
        }
        c.gaps.push(w);
    }

    /// Verdicts that time decides. `now`: the time; `last`: the source has read
    /// everything it will (a one-shot read at its end), so files a digest lists are
    /// looked for now rather than after [`GRACE`].
    pub fn expire(&mut self, now: i64, last: bool, world: &mut dyn World) -> Vec<Finding> {
        let mut out = Vec::new();
        // Files read that no digest lists.
        let mut done = Vec::new();
        let mut missing_hours: BTreeMap<(String, String, i64), ()> = BTreeMap::new();
        for ((bucket, key), r) in &self.read {
            let Some(folder) = digest_folder_of_log(key) else {
                done.push((bucket.clone(), key.clone()));
                continue;
            };
            let c = self.coverage.get(&folder).cloned().unwrap_or_default();
            let in_gap = c
                .gaps
                .iter()
                .any(|(a, b)| r.at >= a - DELIVERY_SLACK && r.at < *b);
            if c.until >= r.at + GRACE {
                if !in_gap {
                    let mut f = finding(
                        Kind::LogFileNotInDigest,
                        bucket,
                        key,
                        format!(
                            "s3://{bucket}/{key} is listed in no digest of its hour: CloudTrail did not deliver it"
                        ),
                    );
                    f.log_file = Some(key.clone());
                    f.actual = Some(r.hash.clone());
                    out.push(f);
                }
                done.push((bucket.clone(), key.clone()));
            } else if now >= r.at + GRACE && c.until < r.at && !in_gap {
                missing_hours.insert((bucket.clone(), folder, r.at.div_euclid(3600) * 3600), ());
                done.push((bucket.clone(), key.clone()));
            }
        }
        for id in done {
            self.read.remove(&id);
        }
        for (bucket, folder, hour) in missing_hours.into_keys() {
            let c = self.coverage.entry(folder.clone()).or_default();
            if c.gaps.iter().any(|(a, b)| hour >= *a && hour < *b) {
                continue;
            }
            if c.gaps.len() >= MAX_GAPS {
                c.gaps.remove(0);
            }
            c.gaps.push((hour, hour + 3600));
            let mut f = finding(
                Kind::DigestMissing,
                &bucket,
                &folder,
                format!(
                    "no digest covers the hour from {} in s3://{bucket}/{folder}, {} h after it, though the plugin read log files of that hour",
                    crate::interval::rfc3339(hour),
                    GRACE / 3600
                ),
            );
            f.digest_file = Some(folder);
            out.push(f);
        }
        // Files listed and not read: gone from the bucket?
        for (bucket, key) in self.listed_due(now, last) {
            match world.exists(&bucket, &key) {
                Some(false) => {
                    let Some(e) = self.listed.remove(&(bucket.clone(), key.clone())) else {
                        continue;
                    };
                    let mut f = finding(
                        Kind::LogFileMissing,
                        &bucket,
                        &key,
                        format!(
                            "s3://{bucket}/{key} is listed in a digest but not in the bucket: deleted after delivery"
                        ),
                    );
                    f.log_file = Some(key);
                    f.digest_file = Some(e.digest);
                    f.expected = Some(e.hash);
                    out.push(f);
                }
                // There, but not for this source to read (outside its selection).
                Some(true) => {
                    self.listed.remove(&(bucket, key));
                }
                None => {}
            }
        }
        out
    }

    /// The state as JSON (for the checkpoint).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        push_rows(
            &mut s,
            "read",
            self.read
                .iter()
                .map(|((b, k), r)| ([b.as_str(), k, &r.hash], r.at)),
        );
        s.push(',');
        push_rows(
            &mut s,
            "listed",
            self.listed
                .iter()
                .map(|((b, k), e)| ([b.as_str(), k, &e.hash, &e.digest], e.since)),
        );
        s.push(',');
        push_rows(
            &mut s,
            "chains",
            self.chains
                .iter()
                .map(|((f, t), h)| ([f.as_str(), t, &h.key, &h.signature, &h.hash], h.end)),
        );
        s.push_str(",\"coverage\":[");
        for (i, (f, c)) in self.coverage.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('[');
            write_string(&mut s, f);
            s.push_str(&format!(",{},[", c.until));
            for (j, (a, b)) in c.gaps.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(&format!("[{a},{b}]"));
            }
            s.push_str("]]");
        }
        s.push_str("]}");
        s
    }

    /// The state [`Checker::to_json`] wrote; `None` when the text is not that.
    pub fn from_json(text: &[u8]) -> Option<Checker> {
        let doc = Doc::parse(text)?;
        let v = doc.view();
        let mut c = Checker::default();
        let rows = |name: &str, f: &mut dyn FnMut(Vec<u32>) -> Option<()>| -> Option<()> {
            let Some(list) = v.path(&[name]) else {
                return Some(());
            };
            let mut ok = true;
            v.each_element(list, &mut |row| {
                let mut cells = Vec::new();
                v.each_element(row, &mut |c| {
                    cells.push(c);
                    true
                });
                ok = f(cells).is_some();
                ok
            });
            ok.then_some(())
        };
        let s = |id: u32| v.text(id).map(crate::json::into_string);
        let n = |id: u32| std::str::from_utf8(v.raw(id)).ok()?.parse::<i64>().ok();
        // Cell `i` of a row, as text or as a number.
        let s_at = |r: &[u32], i: usize| r.get(i).and_then(|&id| s(id));
        let n_at = |r: &[u32], i: usize| r.get(i).and_then(|&id| n(id));
        rows("read", &mut |r| {
            let at = n_at(&r, 3)?;
            c.read.insert(
                (s_at(&r, 0)?, s_at(&r, 1)?),
                Read {
                    hash: s_at(&r, 2)?,
                    at,
                },
            );
            Some(())
        })?;
        rows("listed", &mut |r| {
            let e = Expected {
                hash: s_at(&r, 2)?,
                digest: s_at(&r, 3)?,
                since: n_at(&r, 4)?,
            };
            c.listed.insert((s_at(&r, 0)?, s_at(&r, 1)?), e);
            Some(())
        })?;
        rows("chains", &mut |r| {
            let h = Head {
                key: s_at(&r, 2)?,
                signature: s_at(&r, 3)?,
                hash: s_at(&r, 4)?,
                end: n_at(&r, 5)?,
            };
            c.chains.insert((s_at(&r, 0)?, s_at(&r, 1)?), h);
            Some(())
        })?;
        rows("coverage", &mut |r| {
            let mut cov = Coverage {
                until: n_at(&r, 1)?,
                gaps: Vec::new(),
            };
            let mut ok = true;
            v.each_element(*r.get(2)?, &mut |g| {
                let a = v.element(g, 0).and_then(n);
                let b = v.element(g, 1).and_then(n);
                match (a, b) {
                    (Some(a), Some(b)) => cov.gaps.push((a, b)),
                    _ => ok = false,
                }
                ok
            });
            c.coverage.insert(s_at(&r, 0)?, cov);
            ok.then_some(())
        })?;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0005Z_a.json.gz";
    const DIGEST: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010131Z.json.gz";

    struct Nothing;

    impl World for Nothing {
        fn public_key(&mut self, _: &str, _: &str, _: i64) -> Result<Option<Vec<u8>>, Later> {
            Ok(None)
        }
        fn exists(&mut self, _: &str, _: &str) -> Option<bool> {
            None
        }
    }

    #[test]
    fn times_come_from_the_names() {
        assert_eq!(name_time(LOG), Some(1_709_251_500));
        assert_eq!(digest_key_time(DIGEST), Some(1_709_254_891));
        let backfill = DIGEST.replace(".json.gz", "_backfill.json.gz");
        assert_eq!(digest_key_time(&backfill), Some(1_709_254_891));
        assert_eq!(digest_key_time("x.json.gz"), None);
    }

    #[test]
    fn what_waits_survives_a_restart() {
        let mut c = Checker::default();
        assert!(c.file_read("b", LOG, "aa".into(), 5).is_empty());
        // A digest that cannot be judged now leaves everything as it was.
        let d = Fetched {
            bucket: "b",
            key: DIGEST,
            content: Err("not gzip".into()),
            signature: None,
            algorithm: None,
        };
        let found = c.digest(d, &mut Nothing).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::DigestInvalid);
        assert_eq!(found[0].account, "111122223333");
        assert_eq!(found[0].region, "us-east-1");
        c.listed.insert(
            ("b".into(), "k".into()),
            Expected {
                hash: "bb".into(),
                digest: DIGEST.into(),
                since: 7,
            },
        );
        c.chains.insert(
            ("f".into(), "t".into()),
            Head {
                key: DIGEST.into(),
                signature: "cc".into(),
                hash: "dd".into(),
                end: 9,
            },
        );
        let text = c.to_json();
        let back = Checker::from_json(text.as_bytes()).unwrap();
        assert_eq!(back.read, c.read);
        assert_eq!(back.listed, c.listed);
        assert_eq!(back.chains, c.chains);
        assert_eq!(back.coverage, c.coverage);
        assert_eq!(back.pending(), (1, 1));
        // The invalid digest's hour is a gap: its files are not reported one by one.
        assert_eq!(back.coverage.values().next().unwrap().gaps.len(), 1);
        assert!(Checker::from_json(b"{\"read\":[[1]]}").is_none());
        assert!(Checker::from_json(b"{\"read\":[[\"b\"]]}").is_none());
        assert!(Checker::from_json(b"{}").is_some());
    }

    #[test]
    fn only_a_previous_digest_not_judged_is_asked_about() {
        let mut c = Checker::default();
        let name = digest_name(DIGEST).unwrap();
        let head = DIGEST.replace("T010131Z", "T000131Z");
        c.chains.insert(
            (name.folder, name.trail),
            Head {
                key: head.clone(),
                signature: "cc".into(),
                hash: "dd".into(),
                end: 1_709_251_291,
            },
        );
        let mut d = Digest {
            account: "111122223333".into(),
            start: String::new(),
            end: String::new(),
            start_secs: 1_709_251_291,
            end_secs: 1_709_254_891,
            bucket: "b".into(),
            key: DIGEST.into(),
            fingerprint: String::new(),
            algorithm: "SHA256withRSA".into(),
            previous_bucket: None,
            previous_key: Some(head),
            previous_hash: None,
            previous_signature: None,
            logs: Vec::new(),
        };
        // It continues the head: nothing to ask.
        assert_eq!(c.previous_to_check("b", DIGEST, &d), None);
        // It names another digest, in another bucket: that one.
        let other = DIGEST.replace("T010131Z", "T003000Z");
        d.previous_key = Some(other.clone());
        d.previous_bucket = Some("elsewhere".into());
        assert_eq!(
            c.previous_to_check("b", DIGEST, &d),
            Some(("elsewhere".into(), other.clone()))
        );
        // Backfill digests are not chained; an older digest than the head neither.
        let backfill = DIGEST.replace(".json.gz", "_backfill.json.gz");
        assert_eq!(c.previous_to_check("b", &backfill, &d), None);
        d.end_secs = 1_709_251_000;
        assert_eq!(c.previous_to_check("b", DIGEST, &d), None);
        // An answer given beforehand is used; anything else is asked of the world.
        let mut answered = Answered {
            exists: HashMap::from([(("elsewhere".to_string(), other.clone()), Some(false))]),
            inner: &mut Nothing,
        };
        assert_eq!(answered.exists("elsewhere", &other), Some(false));
        assert_eq!(answered.exists("b", &other), None);
    }

    #[test]
    fn listed_files_are_due_after_the_grace_or_at_the_end() {
        let mut c = Checker::default();
        c.listed.insert(
            ("b".into(), "k".into()),
            Expected {
                hash: "bb".into(),
                digest: DIGEST.into(),
                since: 100,
            },
        );
        assert!(c.listed_due(100 + GRACE - 1, false).is_empty());
        assert_eq!(c.listed_due(100, true), vec![("b".into(), "k".into())]);
        assert_eq!(c.listed_due(100 + GRACE, false).len(), 1);
    }
}
