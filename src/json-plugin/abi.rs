//! The exported C ABI of `libjson.so`: an extraction-only plugin (no event source, no
//! event-source or event-type list: usable on the plugin events of every source, as
//! upstream's). Everything unsafe in this crate lives here.
//!
//! Each export catches panics and writes every out-parameter on every path (the host
//! passes them uninitialised). A field without a value is `res_len = 0` with SUCCESS;
//! FAILURE only for a malformed call (unknown field id, no event).

use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use falco_plugin_api::{
    ss_plugin_event_input, ss_plugin_extract_field, ss_plugin_field_extract_input,
    ss_plugin_init_input, ss_plugin_metric, ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC,
    ss_plugin_metric_value, ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64,
    ss_plugin_rc, ss_plugin_rc_SS_PLUGIN_FAILURE, ss_plugin_rc_SS_PLUGIN_SUCCESS,
    ss_plugin_schema_type, ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON, ss_plugin_t,
};

use crate::extract::{Extractor, Field};

/// Only the 3.0.0 parts of the host's structures are read (the init config, the
/// extract input's fields, the event input): any Falco with plugin API 3 (0.35.0
/// and later) loads it.
const REQUIRED_API_VERSION: &CStr = c"3.0.0";
const NAME: &CStr = c"json";
/// Falco accepts a plugin for a rules file's `required_plugin_versions` entry when the
/// major versions are equal and the plugin's is not older: 0.8.0 satisfies upstream's
/// `json 0.7.0`.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version has a NUL byte"),
    };
const DESCRIPTION: &CStr = c"implements extracting arbitrary fields from inputs formatted as JSON";
const CONTACT: &CStr =
    c"github.com/falcosecurity/plugins/ (Rust port: the cloudtrail plugin's repository)";

/// Upstream 0.7.4's fields JSON as its Go SDK writes it (HTML-safe escapes included),
/// so that a field table built from it is the same. Ids are the positions.
const FIELDS: &CStr = c"[{\"name\":\"json.value\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":true,\"isIndex\":false,\"isKey\":true},\"display\":\"\",\"desc\":\"Extracts a value from a JSON-encoded input. Syntax is json.value[\\u003cjson pointer\\u003e], where \\u003cjson pointer\\u003e is a json pointer (see https://datatracker.ietf.org/doc/html/rfc6901)\",\"properties\":null},{\"name\":\"json.obj\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":false,\"isIndex\":false,\"isKey\":false},\"display\":\"\",\"desc\":\"The full json message as a text string.\",\"properties\":null},{\"name\":\"json.rawtime\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":false,\"isIndex\":false,\"isKey\":false},\"display\":\"\",\"desc\":\"The time of the event, identical to evt.rawtime.\",\"properties\":null},{\"name\":\"jevt.value\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":true,\"isIndex\":false,\"isKey\":true},\"display\":\"\",\"desc\":\"Alias for json.value, provided for backwards compatibility.\",\"properties\":null},{\"name\":\"jevt.obj\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":false,\"isIndex\":false,\"isKey\":false},\"display\":\"\",\"desc\":\"Alias for json.obj, provided for backwards compatibility.\",\"properties\":null},{\"name\":\"jevt.rawtime\",\"type\":\"string\",\"isList\":false,\"arg\":{\"isRequired\":false,\"isIndex\":false,\"isKey\":false},\"display\":\"\",\"desc\":\"Alias for json.rawtime, provided for backwards compatibility.\",\"properties\":null}]";

const FIELD_KINDS: [Field; 6] = [
    Field::Value,
    Field::Obj,
    Field::RawTime,
    Field::Value,
    Field::Obj,
    Field::RawTime,
];

/// Upstream's one property, accepted so that existing configurations validate; there
/// are no workers to switch on or off here.
const SCHEMA: &CStr = c"{\"type\":\"object\",\"properties\":{\"useAsync\":{\"type\":\"boolean\",\"title\":\"Use async extraction\",\"description\":\"Accepted for compatibility with the Go plugin and ignored: extraction always runs on the calling thread, without workers.\"}},\"additionalProperties\":true}";

/// Plugin event layout: 26-byte header, two 4-byte parameter lengths, plugin id.
const HEADER_LEN: usize = 26;
const PAYLOAD_OFFSET: usize = 38;
const PLUGIN_EVENT: u16 = 322;

const METRIC_NAMES: [&CStr; 2] = [c"events_parsed", c"events_not_json"];

struct Handle {
    /// Read by concurrent `get_metrics` callers.
    counters: Arc<[AtomicU64; 2]>,
    state: UnsafeCell<State>,
}

