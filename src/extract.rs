//! Per-state extraction: the record indexes of the current batch, and the answers.
//!
//! `next_batch` must parse every record anyway (upstream skips the ones its parser
//! rejects), so the index built there is kept, one per event of the batch, and
//! `extract_fields` / `event_to_string` find it by the event's address. Events that
//! are not from the current batch (capture files, a copy) are indexed on first use
//! and cached by event number.

use crate::event;
use crate::fields::{self, Field, Out};
use crate::json::tape::{Indexer, TapeIndex};
use crate::record::{self, AnyView, Index, Skip};

/// Index memory kept for one batch; past it, indexes are rebuilt on demand.
const BATCH_INDEX_BUDGET: usize = 64 << 20;

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
    index: Index,
}

#[derive(Default)]
pub struct Extractor {
    indexer: Indexer,
    range: (usize, usize),
    offsets: Vec<usize>,
    cached: Vec<Option<Index>>,
    cached_bytes: usize,
    pool: Vec<TapeIndex>,
    single: Option<Single>,
    out: Out,
    text: Vec<u8>,
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

impl Extractor {
    /// Forgets the previous batch (its arena is about to be reused).
    pub fn begin_batch(&mut self) {
        for idx in self.cached.drain(..).flatten() {
            if let Index::Tape(t) = idx {
                self.pool.push(t);
            }
        }
        self.cached_bytes = 0;
        self.offsets.clear();
        self.range = (0, 0);
    }

    /// Applies upstream's emission rules to one record. On success the record's index
    /// is kept for the event the caller is about to append to the batch.
    pub fn admit(&mut self, payload: &[u8]) -> Result<u64, Skip> {
        let spare = self.pool.pop().unwrap_or_default();
        let index = record::index(&mut self.indexer, payload, spare)?;
        match index.view(payload).timestamp() {
            Ok(ts) => {
                let size = index.footprint();
                if self.cached_bytes + size <= BATCH_INDEX_BUDGET {
                    self.cached_bytes += size;
                    self.cached.push(Some(index));
                } else {
                    self.recycle(index);
                    self.cached.push(None);
                }
                Ok(ts)
            }
            Err(skip) => {
                self.recycle(index);
                Err(skip)
            }
        }
    }

    fn recycle(&mut self, index: Index) {
        if let Index::Tape(t) = index {
            if t.footprint() <= 1 << 20 {
                self.pool.push(t);
            }
        }
    }

    /// The batch is complete: remember where its events live.
    pub fn end_batch(&mut self, range: (usize, usize), offsets: &[usize]) {
        self.range = range;
        self.offsets.clear();
        self.offsets.extend_from_slice(offsets);
        debug_assert_eq!(self.offsets.len(), self.cached.len());
    }

    /// Drops everything tied to the closed source's buffers.
    pub fn forget_batch(&mut self) {
        self.begin_batch();
    }

    /// The index of `event` (whole event bytes), from the batch or built now.
    fn index_for<'a>(
        &'a mut self,
        evtnum: u64,
        event: &'a [u8],
    ) -> Result<(&'a Index, &'a [u8]), ExtractError> {
        let payload = event::payload(event).ok_or(ExtractError::NotAPluginEvent)?;
        let addr = event.as_ptr() as usize;
        if addr >= self.range.0 && addr < self.range.1 {
            if let Ok(i) = self.offsets.binary_search(&(addr - self.range.0)) {
                if self.cached.get(i).is_some_and(|c| c.is_some()) {
                    let idx = self.cached[i].as_ref().expect("checked above");
                    return Ok((idx, payload));
                }
            }
        }
        let hit = self
            .single
            .as_ref()
            .is_some_and(|s| s.evtnum == evtnum && s.addr == addr && s.len == event.len());
        if !hit {
            // Upstream trims NUL bytes from both ends before parsing.
            let trimmed = trim_nul(payload);
            let spare = match self.single.take() {
                Some(Single {
                    index: Index::Tape(t),
                    ..
                }) => t,
                _ => TapeIndex::default(),
            };
            let index = record::index(&mut self.indexer, trimmed, spare)
                .map_err(ExtractError::Unparsable)?;
            self.single = Some(Single {
                evtnum,
                addr,
                len: event.len(),
                index,
            });
        }
        let s = self.single.as_ref().expect("set above");
        Ok((&s.index, trim_nul(payload)))
    }

