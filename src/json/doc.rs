//! A small owned JSON document (config, AWS JSON responses), read through a tape.

use super::tape::{Indexer, TapeIndex, TapeView};
use super::{Kind, View};

/// Strict JSON text with its index.
pub struct Doc {
    bytes: Vec<u8>,
    index: TapeIndex,
}

impl Doc {
    /// Parses strict JSON; `None` if it is not.
    pub fn parse(text: &[u8]) -> Option<Doc> {
        Self::from_vec(text.to_vec())
    }

    /// [`Doc::parse`] on bytes it keeps (a response body) without copying them.
    pub fn from_vec(bytes: Vec<u8>) -> Option<Doc> {
        Self::from_vec_with(&mut Indexer::for_len(bytes.len()), bytes)
    }

    /// [`Doc::from_vec`] with an indexer whose buffers are reused from parse to parse
    /// (threads that parse a response per call).
    pub fn from_vec_with(indexer: &mut Indexer, bytes: Vec<u8>) -> Option<Doc> {
        let mut index = TapeIndex::default();
        indexer.build(&bytes, &mut index).ok()?;
        Some(Doc { bytes, index })
    }

    pub fn view(&self) -> TapeView<'_> {
        self.index.view(&self.bytes)
    }

    /// The string at `path` from the root.
    pub fn str_at(&self, path: &[&str]) -> Option<String> {
        let v = self.view();
        let id = v.path(path)?;
        v.text(id).map(super::into_string)
    }

    /// The number at `path`, as an integer.
    pub fn i64_at(&self, path: &[&str]) -> Option<i64> {
        let v = self.view();
        let id = v.path(path)?;
        (v.kind(id) == Kind::Number).then(|| std::str::from_utf8(v.raw(id)).ok()?.parse().ok())?
    }
}
