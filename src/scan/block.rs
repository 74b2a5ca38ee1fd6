//! The scanner's fast path inside records: 64 bytes at a time, with bit masks.
//!
//! For each block it computes which bytes are quotes, backslashes and braces, works out
//! which quotes are escaped, turns the unescaped quotes into an "inside a string" mask
//! with a prefix XOR, and only then looks at the few braces left outside strings.
//! The masks come from SSE2 compares on x86_64 (part of its baseline, so no run-time
//! check is needed) and from 8-byte word tricks elsewhere.

/// Bit `i` of each mask is set when byte `i` of the block is that character.
#[derive(Default)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// SSE2 compares: four 16-byte lanes per block, `movemask` to bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn masks_sse2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let (q, b, o, c) = (
        _mm_set1_epi8(b'"' as i8),
        _mm_set1_epi8(b'\\' as i8),
        _mm_set1_epi8(b'{' as i8),
        _mm_set1_epi8(b'}' as i8),
    );
    let mut m = Masks::default();
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let lo = u64::from_le_bytes(lane[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(lane[8..].try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let bits = |x| u64::from(_mm_movemask_epi8(x) as u16) << (16 * k);
        m.quote |= bits(_mm_cmpeq_epi8(v, q));
        m.backslash |= bits(_mm_cmpeq_epi8(v, b));
        m.open |= bits(_mm_cmpeq_epi8(v, o));
        m.close |= bits(_mm_cmpeq_epi8(v, c));
    }
    m
}

/// Portable twin: the classic "has zero byte" trick on 8-byte words. The only path
/// on aarch64 (and every other non-x86 target); on x86_64 tests and the fuzzer run it
/// against the SSE2 one.
fn masks_swar(block: &[u8; 64]) -> Masks {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // High bit of each byte of `w` that equals `c`, gathered into 8 bits.
    let eq = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        let zero = !(((x & LO7) + LO7) | x | LO7);
        ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    };
    let mut m = Masks::default();
    for (k, word) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        m.quote |= eq(w, b'"') << (8 * k);
        m.backslash |= eq(w, b'\\') << (8 * k);
        m.open |= eq(w, b'{') << (8 * k);
        m.close |= eq(w, b'}') << (8 * k);
    }
    m
}

/// The block masks: SSE2 on x86_64 unless `PORTABLE`, the portable twin elsewhere.
#[inline(always)]
fn masks<const PORTABLE: bool>(block: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    if !PORTABLE {
        // SAFETY: SSE2 is part of the x86_64 baseline: every CPU this code runs on has it.
        return unsafe { masks_sse2(block) };
    }
    masks_swar(block)
}

/// Bits after each odd run of backslashes (the escaped bytes), and whether the block
/// ends with a backslash that escapes the next block's first byte.
#[inline(always)]
fn escapes(backslash: u64, carry_in: bool) -> (u64, bool) {
    let mut escaped = 0u64;
    let mut b = backslash;
    if carry_in {
        escaped |= 1;
        b &= !1;
    }
    while b != 0 {
        let i = b.trailing_zeros();
        if i == 63 {
            return (escaped, true);
        }
        escaped |= 1 << (i + 1);
        // The escaped byte, even a backslash, escapes nothing.
        b &= !(1 << i) & !(1 << (i + 1));
    }
    (escaped, false)
}

/// Bit `i` set when an odd number of bits at or below `i` are set in `x`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// String and brace state carried from block to block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub in_str: bool,
    /// The byte at the block start is escaped (inside a string).
    pub escape_pending: bool,
    pub depth: u32,
}

/// What one call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The brace depth came back to the target; the record ends before this offset.
    Closed(usize),
    /// All full blocks were consumed without closing; continue at this offset.
    Consumed(usize),
    /// A block needs the exact byte-by-byte rules (a backslash outside a string);
    /// continue there with the scalar path.
    Fallback(usize),
}

/// Scans `buf` from `pos` in whole 64-byte blocks until the brace depth drops to
/// `target`. Matches upstream's splitter exactly: strings toggle on unescaped quotes,
/// a backslash escapes the next byte only inside strings, braces count outside them.
/// `PORTABLE` takes the portable masks even where SIMD ones exist.
pub fn skip_blocks<const PORTABLE: bool>(
    buf: &[u8],
    mut pos: usize,
    st: &mut State,
    target: u32,
) -> Outcome {
    while let Some(block) = buf.get(pos..pos + 64) {
        let block: &[u8; 64] = block.try_into().expect("64 bytes");
        let m = masks::<PORTABLE>(block);
        let (escaped, carry) = escapes(m.backslash, st.in_str && st.escape_pending);
        let quotes = m.quote & !escaped;
        let inside = prefix_xor(quotes) ^ if st.in_str { !0 } else { 0 };
        // A backslash that escapes something while outside a string means invalid
        // JSON: the scalar rules (backslash is an ordinary byte there) decide.
        if m.backslash & !escaped & !inside != 0 {
            return Outcome::Fallback(pos);
        }
        let mut braces = (m.open | m.close) & !inside;
        while braces != 0 {
            let i = braces.trailing_zeros();
            if m.open >> i & 1 == 1 {
                st.depth += 1;
            } else {
                st.depth -= 1;
                if st.depth == target {
                    st.in_str = false;
                    st.escape_pending = false;
                    return Outcome::Closed(pos + i as usize + 1);
                }
            }
            braces &= braces - 1;
        }
        st.in_str = inside >> 63 == 1;
        st.escape_pending = carry;
        pos += 64;
    }
    Outcome::Consumed(pos)
}

