//! Per-state extraction: the record indexes of the current batch, and the answers.
//!
//! `next_batch` must parse every record anyway (upstream skips the ones its parser
//! rejects), so the index built there is kept, one per event of the batch, and
//! `extract_fields` / `event_to_string` find it by the event's address. Events that
//! are not from the current batch (capture files, a copy) are indexed on first use
//! and cached by event number.

use crate::event;
use crate::fields::{self, Field, Out};
use crate::json::tape::Indexer;
use crate::record::{self, AnyView, Index, Skip};

/// One field to extract, with its index argument (`ec2.imageids[2]`) if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub field: Field,
    pub index: Option<u64>,
}

struct Single {
    evtnum: u64,
    addr: usize,
    len: usize,
    /// The payload's bounds within the event, NUL padding trimmed.
    payload: std::ops::Range<usize>,
    index: Index,
}

/// The record indexes extraction reads: the current batch's, or one built on demand.
#[derive(Default)]
struct Indexes {
    indexer: Indexer,
    /// The current batch: each event's address and index (taken from its block).
    batch: Vec<(usize, Option<Index>)>,
    /// Position in `batch` of the last event looked up.
    hint: usize,
    single: Option<Single>,
}

#[derive(Default)]
pub struct Extractor {
    indexes: Indexes,
    out: Out,
    bounds: Vec<std::ops::Range<usize>>,
    text: Vec<u8>,
}

/// What one extraction produced: the values, and which of them answer each request.
pub struct Extracted<'a> {
    pub out: &'a Out,
    /// For each request, its range in `out.values`.
    pub bounds: &'a [std::ops::Range<usize>],
}

/// Why an extraction failed (libsinsp then treats the field as "no value").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractError {
    /// Not a plugin event (wrong type or inconsistent lengths).
    NotAPluginEvent,
    /// The payload is not a record upstream's parser accepts.
    Unparsable(Skip),
}

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtractError::NotAPluginEvent => {
                f.write_str("the event is not a well-formed plugin event")
            }
            ExtractError::Unparsable(s) => {
                write!(f, "the event payload cannot be parsed: {}", s.describe())
            }
        }
    }
}

impl Indexes {
    /// The index of `event` (whole event bytes), from the batch or built now, with
    /// the payload it indexes.
    fn index_for<'a>(
        &'a mut self,
        evtnum: u64,
        event: &'a [u8],
    ) -> Result<(&'a Index, &'a [u8]), ExtractError> {
        let addr = event.as_ptr() as usize;
        // The event extracted last (Falco asks for one field per call).
        let hit = self
            .single
            .as_ref()
            .is_some_and(|s| s.evtnum == evtnum && s.addr == addr && s.len == event.len());
        if hit {
            let s = self.single.as_ref().expect("checked above");
            return Ok((&s.index, &event[s.payload.clone()]));
        }
        let payload = event::payload(event).ok_or(ExtractError::NotAPluginEvent)?;
        // Falco extracts events in batch order: try where the last one was first.
        let hint = self.hint;
        let pos = [hint, hint + 1]
            .into_iter()
            .find(|&i| self.batch.get(i).is_some_and(|e| e.0 == addr))
            .or_else(|| self.batch.iter().position(|e| e.0 == addr));
        if let Some(i) = pos {
            self.hint = i;
            if let Some(idx) = &self.batch[i].1 {
                return Ok((idx, payload));
            }
        }
        // Upstream trims NUL bytes from both ends before parsing.
        let trimmed = trim_nul(payload);
        let spare = match self.single.take() {
            Some(Single {
                index: Index::Tape(t),
                ..
            }) => t,
            _ => Box::default(),
        };
        let index =
            record::index(&mut self.indexer, trimmed, spare).map_err(ExtractError::Unparsable)?;
        let start = trimmed.as_ptr() as usize - addr;
        let s = self.single.insert(Single {
            evtnum,
            addr,
            len: event.len(),
            payload: start..start + trimmed.len(),
            index,
        });
        Ok((&s.index, trimmed))
    }
}

impl Extractor {
    /// Adds an event of the batch being assembled, with its prepared index.
    pub fn add_event(&mut self, addr: usize, index: Option<Index>) {
        self.indexes.batch.push((addr, index));
    }

    /// The batch is complete.
    pub fn end_batch(&mut self) {
        self.indexes.hint = 0;
    }

    /// Takes the previous batch's indexes back (for reuse), forgetting the batch.
    pub fn take_batch(&mut self) -> Vec<Index> {
        self.indexes
            .batch
            .drain(..)
            .filter_map(|(_, i)| i)
            .collect()
    }

    /// Drops everything tied to a closed source's buffers.
    pub fn forget_batch(&mut self) {
        self.indexes.batch.clear();
        self.indexes.single = None;
    }

