//! One record: its index and upstream's emission rules.
//!
//! Upstream emits a record iff fastjson parses it, its first `eventTime` is a string
//! Go reads as RFC 3339, and its first `eventType` is a string other than
//! `AwsCloudTrailInsight`. The strict simd-json tape decides the common case; a record
//! it rejects (or one too large to index) is checked with the lenient grammar and then
//! read through [`LazyView`], so no record upstream would emit is lost.

use std::borrow::Cow;

use crate::json::View;
use crate::json::lazy::LazyView;
use crate::json::lenient;
use crate::json::tape::{Indexer, TapeError, TapeIndex, TapeView};
use crate::time::parse_rfc3339_ns;

/// Records larger than this are read through the lazy view instead of a tape, which
/// would cost memory proportional to their size.
pub const TAPE_LIMIT: usize = 1 << 20;

/// Why a record was not emitted (each has its own counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// Upstream's parser would reject it.
    InvalidJson,
    /// Nested deeper than upstream's 300 levels.
    TooDeep,
    /// No `eventTime` string in RFC 3339 form.
    NoEventTime,
    /// No `eventType` string.
    NoEventType,
    /// A CloudTrail Insights event (upstream never emits them).
    Insight,
    /// Larger than the record size limit.
    TooLarge,
    /// An array element that is not an object.
    NotAnObject,
    /// The same event (`eventID`, `recipientAccountId`) was already emitted within
    /// the duplicate-removal window.
    Duplicate,
}

impl Skip {
    pub const ALL: [Skip; 8] = [
        Skip::InvalidJson,
        Skip::TooDeep,
        Skip::NoEventTime,
        Skip::NoEventType,
        Skip::Insight,
        Skip::TooLarge,
        Skip::NotAnObject,
        Skip::Duplicate,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Skip::InvalidJson => "invalid JSON",
            Skip::TooDeep => "nested deeper than 300 levels",
            Skip::NoEventTime => "no RFC 3339 eventTime",
            Skip::NoEventType => "no eventType",
            Skip::Insight => "CloudTrail Insights event",
            Skip::TooLarge => "larger than the record size limit",
            Skip::NotAnObject => "array element that is not an object",
            Skip::Duplicate => "duplicate of an event already emitted",
        }
    }

    /// The metric name suffix.
    pub fn key(self) -> &'static str {
        match self {
            Skip::InvalidJson => "invalid_json",
            Skip::TooDeep => "too_deep",
            Skip::NoEventTime => "no_event_time",
            Skip::NoEventType => "no_event_type",
            Skip::Insight => "insight",
            Skip::TooLarge => "too_large",
            Skip::NotAnObject => "not_an_object",
            Skip::Duplicate => "duplicate",
        }
    }
}

/// How a record's lookups are answered.
pub enum Index {
    Tape(Box<TapeIndex>),
    Lazy,
}

