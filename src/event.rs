//! The plugin event layout libscap expects (type 322, `PPME_PLUGINEVENT_E`): a packed
//! 26-byte header, two 4-byte parameter lengths, the plugin id, then the payload.

/// Where the payload starts (libs' `PLUGIN_EVENT_PAYLOAD_OFFSET`, 3.12 headers only).
pub const PAYLOAD_OFFSET: usize = 38;
pub const EVENT_TYPE: u16 = 322;
pub const PLUGIN_ID: u32 = 2;
/// Header size of `ss_plugin_event` (ts, tid, len, type, nparams).
pub const HEADER_LEN: usize = 26;

/// Appends one event holding `payload` to `arena`; returns its offset. Events are
/// 8-byte aligned inside the arena.
pub fn encode(arena: &mut Vec<u8>, ts: u64, payload: &[u8]) -> usize {
    let pad = arena.len().next_multiple_of(8) - arena.len();
    arena.resize(arena.len() + pad, 0);
    let at = arena.len();
    let len = (PAYLOAD_OFFSET + payload.len()) as u32;
    arena.reserve(len as usize);
    arena.extend_from_slice(&ts.to_le_bytes());
    arena.extend_from_slice(&u64::MAX.to_le_bytes()); // tid: "no thread"
    arena.extend_from_slice(&len.to_le_bytes());
    arena.extend_from_slice(&EVENT_TYPE.to_le_bytes());
    arena.extend_from_slice(&2u32.to_le_bytes()); // nparams
    arena.extend_from_slice(&4u32.to_le_bytes()); // param 0 length: the plugin id
    arena.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    arena.extend_from_slice(&PLUGIN_ID.to_le_bytes());
    arena.extend_from_slice(payload);
    at
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The `len` field of an event header (total event size).
pub fn total_len(header: &[u8]) -> Option<usize> {
    u32_at(header, 16).map(|l| l as usize)
}

/// The timestamp of an encoded event.
pub fn timestamp(event: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(event.get(0..8)?.try_into().ok()?))
}

/// The payload of an event, after checking it is a well-formed plugin event (the
/// event may come from a capture file rather than from this plugin).
pub fn payload(event: &[u8]) -> Option<&[u8]> {
    let ty = u16::from_le_bytes(event.get(20..22)?.try_into().ok()?);
    let len = total_len(event)?;
    if ty != EVENT_TYPE || len < PAYLOAD_OFFSET || len > event.len() {
        return None;
    }
    let plen = u32_at(event, 30)? as usize;
    event
        .get(PAYLOAD_OFFSET..PAYLOAD_OFFSET.checked_add(plen)?.min(len))
        .filter(|p| p.len() == plen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut arena = vec![1u8];
        let at = encode(&mut arena, 42, b"{\"a\":1}");
        assert_eq!(at % 8, 0);
        let ev = &arena[at..];
        assert_eq!(ev.len(), PAYLOAD_OFFSET + 7);
        assert_eq!(total_len(ev), Some(ev.len()));
        assert_eq!(timestamp(ev), Some(42));
        assert_eq!(payload(ev), Some(&b"{\"a\":1}"[..]));
        assert_eq!(u32_at(ev, 22), Some(2));
        assert_eq!(u32_at(ev, 34), Some(PLUGIN_ID));
    }

    #[test]
    fn rejects_malformed_events() {
        let mut arena = Vec::new();
        encode(&mut arena, 0, b"xyz");
        let mut bad_type = arena.clone();
        bad_type[20] = 1;
        assert!(payload(&bad_type).is_none());
        let mut bad_len = arena.clone();
        bad_len[30] = 200;
        assert!(payload(&bad_len).is_none());
        assert!(payload(&arena[..20]).is_none());
        assert!(payload(&arena[..PAYLOAD_OFFSET + 1]).is_none());
    }
}