    /// Extracts `requests` from `event`; the values stay valid until the next call.
    /// Value spans are computed only when `want_spans` (they cost a walk over the
    /// record).
    pub fn extract(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
        want_spans: bool,
    ) -> Result<Extracted<'_>, ExtractError> {
        let out = &mut self.out;
        out.clear();
        out.want_spans = want_spans;
        self.bounds.clear();
        let (index, payload) = self.indexes.index_for(evtnum, event)?;
        let view = index.view(payload);
        for r in requests {
            let before = out.values.len();
            match &view {
                AnyView::Tape(v) => fields::extract(v, r.field, r.index, out),
                AnyView::Lazy(v) => fields::extract(v, r.field, r.index, out),
            }
            self.bounds.push(before..out.values.len());
        }
        Ok(Extracted {
            out: &self.out,
            bounds: &self.bounds,
        })
    }

    /// `event_to_string` text for `event` (upstream's wording for unparsable ones).
    pub fn to_string(&mut self, evtnum: u64, event: &[u8]) -> &[u8] {
        let text = &mut self.text;
        text.clear();
        match self.indexes.index_for(evtnum, event) {
            Ok((index, payload)) => match index.view(payload) {
                AnyView::Tape(v) => fields::event_to_string(&v, text),
                AnyView::Lazy(v) => fields::event_to_string(&v, text),
            },
            // Upstream's text (a Go formatting slip included), then the reason.
            Err(e) => text.extend_from_slice(format!("<invalid JSON: %!s(MISSING)>{e}").as_bytes()),
        }
        &self.text
    }
}

fn trim_nul(p: &[u8]) -> &[u8] {
    let start = p.iter().position(|&b| b != 0).unwrap_or(p.len());
    let end = p.iter().rposition(|&b| b != 0).map_or(start, |e| e + 1);
    &p[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::by_name;

    fn req(name: &str) -> Request {
        Request {
            field: by_name(name).unwrap().field,
            index: None,
        }
    }

    fn text(out: &Out) -> Vec<String> {
        out.values
            .iter()
            .map(|v| String::from_utf8_lossy(out.text(v)).into_owned())
            .collect()
    }

    #[test]
    fn batch_events_use_their_index_and_foreign_events_work_too() {
        let recs = [
            r#"{"eventTime":"2020-01-01T00:00:00Z","eventType":"AwsApiCall","eventName":"A"}"#,
            r#"{"eventTime":"2020-01-01T00:00:01Z","eventType":"AwsApiCall","eventName":"B","n":NaN}"#,
        ];
        let mut ex = Extractor::default();
        let mut arena = Vec::new();
        let mut offsets = Vec::new();
        let mut indexes = Vec::new();
        for r in recs {
            let mut ix = Indexer::default();
            let index = record::index(&mut ix, r.as_bytes(), Box::default()).unwrap();
            let ts = index.view(r.as_bytes()).timestamp().unwrap();
            offsets.push(event::encode(&mut arena, ts, r.as_bytes()));
            indexes.push(index);
        }
        for (off, idx) in offsets.iter().zip(indexes) {
            ex.add_event(arena[*off..].as_ptr() as usize, Some(idx));
        }
        ex.end_batch();
        let ev = |i: usize| {
            let off = offsets[i];
            &arena[off..off + event::total_len(&arena[off..]).unwrap()]
        };
        for (i, name) in ["A", "B"].iter().enumerate() {
            let got = ex
                .extract(i as u64, ev(i), &[req("ct.name")], false)
                .unwrap();
            assert_eq!(text(got.out), [*name]);
        }
        // A copy of the event (another address) is indexed on its own.
        let copy = ev(1).to_vec();
        let got = ex
            .extract(9, &copy, &[req("ct.name"), req("ct.eventtype")], false)
            .unwrap();
        assert_eq!(text(got.out), ["B", "AwsApiCall"]);
        assert_eq!(got.bounds, [0..1, 1..2]);
        // NUL padding around a foreign payload is ignored, as upstream does.
        let mut other = Vec::new();
        event::encode(&mut other, 0, b"\0\0{\"eventName\":\"C\"}\0");
        let got = ex.extract(10, &other, &[req("ct.name")], false).unwrap();
        assert_eq!(text(got.out), ["C"]);
        // Garbage is an error, not a panic.
        let mut bad = Vec::new();
        event::encode(&mut bad, 0, b"not json");
        assert!(matches!(
            ex.extract(11, &bad, &[req("ct.name")], false),
            Err(ExtractError::Unparsable(Skip::InvalidJson))
        ));
        assert!(
            ex.to_string(11, &bad)
                .starts_with(b"<invalid JSON: %!s(MISSING)>")
        );
        assert!(matches!(
            ex.extract(12, b"short", &[], false),
            Err(ExtractError::NotAPluginEvent)
        ));
        assert_eq!(ex.take_batch().len(), 2);
    }
}