struct State {
    ex: Extractor,
    /// Answers of the current call, NUL-terminated, back to back.
    text: Vec<u8>,
    /// Where each field's answer starts in `text` (`None`: no value).
    starts: Vec<Option<usize>>,
    ptrs: Vec<*const c_char>,
}

/// # Safety
/// `s` must be NULL or a live pointer from `plugin_init`.
unsafe fn handle<'a>(s: *mut ss_plugin_t) -> Option<&'a Handle> {
    // SAFETY: guaranteed by the caller.
    unsafe { (s as *const Handle).as_ref() }
}

/// # Safety
/// Calls on one state are sequential (plugin API), except `get_metrics`, which
/// does not use this.
#[allow(clippy::mut_from_ref)]
unsafe fn state(h: &Handle) -> &mut State {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *h.state.get() }
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_required_api_version() -> *const c_char {
    REQUIRED_API_VERSION.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_version() -> *const c_char {
    VERSION.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_name() -> *const c_char {
    NAME.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_description() -> *const c_char {
    DESCRIPTION.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_contact() -> *const c_char {
    CONTACT.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_fields() -> *const c_char {
    FIELDS.as_ptr()
}

/// # Safety
/// `schema_type` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_init_schema(
    schema_type: *mut ss_plugin_schema_type,
) -> *const c_char {
    if !schema_type.is_null() {
        // SAFETY: the host passes a writable pointer.
        unsafe { schema_type.write(ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON) };
    }
    SCHEMA.as_ptr()
}

/// # Safety
/// `rc` must be NULL or valid for a write. The config is not read: the one property
/// upstream has changes nothing here.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_init(
    _input: *const ss_plugin_init_input,
    rc: *mut ss_plugin_rc,
) -> *mut ss_plugin_t {
    let made = catch_unwind(|| {
        Box::new(Handle {
            counters: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            state: UnsafeCell::new(State {
                ex: Extractor::default(),
                text: Vec::new(),
                starts: Vec::new(),
                ptrs: Vec::new(),
            }),
        })
    });
    let (s, code) = match made {
        Ok(h) => (Box::into_raw(h).cast(), ss_plugin_rc_SS_PLUGIN_SUCCESS),
        Err(_) => (ptr::null_mut(), ss_plugin_rc_SS_PLUGIN_FAILURE),
    };
    if !rc.is_null() {
        // SAFETY: the host passes a writable pointer.
        unsafe { rc.write(code) };
    }
    s
}

/// # Safety
/// `s` must be NULL or a pointer from `plugin_init`, destroyed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_destroy(s: *mut ss_plugin_t) {
    if !s.is_null() {
        // SAFETY: it came from `Box::into_raw` in `plugin_init`.
        let h = unsafe { Box::from_raw(s.cast::<Handle>()) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(h)));
    }
}

/// # Safety
/// `s` must be NULL or a live pointer from `plugin_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_last_error(_s: *mut ss_plugin_t) -> *const c_char {
    // No call records an error: fields without a value are not errors.
    c"".as_ptr()
}

/// # Safety
/// `s` must be a live state pointer; `num_metrics` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_metrics(
    s: *mut ss_plugin_t,
    num_metrics: *mut u32,
) -> *mut ss_plugin_metric {
    thread_local! {
        static OUT: std::cell::RefCell<Vec<ss_plugin_metric>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // SAFETY: guaranteed by the caller.
    let counters = unsafe { handle(s) }.map(|h| h.counters.clone());
    let made = catch_unwind(AssertUnwindSafe(|| {
        let Some(counters) = counters else {
            return (0, ptr::null_mut());
        };
        // Per calling thread: concurrent callers never share the returned array.
        OUT.with_borrow_mut(|out| {
            out.clear();
            for (name, c) in METRIC_NAMES.iter().zip(counters.iter()) {
                out.push(ss_plugin_metric {
                    name: name.as_ptr(),
                    type_: ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                    value: ss_plugin_metric_value {
                        u64_: c.load(Ordering::Relaxed),
                    },
                    value_type: ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64,
                });
            }
            (out.len() as u32, out.as_mut_ptr())
        })
    }));
    let (n, p) = made.unwrap_or((0, ptr::null_mut()));
    if !num_metrics.is_null() {
        // SAFETY: the host passes a writable pointer.
        unsafe { num_metrics.write(n) };
    }
    p
}

/// The timestamp and payload of a plugin event (type 322), checked against its own
/// length fields; `None` for anything else.
///
/// # Safety
/// `evt` must be NULL or an event input valid for the call.
unsafe fn event<'a>(evt: *const ss_plugin_event_input) -> Option<(u64, u64, &'a [u8])> {
    // SAFETY: guaranteed by the caller.
    let input = unsafe { evt.as_ref() }?;
    if input.evt.is_null() {
        return None;
    }
    let base = input.evt.cast::<u8>();
    // SAFETY: every event starts with its 26-byte header.
    let header = unsafe { std::slice::from_raw_parts(base, HEADER_LEN) };
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let ts = u64::from_le_bytes(header[..8].try_into().ok()?);
    let len = u32_at(header, 16) as usize;
    let ty = u16::from_le_bytes([header[20], header[21]]);
    let nparams = u32_at(header, 22);
    if ty != PLUGIN_EVENT || nparams != 2 || len < PAYLOAD_OFFSET {
        return None;
    }
    // SAFETY: the header's `len` is the size of the event the host gave us.
    let whole = unsafe { std::slice::from_raw_parts(base, len) };
    let data_len = u32_at(whole, 30) as usize;
    let payload = whole.get(PAYLOAD_OFFSET..PAYLOAD_OFFSET.checked_add(data_len)?)?;
    Some((input.evtnum, ts, payload))
}

