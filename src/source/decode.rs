//! A log file's bytes → decompressed chunks.
//!
//! Gzip is recognised by its magic bytes, whatever the file is called; concatenated
//! gzip members are read back to back (CloudTrail and many tools write them). A
//! decompression error ends the file but keeps what was decoded before it (D7), and a
//! size guard stops gzip bombs.

use std::io::{BufReader, ErrorKind, Read};

use flate2::bufread::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Totals of one file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub decompressed: u64,
    pub gzip: bool,
}

/// Where decompressed bytes go: reads land directly in the sink's buffer.
pub trait Sink {
    /// Space for the next read.
    fn space(&mut self) -> &mut [u8];
    /// `n` bytes of the last space were written; false stops the pump.
    fn filled(&mut self, n: usize) -> bool;
}

/// Reads `input` to the end, decompressing if it is gzip, into `sink`. Stops with an
/// error after `max` decompressed bytes. On error, the bytes already delivered stay
/// valid (D7).
pub fn pump<R: Read>(input: R, max: u64, sink: &mut dyn Sink) -> (Totals, Result<(), String>) {
    // Read the first two bytes (a stream may return them one at a time) to decide.
    let mut input = input;
    let mut magic = [0u8; 2];
    let mut n = 0;
    while n < 2 {
        match input.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (Totals::default(), Err(format!("read error: {e}"))),
        }
    }
    let mut totals = Totals {
        gzip: n == 2 && magic == GZIP_MAGIC,
        ..Totals::default()
    };
    let input = BufReader::with_capacity(
        64 * 1024,
        std::io::Cursor::new(magic).take(n as u64).chain(input),
    );
    let result = if totals.gzip {
        copy_into(MultiGzDecoder::new(input), max, &mut totals, sink, true)
    } else {
        copy_into(input, max, &mut totals, sink, false)
    };
    (totals, result)
}

fn copy_into<R: Read>(
    mut r: R,
    max: u64,
    totals: &mut Totals,
    sink: &mut dyn Sink,
    gzip: bool,
) -> Result<(), String> {
    loop {
        let space = sink.space();
        let n = match r.read(space) {
            Ok(0) => {
                sink.filled(0);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                sink.filled(0);
                continue;
            }
            Err(e) => {
                sink.filled(0);
                return Err(if gzip {
                    format!("gzip data is corrupt or truncated: {e}")
                } else {
                    format!("read error: {e}")
                });
            }
        };
        totals.decompressed += n as u64;
        if totals.decompressed > max {
            let keep = n - (totals.decompressed - max) as usize;
            sink.filled(keep);
            return Err(format!(
                "decompressed size exceeds the limit of {max} bytes (maxDecompressedBytes); the rest of the file was not read"
            ));
        }
        if !sink.filled(n) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    struct Collect {
        out: Vec<u8>,
        buf: Vec<u8>,
    }

    impl Sink for Collect {
        fn space(&mut self) -> &mut [u8] {
            self.buf.resize(1000, 0);
            &mut self.buf
        }
        fn filled(&mut self, n: usize) -> bool {
            self.out.extend_from_slice(&self.buf[..n]);
            true
        }
    }

    fn run(input: &[u8], max: u64) -> (Vec<u8>, Totals, Result<(), String>) {
        let mut c = Collect {
            out: Vec::new(),
            buf: Vec::new(),
        };
        let (t, r) = pump(input, max, &mut c);
        (c.out, t, r)
    }

    #[test]
    fn plain_gzip_and_multi_member() {
        let (out, t, r) = run(b"{\"Records\":[]}", u64::MAX);
        assert_eq!(out, b"{\"Records\":[]}");
        assert!(!t.gzip && r.is_ok());
        let mut two = gz(b"first ");
        two.extend_from_slice(&gz(b"second"));
        let (out, t, r) = run(&two, u64::MAX);
        assert_eq!(out, b"first second");
        assert!(t.gzip && r.is_ok());
        let (out, _, r) = run(b"", u64::MAX);
        assert!(out.is_empty() && r.is_ok());
    }

    #[test]
    fn large_input_spans_chunks() {
        let data: Vec<u8> = (0..256 * 1024 * 3 + 17).map(|i| (i % 251) as u8).collect();
        let (out, t, r) = run(&gz(&data), u64::MAX);
        assert_eq!(out, data);
        assert_eq!(t.decompressed, data.len() as u64);
        assert!(r.is_ok());
    }

    #[test]
    fn truncated_gzip_keeps_the_good_prefix() {
        let data: Vec<u8> = (0..256 * 1024 * 2).map(|i| (i % 7) as u8 + b'a').collect();
        let z = gz(&data);
        let (out, _, r) = run(&z[..z.len() - 10], u64::MAX);
        assert!(r.unwrap_err().contains("corrupt or truncated"));
        assert!(!out.is_empty() && data.starts_with(&out));
        let mut bad = z.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // CRC/length trailer damaged
        let (_, _, r) = run(&bad, u64::MAX);
        assert!(r.is_err());
    }

    #[test]
    fn size_guard_stops_bombs() {
        let bomb = gz(&vec![b'0'; 10 << 20]);
        let (out, _, r) = run(&bomb, 1000);
        assert_eq!(out.len(), 1000);
        assert!(r.unwrap_err().contains("maxDecompressedBytes"));
    }
}
