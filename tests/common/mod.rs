//! A host for tests that behaves like libsinsp/libscap: it `dlopen`s the built
//! `libcloudtrail.so`, checks what libsinsp checks at load and init (API version,
//! fields JSON, init config against the schema), and drives the exported functions
//! with the same call patterns (one field per extract call, field id = table index,
//! a zero-event batch must not be a success).

#![allow(dead_code)]

pub mod eventbridge;
pub mod faults;
pub mod files;
pub mod golden;
pub mod json_host;
pub mod moto;

use std::ffi::{CStr, CString, c_char};
use std::path::PathBuf;
use std::process::Command;
use std::ptr;
use std::sync::{Mutex, OnceLock};

use falco_plugin_api::*;
use serde_json::Value;

fn newest_source(dir: &std::path::Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let t = if p.is_dir() {
            newest_source(&p)
        } else {
            e.metadata().and_then(|m| m.modified()).unwrap_or(newest)
        };
        newest = newest.max(t);
    }
    newest
}

/// The `.so` the tests load: `CLOUDTRAIL_SO` when set (e.g. the one packed in the
/// release tarball), else the one built with the profile of the running test.
pub fn so_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| built_lib("CLOUDTRAIL_SO", "libcloudtrail.so", "cloudtrail", "src"))
        .clone()
}

/// A workspace library: `$env` when set, else `file` in the running test's profile
/// directory. `cargo test` builds it with the workspace when sources changed;
/// otherwise (or if it is stale) `cargo build -p package` is run here, since cargo
/// does not build cdylib targets for tests by itself. `sources` is the directory
/// whose files (newest modification) decide staleness, with `Cargo.toml`.
pub fn built_lib(env: &str, file: &str, package: &str, sources: &str) -> PathBuf {
    if let Some(so) = std::env::var_os(env) {
        let so = PathBuf::from(so);
        assert!(so.is_file(), "{env}={} is not a file", so.display());
        return so;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let so = profile_dir.join(file);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let newest = newest_source(&root.join(sources)).max(
        std::fs::metadata(root.join("Cargo.toml"))
            .and_then(|m| m.modified())
            .unwrap(),
    );
    let fresh = std::fs::metadata(&so)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= newest);
    if fresh {
        return so;
    }
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--lib", "--quiet", "-p", package])
        .env("CARGO_TARGET_DIR", &target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let status = cmd.status().expect("cannot run cargo to build the plugin");
    assert!(status.success(), "building {file} failed");
    assert!(so.exists(), "{} was not built", so.display());
    so
}

/// The corpus shared with the rest of the team (`../shared` next to the checkout).
pub fn shared() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("conformance/golden").is_dir(),
        "../shared is missing: the tests need it beside the checkout"
    );
    p
}

type FnStr = unsafe extern "C" fn() -> *const c_char;

pub struct Lib {
    _lib: libloading::Library,
    pub required_api_version: FnStr,
    pub get_version: FnStr,
    pub get_name: FnStr,
    pub get_fields: FnStr,
    pub get_event_source: FnStr,
    pub get_id: unsafe extern "C" fn() -> u32,
    pub get_init_schema: unsafe extern "C" fn(*mut ss_plugin_schema_type) -> *const c_char,
    pub init:
        unsafe extern "C" fn(*const ss_plugin_init_input, *mut ss_plugin_rc) -> *mut ss_plugin_t,
    pub destroy: unsafe extern "C" fn(*mut ss_plugin_t),
    pub last_error: unsafe extern "C" fn(*mut ss_plugin_t) -> *const c_char,
    pub open: unsafe extern "C" fn(
        *mut ss_plugin_t,
        *const c_char,
        *mut ss_plugin_rc,
    ) -> *mut ss_instance_t,
    pub close: unsafe extern "C" fn(*mut ss_plugin_t, *mut ss_instance_t),
    pub next_batch: unsafe extern "C" fn(
        *mut ss_plugin_t,
        *mut ss_instance_t,
        *mut u32,
        *mut *mut *mut ss_plugin_event,
    ) -> ss_plugin_rc,
    pub get_progress:
        unsafe extern "C" fn(*mut ss_plugin_t, *mut ss_instance_t, *mut u32) -> *const c_char,
    pub event_to_string:
        unsafe extern "C" fn(*mut ss_plugin_t, *const ss_plugin_event_input) -> *const c_char,
    pub extract_fields: unsafe extern "C" fn(
        *mut ss_plugin_t,
        *const ss_plugin_event_input,
        *const ss_plugin_field_extract_input,
    ) -> ss_plugin_rc,
    pub get_metrics: unsafe extern "C" fn(*mut ss_plugin_t, *mut u32) -> *mut ss_plugin_metric,
    pub fields: Vec<Value>,
    pub schema: Value,
}