/// # Safety
/// `s` must be a live state pointer, `evt` and `input` valid for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_extract_fields(
    s: *mut ss_plugin_t,
    evt: *const ss_plugin_event_input,
    input: *const ss_plugin_field_extract_input,
) -> ss_plugin_rc {
    // SAFETY: guaranteed by the caller.
    let Some(input) = (unsafe { input.as_ref() }) else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    let fields: &mut [ss_plugin_extract_field] = if input.fields.is_null() || input.num_fields == 0
    {
        &mut []
    } else {
        // SAFETY: the host passes `num_fields` writable entries.
        unsafe { std::slice::from_raw_parts_mut(input.fields, input.num_fields as usize) }
    };
    for f in fields.iter_mut() {
        f.res_len = 0;
    }
    // SAFETY: guaranteed by the caller.
    let (Some(h), Some(event)) = (unsafe { handle(s) }, unsafe { event(evt) }) else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    // SAFETY: calls on one state are sequential.
    let st = unsafe { state(h) };
    let args: Vec<Option<&CStr>> = fields
        .iter()
        // SAFETY: a non-NULL `arg_key` is a NUL-terminated string valid for the call.
        .map(|f| (!f.arg_key.is_null()).then(|| unsafe { CStr::from_ptr(f.arg_key) }))
        .collect();
    let done = catch_unwind(AssertUnwindSafe(|| extract_into(st, event, fields, &args)));
    h.counters[0].store(st.ex.parses, Ordering::Relaxed);
    h.counters[1].store(st.ex.invalid, Ordering::Relaxed);
    match done {
        Ok(rc) => rc,
        Err(_) => {
            for f in fields.iter_mut() {
                f.res_len = 0;
            }
            ss_plugin_rc_SS_PLUGIN_FAILURE
        }
    }
}

fn extract_into(
    st: &mut State,
    (evtnum, ts, payload): (u64, u64, &[u8]),
    fields: &mut [ss_plugin_extract_field],
    args: &[Option<&CStr>],
) -> ss_plugin_rc {
    st.text.clear();
    st.starts.clear();
    for (f, arg) in fields.iter().zip(args) {
        let Some(&kind) = FIELD_KINDS.get(f.field_id as usize) else {
            return ss_plugin_rc_SS_PLUGIN_FAILURE;
        };
        let arg = arg.map_or(&b""[..], |a| a.to_bytes());
        let start = st.text.len();
        if st.ex.extract(evtnum, ts, payload, kind, arg, &mut st.text) {
            // An interior NUL ends the string for the host, as it does upstream.
            st.text.push(0);
            st.starts.push(Some(start));
        } else {
            st.text.truncate(start);
            st.starts.push(None);
        }
    }
    // Pointers are taken once all answers are written (the buffer no longer moves).
    let text = &st.text;
    st.ptrs.clear();
    st.ptrs.extend(
        st.starts
            .iter()
            .map(|s| s.map_or(ptr::null(), |s| text[s..].as_ptr().cast())),
    );
    for (f, p) in fields.iter_mut().zip(st.ptrs.iter_mut()) {
        if !p.is_null() {
            f.res.str_ = p;
            f.res_len = 1;
        }
    }
    ss_plugin_rc_SS_PLUGIN_SUCCESS
}
