//! zlib-ng next to zlib-rs, decompressing the throughput benchmark's `.json.gz` (made by
//! `cargo bench --bench throughput`) in one run, for the choice of flate2 backend.
//! Run with `cargo bench --manifest-path benches/zlib-ng/Cargo.toml` (needs cmake and a
//! C compiler, which the plugin itself does not).

use std::ffi::c_void;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use libz_ng_sys as z;

fn main() {
    divan::main();
}

/// The compressed file and its decompressed size.
fn input() -> &'static (Vec<u8>, usize) {
    static INPUT: OnceLock<(Vec<u8>, usize)> = OnceLock::new();
    INPUT.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/bench-data/invictus-100k.json.gz");
        let gz = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo bench --bench throughput` first: it makes the file)",
                path.display()
            )
        });
        let n = zlib_rs(&gz);
        assert_eq!(zlib_ng(&gz), n, "the two backends disagree");
        (gz, n)
    })
}

const OUT: usize = 256 << 10;

fn zlib_rs(gz: &[u8]) -> usize {
    let mut d = flate2::read::MultiGzDecoder::new(gz);
    let mut buf = vec![0u8; OUT];
    let mut n = 0;
    loop {
        match d.read(&mut buf).expect("valid gzip") {
            0 => return n,
            k => n += k,
        }
    }
}

extern "C" fn zalloc(_: *mut c_void, items: z::uInt, size: z::uInt) -> *mut c_void {
    // SAFETY: calloc accepts any sizes and returns NULL on failure, which zlib handles.
    unsafe { libc::calloc(items as usize, size as usize) }
}

extern "C" fn zfree(_: *mut c_void, p: *mut c_void) {
    // SAFETY: `p` came from `zalloc` (calloc) or is NULL.
    unsafe { libc::free(p) }
}

/// Inflates every gzip member of `gz` with zlib-ng, returning the decompressed size.
fn zlib_ng(gz: &[u8]) -> usize {
    let mut out = vec![0u8; OUT];
    let mut s = z::z_stream {
        next_in: gz.as_ptr().cast_mut(),
        avail_in: gz.len() as z::uInt,
        total_in: 0,
        next_out: out.as_mut_ptr(),
        avail_out: 0,
        total_out: 0,
        msg: std::ptr::null_mut(),
        state: std::ptr::null_mut(),
        zalloc,
        zfree,
        opaque: std::ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    };
    // SAFETY: `s` is a fully initialised stream; 15 + 16 selects a gzip wrapper.
    let rc = unsafe {
        z::inflateInit2_(
            &mut s,
            15 + 16,
            z::zlibVersion(),
            size_of::<z::z_stream>() as i32,
        )
    };
    assert_eq!(rc, z::Z_OK);
    let mut n = 0;
    loop {
        s.next_out = out.as_mut_ptr();
        s.avail_out = OUT as z::uInt;
        // SAFETY: `next_in` stays within `gz` and `next_out` within `out`, both alive.
        let rc = unsafe { z::inflate(&mut s, z::Z_NO_FLUSH) };
        n += OUT - s.avail_out as usize;
        match rc {
            z::Z_OK => {}
            // Another member may follow (multi-member files).
            z::Z_STREAM_END if s.avail_in > 0 => {
                // SAFETY: the stream was initialised above.
                assert_eq!(unsafe { z::inflateReset(&mut s) }, z::Z_OK);
            }
            z::Z_STREAM_END => break,
            rc => panic!("zlib-ng inflate failed: {rc}"),
        }
    }
    // SAFETY: initialised above, ended once.
    unsafe { z::inflateEnd(&mut s) };
    n
}

fn counters<'a, 'b>(b: Bencher<'a, 'b>) -> Bencher<'a, 'b> {
    b.counter(BytesCount::new(input().1))
}

/// flate2 with zlib-rs: what the plugin uses (the throughput benchmark's floor).
#[divan::bench(sample_count = 15, sample_size = 1)]
fn gunzip_flate2_zlib_rs(b: Bencher) {
    let gz = &input().0;
    counters(b).bench(|| black_box(zlib_rs(gz)));
}

/// zlib-ng 2.x (C, built by libz-ng-sys), the same bytes and output buffer size.
#[divan::bench(sample_count = 15, sample_size = 1)]
fn gunzip_zlib_ng(b: Bencher) {
    let gz = &input().0;
    counters(b).bench(|| black_box(zlib_ng(gz)));
}