pub fn cstr(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the plugin returns NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Lib {
    /// Loads the plugin and runs libsinsp's load-time checks.
    pub fn load() -> &'static Lib {
        static LIB: OnceLock<Lib> = OnceLock::new();
        LIB.get_or_init(|| {
            // SAFETY: loading our own plugin library; its initialisers are trivial.
            let lib =
                unsafe { libloading::Library::new(so_path()) }.expect("dlopen libcloudtrail.so");
            macro_rules! sym {
                ($name:literal) => {
                    // SAFETY: the symbol has the plugin API's signature.
                    *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.expect($name)
                };
            }
            let mut l = Lib {
                required_api_version: sym!("plugin_get_required_api_version"),
                get_version: sym!("plugin_get_version"),
                get_name: sym!("plugin_get_name"),
                get_fields: sym!("plugin_get_fields"),
                get_event_source: sym!("plugin_get_event_source"),
                get_id: sym!("plugin_get_id"),
                get_init_schema: sym!("plugin_get_init_schema"),
                init: sym!("plugin_init"),
                destroy: sym!("plugin_destroy"),
                last_error: sym!("plugin_get_last_error"),
                open: sym!("plugin_open"),
                close: sym!("plugin_close"),
                next_batch: sym!("plugin_next_batch"),
                get_progress: sym!("plugin_get_progress"),
                event_to_string: sym!("plugin_event_to_string"),
                extract_fields: sym!("plugin_extract_fields"),
                get_metrics: sym!("plugin_get_metrics"),
                fields: Vec::new(),
                schema: Value::Null,
                _lib: lib,
            };
            // SAFETY: argument-less getters returning static strings.
            unsafe {
                let ver = cstr((l.required_api_version)());
                let parts: Vec<u32> = ver.split('.').map(|p| p.parse().unwrap()).collect();
                assert_eq!(parts.len(), 3, "required API version {ver}");
                // A 3.12 host (Falco 0.42+) accepts it; so must a 3.11 one (Falco 0.41).
                assert!(
                    parts[0] == 3 && parts[1] <= 11,
                    "required API version {ver} too new"
                );
                let v = cstr((l.get_version)());
                assert_eq!(v.split('.').filter(|p| p.parse::<u32>().is_ok()).count(), 3);
                assert_eq!(cstr((l.get_name)()), "cloudtrail");
                assert_eq!(cstr((l.get_event_source)()), "aws_cloudtrail");
                assert_eq!((l.get_id)(), 2);
                let fields: Value =
                    serde_json::from_str(&cstr((l.get_fields)())).expect("fields JSON");
                l.fields = check_fields(&fields);
                let mut ty = 0;
                let schema = cstr((l.get_init_schema)(&mut ty));
                assert_eq!(ty, ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON);
                l.schema = serde_json::from_str(&schema).expect("schema JSON");
                assert!(l.schema.is_object());
            }
            l
        })
    }

    pub fn field_id(&self, name: &str) -> u32 {
        self.fields
            .iter()
            .position(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}")) as u32
    }
}