/// The end (exclusive) of the object whose `{` is at `open` in valid JSON: 64 bytes
/// at a time while they last, then byte by byte (strings skipped, braces counted,
/// which in valid JSON is enough). `None` when the object does not end.
pub fn object_end(buf: &[u8], open: usize) -> Option<usize> {
    if buf.get(open) != Some(&b'{') {
        return None;
    }
    let mut st = State {
        in_str: false,
        escape_pending: false,
        depth: 1,
    };
    let mut pos = match skip_blocks::<false>(buf, open + 1, &mut st, 0) {
        Outcome::Closed(end) => return Some(end),
        Outcome::Consumed(at) | Outcome::Fallback(at) => at,
    };
    let mut escaped = st.escape_pending;
    // The block before may have ended on an escaping backslash.
    while let Some(&c) = buf.get(pos) {
        pos += 1;
        if st.in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                st.in_str = false;
            }
            continue;
        }
        match c {
            b'"' => st.in_str = true,
            b'{' => st.depth += 1,
            b'}' => {
                st.depth -= 1;
                if st.depth == 0 {
                    return Some(pos);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid objects of every length around the block size, with braces and escaped
    /// quotes inside strings (also across block edges), followed by more text.
    #[test]
    fn object_ends_match_the_byte_rules() {
        let pieces = ["a", "{", "}", "\\\"", "\\\\", "[", "]"];
        let mut seed = 0x5851_f42d_4c95_7f2du64;
        for round in 0..3000 {
            let mut value = String::new();
            for _ in 0..(round % 300) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                value.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let object = format!("{{\"a\":\"{value}\",\"b\":{{\"c\":[{{}},{{\"d\":\"}}\"}}]}}}}");
            let text = format!("x {object}, {{\"after\":1}}");
            assert_eq!(
                object_end(text.as_bytes(), 2),
                Some(2 + object.len()),
                "{text}"
            );
        }
        assert_eq!(object_end(b"{\"a\":1", 0), None);
        assert_eq!(object_end(b"x", 0), None);
    }

    /// The byte-by-byte reference: upstream's splitter rules.
    fn reference(buf: &[u8], mut st: State, target: u32) -> Option<usize> {
        let mut esc = st.escape_pending && st.in_str;
        for (i, &c) in buf.iter().enumerate() {
            if st.in_str {
                if esc {
                    esc = false;
                } else if c == b'\\' {
                    esc = true;
                } else if c == b'"' {
                    st.in_str = false;
                }
                continue;
            }
            match c {
                b'"' => st.in_str = true,
                b'{' => st.depth += 1,
                b'}' => {
                    st.depth -= 1;
                    if st.depth == target {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    #[test]
    fn agrees_with_the_byte_rules() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let alphabet = b"\"\\{}ab :,";
        for _ in 0..20_000 {
            let len = 64 * (1 + (seed % 4) as usize);
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let start = State {
                in_str: seed & 1 == 1,
                escape_pending: seed & 2 == 2,
                depth: 5,
            };
            let mut st = start;
            let want = reference(&buf, start, 2);
            let mut portable = start;
            let outcome = skip_blocks::<false>(&buf, 0, &mut st, 2);
            assert_eq!(skip_blocks::<true>(&buf, 0, &mut portable, 2), outcome);
            assert_eq!(portable, st);
            match outcome {
                Outcome::Closed(at) => {
                    assert_eq!(Some(at), want, "{}", String::from_utf8_lossy(&buf))
                }
                Outcome::Consumed(at) => {
                    assert_eq!(at, buf.len());
                    assert_eq!(want, None, "{}", String::from_utf8_lossy(&buf));
                }
                Outcome::Fallback(_) => {}
            }
        }
    }

    #[test]
    fn simd_and_portable_masks_agree() {
        let mut seed = 12345u64;
        for _ in 0..2000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = b"\"\\{}x\x00\xff"[(seed >> 33) as usize % 7];
            }
            let (a, b) = (masks::<false>(&block), masks_swar(&block));
            assert_eq!(
                (a.quote, a.backslash, a.open, a.close),
                (b.quote, b.backslash, b.open, b.close)
            );
            for (i, &c) in block.iter().enumerate() {
                assert_eq!(b.quote >> i & 1 == 1, c == b'"');
                assert_eq!(b.backslash >> i & 1 == 1, c == b'\\');
            }
        }
    }

    #[test]
    fn escapes_across_block_boundaries() {
        let mut buf = vec![b'a'; 128];
        buf[0] = b'"';
        buf[63] = b'\\';
        buf[64] = b'"'; // escaped by the backslash at the end of the first block
        buf[70] = b'"';
        buf[80] = b'}';
        let mut st = State {
            in_str: false,
            escape_pending: false,
            depth: 1,
        };
        assert_eq!(
            skip_blocks::<false>(&buf, 0, &mut st, 0),
            Outcome::Closed(81)
        );
        let mut st = State {
            in_str: false,
            escape_pending: false,
            depth: 1,
        };
        assert_eq!(
            skip_blocks::<true>(&buf, 0, &mut st, 0),
            Outcome::Closed(81)
        );
    }
}