    /// Extracts `requests` from `event` into `self.out`, recording where each
    /// request's values start and end.
    fn run(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
        bounds: &mut Vec<std::ops::Range<usize>>,
    ) -> Result<(), ExtractError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        bounds.clear();
        let result = self.index_for(evtnum, event).map(|(index, payload)| {
            let view = index.view(payload);
            for r in requests {
                let before = out.values.len();
                match &view {
                    AnyView::Tape(v) => fields::extract(v, r.field, r.index, &mut out),
                    AnyView::Lazy(v) => fields::extract(v, r.field, r.index, &mut out),
                }
                bounds.push(before..out.values.len());
            }
        });
        self.out = out;
        result
    }

    /// Extracts `requests` from `event`; the values stay valid until the next call.
    pub fn extract(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
    ) -> Result<&Out, ExtractError> {
        let mut bounds = Vec::new();
        self.run(evtnum, event, requests, &mut bounds)?;
        Ok(&self.out)
    }

    /// Extracts each request, then calls `f` with the request's position, the output
    /// and the range of `out.values` holding that request's values.
    pub fn extract_each(
        &mut self,
        evtnum: u64,
        event: &[u8],
        requests: &[Request],
        f: &mut dyn FnMut(usize, &Out, std::ops::Range<usize>),
    ) -> Result<(), ExtractError> {
        let mut bounds = Vec::with_capacity(requests.len());
        self.run(evtnum, event, requests, &mut bounds)?;
        for (i, b) in bounds.into_iter().enumerate() {
            f(i, &self.out, b);
        }
        Ok(())
    }

    /// `event_to_string` text for `event` (upstream's wording for unparsable ones).
    pub fn to_string(&mut self, evtnum: u64, event: &[u8]) -> &[u8] {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        match self.index_for(evtnum, event) {
            Ok((index, payload)) => match index.view(payload) {
                AnyView::Tape(v) => fields::event_to_string(&v, &mut text),
                AnyView::Lazy(v) => fields::event_to_string(&v, &mut text),
            },
            // Upstream's text (a Go formatting slip included), then the reason.
            Err(e) => text.extend_from_slice(format!("<invalid JSON: %!s(MISSING)>{e}").as_bytes()),
        }
        self.text = text;
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
    use crate::batch::Batch;
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
    fn batch_events_use_their_cached_index_and_foreign_events_work_too() {
        let recs = [
            r#"{"eventTime":"2020-01-01T00:00:00Z","eventType":"AwsApiCall","eventName":"A"}"#,
            r#"{"eventTime":"2020-01-01T00:00:01Z","eventType":"AwsApiCall","eventName":"B","n":NaN}"#,
        ];
        let mut ex = Extractor::default();
        let mut batch = Batch::default();
        ex.begin_batch();
        for r in recs {
            let ts = ex.admit(r.as_bytes()).unwrap();
            batch.push(ts, r.as_bytes());
        }
        ex.end_batch(batch.address_range(), batch.offsets());
        for (i, name) in ["A", "B"].iter().enumerate() {
            let out = ex
                .extract(i as u64, batch.event(i), &[req("ct.name")])
                .unwrap();
            assert_eq!(text(out), [*name]);
        }
        // A copy of the event (another address) is indexed on its own.
        let copy = batch.event(1).to_vec();
        let out = ex
            .extract(9, &copy, &[req("ct.name"), req("ct.eventtype")])
            .unwrap();
        assert_eq!(text(out), ["B", "AwsApiCall"]);
        // NUL padding around a foreign payload is ignored, as upstream does.
        let mut arena = Vec::new();
        event::encode(&mut arena, 0, b"\0\0{\"eventName\":\"C\"}\0");
        let out = ex.extract(10, &arena, &[req("ct.name")]).unwrap();
        assert_eq!(text(out), ["C"]);
        // Garbage is an error, not a panic.
        let mut arena = Vec::new();
        event::encode(&mut arena, 0, b"not json");
        assert!(matches!(
            ex.extract(11, &arena, &[req("ct.name")]),
            Err(ExtractError::Unparsable(Skip::InvalidJson))
        ));
        assert!(
            ex.to_string(11, &arena)
                .starts_with(b"<invalid JSON: %!s(MISSING)>")
        );
        assert!(matches!(
            ex.extract(12, b"short", &[]),
            Err(ExtractError::NotAPluginEvent)
        ));
    }

    #[test]
    fn skipped_records_are_not_cached() {
        let mut ex = Extractor::default();
        ex.begin_batch();
        assert_eq!(
            ex.admit(br#"{"eventType":"AwsApiCall"}"#),
            Err(Skip::NoEventTime)
        );
        assert_eq!(ex.admit(b"{"), Err(Skip::InvalidJson));
        assert!(ex.cached.is_empty());
    }
}