/// libsinsp's checks on the fields JSON.
pub fn check_fields(v: &Value) -> Vec<Value> {
    let arr = v.as_array().expect("fields must be an array");
    assert!(!arr.is_empty());
    let name_re = |n: &str| {
        let mut parts = n.split('.');
        let ok = |p: &str| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        parts.clone().count() >= 2 && parts.all(ok)
    };
    for f in arr {
        let name = f["name"].as_str().expect("name");
        assert!(name_re(name), "field name {name}");
        assert!(
            [
                "string", "uint64", "reltime", "abstime", "bool", "ipaddr", "ipnet"
            ]
            .contains(&f["type"].as_str().unwrap())
        );
        assert!(!f["desc"].as_str().unwrap().is_empty());
        assert!(f.get("isList").is_none_or(|b| b.is_boolean()));
        if let Some(arg) = f.get("arg").filter(|a| !a.is_null()) {
            for k in ["isRequired", "isIndex", "isKey"] {
                assert!(arg.get(k).is_none_or(|b| b.is_boolean()), "{name}.arg.{k}");
            }
            let t = |k: &str| arg.get(k).and_then(Value::as_bool).unwrap_or(false);
            assert!(
                !t("isRequired") || t("isIndex") || t("isKey"),
                "{name}: isRequired without isIndex/isKey"
            );
        }
        if let Some(p) = f.get("properties").filter(|p| !p.is_null()) {
            assert!(p.as_array().unwrap().iter().all(Value::is_string));
        }
    }
    arr.clone()
}

/// The subset of JSON schema validation that matters for this schema (type and
/// properties, recursively), with valijson's semantics.
pub fn validate_schema(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("In {path}, type mismatch"));
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && v.as_f64().is_some_and(|x| x < min)
    {
        return Err(format!("In {path}, below minimum"));
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, sub) in props {
            if let Some(val) = obj.get(k) {
                validate_schema(sub, val, &format!("{path}.{k}"))?;
            }
        }
    }
    Ok(())
}

/// Log lines the plugin sent through `log_fn`.
pub struct LogSink {
    pub lines: Mutex<Vec<(u32, String)>>,
}

unsafe extern "C-unwind" fn log_fn(
    owner: *mut ss_plugin_owner_t,
    _component: *const c_char,
    msg: *const c_char,
    sev: u32,
) {
    // SAFETY: `owner` is the LogSink this host passed at init; msg is a C string.
    let sink = unsafe { &*(owner as *const LogSink) };
    sink.lines.lock().unwrap().push((sev, cstr(msg)));
}

/// One initialised plugin state.
pub struct Plugin {
    pub lib: &'static Lib,
    pub s: *mut ss_plugin_t,
    pub logs: Box<LogSink>,
}

/// One extracted field: `None` = no value.
#[derive(Debug, Clone, PartialEq)]
pub enum Extracted {
    Str(Vec<String>),
    U64(Vec<u64>),
}

pub struct Event {
    pub ts: u64,
    pub payload: Vec<u8>,
    pub bytes: Vec<u8>,
}

impl Plugin {
    /// Validates `config` against the schema like libsinsp, then calls init.
    pub fn init(config: &str) -> Result<Plugin, String> {
        let lib = Lib::load();
        let config = if config.is_empty() { "{}" } else { config };
        let parsed: Value = serde_json::from_str(config)
            .map_err(|_| "init config is not a valid json".to_string())?;
        validate_schema(&lib.schema, &parsed, "root")
            .map_err(|e| format!("error in plugin cloudtrail init config: {e}"))?;
        let logs = Box::new(LogSink {
            lines: Mutex::new(Vec::new()),
        });
        let c = CString::new(config).unwrap();
        let input = ss_plugin_init_input {
            config: c.as_ptr(),
            owner: (&*logs as *const LogSink).cast_mut().cast(),
            get_owner_last_error: None,
            tables: ptr::null(),
            log_fn: Some(log_fn),
        };
        let mut rc = ss_plugin_rc_SS_PLUGIN_FAILURE;
        // SAFETY: a valid init input; rc is writable.
        let s = unsafe { (lib.init)(&input, &mut rc) };
        assert!(!s.is_null(), "init must return a state even on failure");
        let p = Plugin { lib, s, logs };
        if rc != ss_plugin_rc_SS_PLUGIN_SUCCESS {
            return Err(p.last_error());
        }
        Ok(p)
    }

