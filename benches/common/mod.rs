//! The benchmark input, built at bench time from the shared corpus and cached under
//! `target/bench-data/`: the invictus records, in file order, repeated to 100,000
//! records in one `{"Records":[...]}` file (126 MB), plain and gzipped.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cloudtrail::scan::{Item, Scanner};

pub const RECORDS: usize = 100_000;

pub struct Corpus {
    pub records: Vec<Vec<u8>>,
    pub json: Vec<u8>,
    pub gz: Vec<u8>,
    pub json_path: PathBuf,
    pub gz_path: PathBuf,
}

fn invictus_records() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/cloudtrail/invictus-aws-dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (../shared must be beside the checkout)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut sc = Scanner::new();
        while let Some(item) = sc.next(&bytes) {
            if let Item::Record { start, end } = item {
                out.push(bytes[start..end].to_vec());
            }
        }
    }
    assert_eq!(out.len(), 2900);
    out
}

pub fn corpus() -> &'static Corpus {
    static C: OnceLock<Corpus> = OnceLock::new();
    C.get_or_init(build)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data")
}

/// The paths of the benchmark files (built if missing) without keeping them in
/// memory, for measurements of other processes.
pub fn files() -> (PathBuf, PathBuf) {
    let (json, gz) = (
        data_dir().join("invictus-100k.json"),
        data_dir().join("invictus-100k.json.gz"),
    );
    let fresh = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if !matches!((fresh(&json), fresh(&gz)), (Some(j), Some(g)) if g >= j) {
        drop(build());
    }
    (json, gz)
}

fn build() -> Corpus {
    let base = invictus_records();
    let records: Vec<Vec<u8>> = (0..RECORDS).map(|i| base[i % base.len()].clone()).collect();
    let mut json = Vec::with_capacity(130 << 20);
    json.extend_from_slice(b"{\"Records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(r);
    }
    json.extend_from_slice(b"]}");
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("invictus-100k.json");
    let gz_path = dir.join("invictus-100k.json.gz");
    if std::fs::metadata(&json_path).map(|m| m.len()).ok() != Some(json.len() as u64) {
        std::fs::write(&json_path, &json).unwrap();
    }
    let gz = match std::fs::read(&gz_path) {
        Ok(g)
            if !g.is_empty()
                && std::fs::metadata(&gz_path).unwrap().modified().unwrap()
                    >= std::fs::metadata(&json_path).unwrap().modified().unwrap() =>
        {
            g
        }
        _ => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&json).unwrap();
            let g = e.finish().unwrap();
            std::fs::write(&gz_path, &g).unwrap();
            g
        }
    };
    Corpus {
        records,
        json,
        gz,
        json_path,
        gz_path,
    }
}

/// The eight fields the upstream rules use most (the benchmark set).
pub const RULE_FIELDS: [&str; 8] = [
    "ct.name",
    "ct.error",
    "ct.src",
    "ct.user.identitytype",
    "ct.region",
    "ct.user",
    "ct.srcip",
    "ct.info",
];

/// Drives the plugin through its exported C functions, as libsinsp does.
pub mod abi {
    use std::ffi::CString;
    use std::ptr;

    use cloudtrail::plugin::*;
    use falco_plugin_api::*;

    pub struct Plugin(pub *mut ss_plugin_t);

    impl Plugin {
        pub fn new() -> Plugin {
            Self::with_config("{}")
        }

        pub fn with_config(config: &str) -> Plugin {
            let cfg = CString::new(config).unwrap();
            let input = ss_plugin_init_input {
                config: cfg.as_ptr(),
                owner: ptr::null_mut(),
                get_owner_last_error: None,
                tables: ptr::null(),
                log_fn: None,
            };
            let mut rc = 0;
            // SAFETY: a valid init input.
            Plugin(unsafe { plugin_init(&input, &mut rc) })
        }
    }

    impl Drop for Plugin {
        fn drop(&mut self) {
            // SAFETY: the state from init.
            unsafe { plugin_destroy(self.0) };
        }
    }

    pub fn field_ids(names: &[&str]) -> Vec<u32> {
        names
            .iter()
            .map(|n| {
                cloudtrail::fields::FIELDS
                    .iter()
                    .position(|d| d.name == *n)
                    .unwrap() as u32
            })
            .collect()
    }

    /// Extracts each field in its own call; returns the number of values (so the
    /// work cannot be optimised away).
    ///
    /// # Safety
    /// `evt` must point to a complete plugin event.
    pub unsafe fn extract_each(
        p: &Plugin,
        evtnum: u64,
        evt: *const ss_plugin_event,
        ids: &[u32],
    ) -> u64 {
        let mut n = 0;
        let evin = ss_plugin_event_input {
            evt,
            evtnum,
            evtsrc: c"aws_cloudtrail".as_ptr(),
        };
        for &id in ids {
            let mut f = ss_plugin_extract_field {
                res: ss_plugin_extract_field__bindgen_ty_1 {
                    u64_: ptr::null_mut(),
                },
                res_len: 0,
                field_id: id,
                field: ptr::null(),
                arg_key: ptr::null(),
                arg_index: u64::MAX,
                arg_present: 0,
                ftype: 0,
                flist: 0,
            };
            let input = ss_plugin_field_extract_input {
                owner: ptr::null_mut(),
                get_owner_last_error: None,
                num_fields: 1,
                fields: &mut f,
                // SAFETY: an all-NULL table reader vtable is never called.
                table_reader: unsafe { std::mem::zeroed() },
                table_reader_ext: ptr::null_mut(),
                value_offsets: ptr::null_mut(),
            };
            // SAFETY: valid inputs.
            unsafe { plugin_extract_fields(p.0, &evin, &input) };
            n += f.res_len;
        }
        n
    }

    /// Opens `path`, drains it, extracts `ids` from every event; returns the events.
    pub fn drain(path: &str, ids: &[u32]) -> u64 {
        drain_with("{}", path, ids)
    }

    /// [`drain`] with an init config.
    pub fn drain_with(config: &str, path: &str, ids: &[u32]) -> u64 {
        drain_count(config, path, ids, u64::MAX)
    }

    /// [`drain_with`], stopping after `want` events (a source that never ends).
    pub fn drain_count(config: &str, path: &str, ids: &[u32], want: u64) -> u64 {
        let p = Plugin::with_config(config);
        let params = CString::new(path).unwrap();
        let mut rc = 0;
        // SAFETY: live state, valid params.
        let h = unsafe { plugin_open(p.0, params.as_ptr(), &mut rc) };
        assert_eq!(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS);
        let mut evtnum = 0;
        let mut values = 0;
        loop {
            let mut n = 0u32;
            let mut evts: *mut *mut ss_plugin_event = ptr::null_mut();
            // SAFETY: live state and instance.
            let rc = unsafe { plugin_next_batch(p.0, h, &mut n, &mut evts) };
            for i in 0..n as usize {
                evtnum += 1;
                // SAFETY: n valid events, live until the next call.
                values += unsafe { extract_each(&p, evtnum, *evts.add(i), ids) };
            }
            if rc == ss_plugin_rc_SS_PLUGIN_EOF || evtnum >= want {
                break;
            }
            assert_ne!(rc, ss_plugin_rc_SS_PLUGIN_FAILURE);
        }
        // SAFETY: the instance from open.
        unsafe { plugin_close(p.0, h) };
        assert!(values > 0);
        evtnum
    }
}