/// Either view of a record, so callers can match once and run generic code.
pub enum AnyView<'a> {
    Tape(TapeView<'a>),
    Lazy(LazyView<'a>),
}

impl Index {
    pub fn view<'a>(&'a self, payload: &'a [u8]) -> AnyView<'a> {
        match self {
            Index::Tape(t) => AnyView::Tape(t.view(payload)),
            Index::Lazy => AnyView::Lazy(LazyView::new(payload)),
        }
    }

    pub fn footprint(&self) -> usize {
        match self {
            Index::Tape(t) => t.footprint(),
            Index::Lazy => 0,
        }
    }
}

/// Indexes `payload` (which upstream's parser must accept), reusing `spare`'s
/// allocation, which comes back inside `Index::Tape` on the fast path.
pub fn index(
    indexer: &mut Indexer,
    payload: &[u8],
    mut spare: Box<TapeIndex>,
) -> Result<Index, Skip> {
    if payload.len() <= TAPE_LIMIT {
        match indexer.build(payload, &mut spare) {
            Ok(()) => return Ok(Index::Tape(spare)),
            Err(TapeError::TooDeep) => return Err(Skip::TooDeep),
            Err(TapeError::Rejected) => {}
        }
    }
    lenient_index(payload)
}

/// Like [`index`], for a record that sits at `buf[start..end]` and whose original
/// bytes are also in `payload`: parses it where it lies when that is possible
/// (no backslash in it, enough bytes after it), saving a copy.
pub fn index_in_place(
    indexer: &mut Indexer,
    buf: &mut [u8],
    start: usize,
    end: usize,
    payload: &[u8],
    mut spare: Box<TapeIndex>,
) -> Result<Index, Skip> {
    let fits = payload.len() <= TAPE_LIMIT && buf.len() - end >= simd_json::INPUT_PADDING;
    if !fits || memchr::memchr(b'\\', payload).is_some() {
        return index(indexer, payload, spare);
    }
    match indexer.build_in_place(buf, start, end, &mut spare) {
        Ok(()) => Ok(Index::Tape(spare)),
        Err(TapeError::TooDeep) => Err(Skip::TooDeep),
        Err(TapeError::Rejected) => lenient_index(payload),
    }
}

fn lenient_index(payload: &[u8]) -> Result<Index, Skip> {
    match lenient::validate(payload) {
        Ok(()) => Ok(Index::Lazy),
        Err(lenient::Error::TooDeep) => Err(Skip::TooDeep),
        Err(lenient::Error::Syntax(_)) => Err(Skip::InvalidJson),
    }
}

/// Upstream's emission rule: the event timestamp, or why the record is skipped.
pub fn timestamp<V: View>(v: &V) -> Result<u64, Skip> {
    let root = v.root();
    let time = v.member(root, "eventTime").and_then(|t| v.text(t));
    let ts = time
        .and_then(|t| parse_rfc3339_ns(&t))
        .ok_or(Skip::NoEventTime)?;
    let etype = v
        .member(root, "eventType")
        .and_then(|t| v.text(t))
        .ok_or(Skip::NoEventType)?;
    if etype.as_ref() == b"AwsCloudTrailInsight" {
        return Err(Skip::Insight);
    }
    Ok(ts)
}

/// What identifies a CloudTrail event: its `eventID` and the account that received
/// it (`recipientAccountId`, empty when missing).
pub type Identity<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The record's [`Identity`]; `None` without an `eventID` string.
pub fn identity<V: View>(v: &V) -> Option<Identity<'_>> {
    let root = v.root();
    let id = v.member(root, "eventID").and_then(|t| v.text(t))?;
    let account = v
        .member(root, "recipientAccountId")
        .and_then(|t| v.text(t))
        .unwrap_or_default();
    Some((id, account))
}

impl AnyView<'_> {
    pub fn timestamp(&self) -> Result<u64, Skip> {
        match self {
            AnyView::Tape(v) => timestamp(v),
            AnyView::Lazy(v) => timestamp(v),
        }
    }

    pub fn identity(&self) -> Option<Identity<'_>> {
        match self {
            AnyView::Tape(v) => identity(v),
            AnyView::Lazy(v) => identity(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(rec: &str) -> Result<u64, Skip> {
        let mut ix = Indexer::default();
        let index = index(&mut ix, rec.as_bytes(), Box::default())?;
        index.view(rec.as_bytes()).timestamp()
    }

    #[test]
    fn emission_rules() {
        let ok = r#"{"eventTime":"2017-12-11T15:01:51Z","eventType":"AwsApiCall"}"#;
        assert_eq!(decide(ok), Ok(1_513_004_511_000_000_000));
        let lenient = r#"{"eventTime":"2017-12-11T15:01:51Z","eventType":"AwsApiCall","n":NaN}"#;
        assert_eq!(decide(lenient), Ok(1_513_004_511_000_000_000));
        let unknown_type = r#"{"eventTime":"2017-12-11T15:01:51Z","eventType":"Whatever"}"#;
        assert!(decide(unknown_type).is_ok());
        let first_wins =
            r#"{"eventTime":"2017-12-11T15:01:51Z","eventTime":"x","eventType":"AwsApiCall"}"#;
        assert!(decide(first_wins).is_ok());
        assert_eq!(
            decide(r#"{"eventType":"AwsApiCall"}"#),
            Err(Skip::NoEventTime)
        );
        assert_eq!(
            decide(r#"{"eventTime":1513004511,"eventType":"AwsApiCall"}"#),
            Err(Skip::NoEventTime)
        );
        assert_eq!(
            decide(r#"{"eventTime":"2017-12-11 15:01:51","eventType":"AwsApiCall"}"#),
            Err(Skip::NoEventTime)
        );
        assert_eq!(
            decide(r#"{"eventTime":"2017-12-11T15:01:51Z","eventType":null}"#),
            Err(Skip::NoEventType)
        );
        assert_eq!(
            decide(r#"{"eventTime":"2017-12-11T15:01:51Z","eventType":"AwsCloudTrailInsight"}"#),
            Err(Skip::Insight)
        );
        assert_eq!(
            decide(r#"{"eventTime":"2017-12-11T15:01:51Z",}"#),
            Err(Skip::InvalidJson)
        );
        let deep = format!(
            r#"{{"eventTime":"2017-12-11T15:01:51Z","eventType":"AwsApiCall","x":{}1{}}}"#,
            "[".repeat(299),
            "]".repeat(299)
        );
        assert_eq!(decide(&deep), Err(Skip::TooDeep));
    }
}