    pub fn last_error(&self) -> String {
        // SAFETY: live state.
        cstr(unsafe { (self.lib.last_error)(self.s) })
    }

    pub fn log_lines(&self) -> Vec<(u32, String)> {
        self.logs.lines.lock().unwrap().clone()
    }

    pub fn open(&self, params: &str) -> Result<Source<'_>, String> {
        let c = CString::new(params).unwrap();
        let mut rc = 12345;
        // SAFETY: live state, valid C string.
        let h = unsafe { (self.lib.open)(self.s, c.as_ptr(), &mut rc) };
        if rc != ss_plugin_rc_SS_PLUGIN_SUCCESS {
            // libscap calls close even after a failed open.
            // SAFETY: h is what open returned.
            unsafe { (self.lib.close)(self.s, h) };
            return Err(self.last_error());
        }
        assert!(!h.is_null());
        Ok(Source { p: self, h })
    }

    /// Extracts one field (by name, with an optional index) from an event, the way
    /// libsinsp does: one field per call, with value offsets requested.
    pub fn extract(
        &self,
        evtnum: u64,
        ev: &[u8],
        name: &str,
        index: Option<u64>,
    ) -> Result<(Extracted, Vec<(u32, u32)>), ss_plugin_rc> {
        let id = self.lib.field_id(name);
        let def = &self.lib.fields[id as usize];
        let ftype = if def["type"] == "uint64" {
            ss_plugin_field_type_FTYPE_UINT64
        } else {
            ss_plugin_field_type_FTYPE_STRING
        };
        let cname = CString::new(name).unwrap();
        let mut f = ss_plugin_extract_field {
            res: ss_plugin_extract_field__bindgen_ty_1 {
                u64_: ptr::null_mut(),
            },
            res_len: 999, // stale, as the host leaves it
            field_id: id,
            field: cname.as_ptr(),
            arg_key: ptr::null(),
            arg_index: index.unwrap_or(u64::MAX),
            arg_present: index.is_some() as u32,
            ftype,
            flist: def["isList"].as_bool().unwrap_or(false) as u32,
        };
        let mut offs = ss_plugin_extract_value_offsets {
            start: ptr::null_mut(),
            length: ptr::null_mut(),
        };
        let input = ss_plugin_field_extract_input {
            owner: ptr::null_mut(),
            get_owner_last_error: None,
            num_fields: 1,
            fields: &mut f,
            table_reader: unsafe { std::mem::zeroed() },
            table_reader_ext: ptr::null_mut(),
            value_offsets: &mut offs,
        };
        let evin = ss_plugin_event_input {
            evt: ev.as_ptr().cast(),
            evtnum,
            evtsrc: c"aws_cloudtrail".as_ptr(),
        };
        // SAFETY: valid inputs for the duration of the call.
        let rc = unsafe { (self.lib.extract_fields)(self.s, &evin, &input) };
        if rc != ss_plugin_rc_SS_PLUGIN_SUCCESS {
            return Err(rc);
        }
        let n = f.res_len as usize;
        assert!(
            n <= 1 || def["isList"] == true,
            "{name}: {n} values for a non-list field"
        );
        let mut spans = Vec::new();
        if n > 0 && !offs.start.is_null() {
            for i in 0..n {
                // SAFETY: the plugin provides one entry per value.
                unsafe { spans.push((*offs.start.add(i), *offs.length.add(i))) };
            }
        }
        // SAFETY: res points to n values of the field's type.
        let values = unsafe {
            if ftype == ss_plugin_field_type_FTYPE_UINT64 {
                Extracted::U64((0..n).map(|i| *f.res.u64_.add(i)).collect())
            } else {
                Extracted::Str((0..n).map(|i| cstr(*f.res.str_.add(i))).collect())
            }
        };
        Ok((values, spans))
    }

    pub fn to_string(&self, evtnum: u64, ev: &[u8]) -> Option<String> {
        let evin = ss_plugin_event_input {
            evt: ev.as_ptr().cast(),
            evtnum,
            evtsrc: c"aws_cloudtrail".as_ptr(),
        };
        // SAFETY: valid input.
        let p = unsafe { (self.lib.event_to_string)(self.s, &evin) };
        (!p.is_null()).then(|| cstr(p))
    }

    pub fn metrics(&self) -> Vec<(String, u64)> {
        let mut n = 99;
        // SAFETY: live state.
        let m = unsafe { (self.lib.get_metrics)(self.s, &mut n) };
        (0..n as usize)
            .map(|i| {
                // SAFETY: n entries.
                let e = unsafe { &*m.add(i) };
                // SAFETY: u64 metrics.
                (cstr(e.name), unsafe { e.value.u64_ })
            })
            .collect()
    }

    pub fn metric(&self, name: &str) -> u64 {
        self.metrics()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .1
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        // SAFETY: the state from init, destroyed once.
        unsafe { (self.lib.destroy)(self.s) };
    }
}

/// An open source.
pub struct Source<'p> {
    pub p: &'p Plugin,
    pub h: *mut ss_instance_t,
}

/// What one next_batch call returned.
pub enum Batch {
    Events(Vec<Event>, ss_plugin_rc),
    Failure(String),
}

impl Source<'_> {
    /// One next_batch call, with libscap's checks on the result.
    pub fn next_batch(&mut self) -> Batch {
        let mut n: u32 = 7777; // stale values, as the host leaves them
        let mut evts: *mut *mut ss_plugin_event = 0x1 as _;
        // SAFETY: live state and instance; out-params are writable.
        let rc = unsafe { (self.p.lib.next_batch)(self.p.s, self.h, &mut n, &mut evts) };
        if rc == ss_plugin_rc_SS_PLUGIN_FAILURE || rc == ss_plugin_rc_SS_PLUGIN_NOT_SUPPORTED {
            return Batch::Failure(self.p.last_error());
        }
        assert!(
            rc == ss_plugin_rc_SS_PLUGIN_SUCCESS
                || rc == ss_plugin_rc_SS_PLUGIN_TIMEOUT
                || rc == ss_plugin_rc_SS_PLUGIN_EOF,
            "unexpected rc {rc}"
        );
        if rc == ss_plugin_rc_SS_PLUGIN_SUCCESS {
            assert!(
                n > 0,
                "unexpected 0 size event returned by plugin cloudtrail"
            );
        }
        let mut out = Vec::new();
        for i in 0..n as usize {
            // SAFETY: n event pointers, each to a complete event.
            let ev = unsafe { *evts.add(i) };
            let hdr = unsafe { std::slice::from_raw_parts(ev.cast::<u8>(), 26) };
            let len = u32::from_le_bytes(hdr[16..20].try_into().unwrap()) as usize;
            let bytes = unsafe { std::slice::from_raw_parts(ev.cast::<u8>(), len) }.to_vec();
            assert_eq!(
                u16::from_le_bytes(bytes[20..22].try_into().unwrap()),
                322,
                "malformed plugin event"
            );
            assert_eq!(
                u32::from_le_bytes(bytes[22..26].try_into().unwrap()),
                2,
                "nparams"
            );
            assert_eq!(u32::from_le_bytes(bytes[26..30].try_into().unwrap()), 4);
            let plen = u32::from_le_bytes(bytes[30..34].try_into().unwrap()) as usize;
            assert_eq!(38 + plen, len);
            let id = u32::from_le_bytes(bytes[34..38].try_into().unwrap());
            assert!(id == 0 || id == 2, "unexpected plugin ID in plugin event");
            // libscap writes into the event buffers (tid); they must be writable.
            unsafe {
                ev.cast::<u8>()
                    .add(8)
                    .cast::<u64>()
                    .write_unaligned(u64::MAX)
            };
            out.push(Event {
                ts: u64::from_le_bytes(bytes[0..8].try_into().unwrap()),
                payload: bytes[38..].to_vec(),
                bytes,
            });
        }
        Batch::Events(out, rc)
    }

    /// Calls `f` on every event, in order, while the batch holding it is live (as
    /// Falco does), until EOF. Returns the number of events, or the failure.
    pub fn drain(&mut self, f: impl FnMut(u64, &[u8], &Event)) -> Result<u64, String> {
        self.drain_until(None, f, || false)
    }

    /// Like [`Source::drain`], but also stops when `done` (checked before each call)
    /// says so, and panics after `deadline`.
    pub fn drain_until(
        &mut self,
        deadline: Option<std::time::Duration>,
        mut f: impl FnMut(u64, &[u8], &Event),
        mut done: impl FnMut() -> bool,
    ) -> Result<u64, String> {
        let end = deadline.map(|d| std::time::Instant::now() + d);
        let mut evtnum = 0u64;
        let mut timeouts = 0;
        while !done() {
            if let Some(end) = end {
                assert!(
                    std::time::Instant::now() < end,
                    "timed out after {evtnum} events"
                );
            }
            let mut n: u32 = 0;
            let mut evts: *mut *mut ss_plugin_event = ptr::null_mut();
            // SAFETY: live state and instance.
            let rc = unsafe { (self.p.lib.next_batch)(self.p.s, self.h, &mut n, &mut evts) };
            if rc == ss_plugin_rc_SS_PLUGIN_FAILURE {
                return Err(self.p.last_error());
            }
            if rc == ss_plugin_rc_SS_PLUGIN_SUCCESS {
                assert!(
                    n > 0,
                    "unexpected 0 size event returned by plugin cloudtrail"
                );
            }
            if rc == ss_plugin_rc_SS_PLUGIN_EOF {
                assert_eq!(n, 0, "events delivered together with EOF");
            }
            for i in 0..n as usize {
                // SAFETY: n valid event pointers, live until the next call.
                let ev = unsafe { *evts.add(i) };
                let hdr = unsafe { std::slice::from_raw_parts(ev.cast::<u8>(), 26) };
                let len = u32::from_le_bytes(hdr[16..20].try_into().unwrap()) as usize;
                let live = unsafe { std::slice::from_raw_parts(ev.cast::<u8>(), len) };
                evtnum += 1;
                let e = Event {
                    ts: u64::from_le_bytes(live[0..8].try_into().unwrap()),
                    payload: live[38..].to_vec(),
                    bytes: Vec::new(),
                };
                f(evtnum, live, &e);
            }
            match rc {
                r if r == ss_plugin_rc_SS_PLUGIN_EOF => return Ok(evtnum),
                r if r == ss_plugin_rc_SS_PLUGIN_TIMEOUT && n == 0 && end.is_none() => {
                    timeouts += 1;
                    assert!(timeouts < 2000, "no progress after 2000 timeouts");
                }
                _ => timeouts = 0,
            }
        }
        Ok(evtnum)
    }

    /// Calls next_batch until `done` says so, collecting payloads; panics after
    /// `deadline` or on a failure.
    pub fn collect_until(
        &mut self,
        out: &mut Vec<String>,
        deadline: std::time::Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) {
        let end = std::time::Instant::now() + deadline;
        while !done(out) {
            assert!(
                std::time::Instant::now() < end,
                "timed out with {} events collected",
                out.len()
            );
            match self.next_batch() {
                Batch::Events(evs, _) => out.extend(
                    evs.iter()
                        .map(|e| String::from_utf8(e.payload.clone()).unwrap()),
                ),
                Batch::Failure(e) => panic!("next_batch failed: {e}"),
            }
        }
    }

    pub fn progress(&self) -> (u32, String) {
        let mut pct = 77777;
        // SAFETY: live state and instance.
        let p = unsafe { (self.p.lib.get_progress)(self.p.s, self.h, &mut pct) };
        (pct, if p.is_null() { String::new() } else { cstr(p) })
    }
}

impl Drop for Source<'_> {
    fn drop(&mut self) {
        // SAFETY: the instance from open, closed once.
        unsafe { (self.p.lib.close)(self.p.s, self.h) };
    }
}

const INVICTUS: &str =
    "invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T";

/// Small invictus corpus files (distinct events, every record with an eventID).
pub const SMALL_FILES: &[&str] = &[
    "1210Z_2ru8PrDKZmsO3yWC",
    "1225Z_QqgbBkK0L13H8Wbv",
    "1230Z_soULWstxp7lqsODg",
    "1225Z_qWyTCPHzELqDMshA",
    "1235Z_kboLbHJlz2H6cLyo",
    "1225Z_RL8g7SsRoNFvvVBW",
    "1230Z_OU6Ha25B4GGhUIMr",
    "1210Z_bXGZYqBeCCsqWq1U",
    "1220Z_8sBQhbu5YO94UV8p",
];

/// The largest invictus files (150–400 events each), for runs caught half-way.
pub const BIG_FILES: &[&str] = &[
    "1215Z_YMDRJwtmC82bUwAo",
    "1235Z_YbVFCP9AYzJDhHV9",
    "1205Z_zs3JGxETHr59VpkX",
    "1215Z_nBsuPO1qSTEVerMD",
    "1210Z_6CICdbJQM3beT7n3",
    "1200Z_iLj9fb7yyUG9X4Bf",
];

/// The corpus path of an invictus file named in [`SMALL_FILES`] or [`BIG_FILES`].
pub fn invictus(name: &str) -> String {
    format!("{INVICTUS}{name}.json")
}

/// The payloads a corpus file must produce, from its golden file.
pub fn golden_payloads(source: &str) -> Vec<String> {
    use std::io::BufRead;
    let path = shared()
        .join("conformance/golden")
        .join(format!("{source}.golden.jsonl.gz"));
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    reader
        .lines()
        .skip(1)
        .map(|l| {
            let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
            v["payload"].as_str().unwrap().to_string()
        })
        .collect()
}

/// A corpus file's bytes, gzipped.
pub fn corpus_gz(source: &str) -> Vec<u8> {
    use std::io::Write;
    let data = std::fs::read(shared().join("testdata/cloudtrail").join(source)).unwrap();
    if data.starts_with(&[0x1f, 0x8b]) {
        return data;
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&data).unwrap();
    e.finish().unwrap()
}

/// Opens `params` with `config`, drains it, returns the payloads (or the error).
pub fn drain_payloads(config: &str, params: &str) -> Result<Vec<String>, String> {
    let p = Plugin::init(config)?;
    let mut src = p.open(params)?;
    let mut out = Vec::new();
    src.drain(|_, _, e| out.push(String::from_utf8(e.payload.clone()).unwrap()))?;
    Ok(out)
}

/// The `eventID` of a record.
pub fn event_id(payload: &str) -> String {
    let v: Value = serde_json::from_str(payload).unwrap();
    v["eventID"].as_str().expect("eventID").to_string()
}

/// Runs the command-line front end on `sqs://queue` (every field of every event as
/// JSON), reads a little, kills it (`SIGKILL`) while it waits on the full pipe, then
/// drains the queue through the `.so`: every id in `expected` must come out of one
/// or the other. `cfg` should use a short `sqsVisibilitySeconds`.
pub fn crash_then_recover(cfg: &str, queue: &str, expected: &std::collections::BTreeSet<String>) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let params = format!("sqs://{queue}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudtrail"))
        .args([params.as_str(), "--json", "--quiet", "--init", cfg])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 1];
    stdout.read_exact(&mut buf).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut printed = String::from_utf8(buf.to_vec()).unwrap();
    stdout.read_to_string(&mut printed).unwrap();
    let mut seen: std::collections::BTreeSet<String> = printed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["ct.id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        seen.len() < expected.len(),
        "the reader finished before the kill"
    );

    let p = Plugin::init(cfg).unwrap();
    let mut src = p.open(&params).unwrap();
    let mut got = Vec::new();
    src.collect_until(&mut got, Duration::from_secs(60), |g| {
        let ids: std::collections::BTreeSet<String> = g.iter().map(|p| event_id(p)).collect();
        expected.iter().all(|e| seen.contains(e) || ids.contains(e))
    });
    drop(src);
    seen.extend(got.iter().map(|p| event_id(p)));
    assert!(expected.is_subset(&seen));
}
