//! The exported C ABI (Falco plugin API 3.x), written by hand on the generated
//! `falco_plugin_api` bindings. Everything unsafe in the crate lives here.
//!
//! Every export catches panics (a panic must never unwind into libscap's C or
//! libsinsp's C++) and turns them into a failure code plus a last-error string, and
//! writes every out-parameter on every path: the host passes them uninitialised.

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, OnceLock};

use falco_plugin_api::{
    ss_instance_t, ss_plugin_event, ss_plugin_event_input, ss_plugin_extract_field,
    ss_plugin_field_extract_input, ss_plugin_init_input, ss_plugin_log_fn_t,
    ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_DEBUG, ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_ERROR,
    ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_INFO, ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_NOTICE,
    ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_WARNING, ss_plugin_metric,
    ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC,
    ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC, ss_plugin_metric_value,
    ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64, ss_plugin_owner_t, ss_plugin_rc,
    ss_plugin_rc_SS_PLUGIN_EOF, ss_plugin_rc_SS_PLUGIN_FAILURE, ss_plugin_rc_SS_PLUGIN_SUCCESS,
    ss_plugin_rc_SS_PLUGIN_TIMEOUT, ss_plugin_schema_type,
    ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON, ss_plugin_t,
};

use crate::config::SCHEMA;
use crate::engine::Engine;
use crate::event::{HEADER_LEN, PAYLOAD_OFFSET};
use crate::extract::Request;
use crate::fields::{FIELDS, Scalar, fields_json};
use crate::instance::{Instance, Status};
use crate::log::{Level, Logger, Sink};
use crate::metrics::{Metrics, NAMES, monotonic};

/// Plugin API version required: 3.11.0 is the first with `value_offsets` in the
/// extract input, which this plugin reads (Falco 0.41 and later).
pub const REQUIRED_API_VERSION: &CStr = c"3.11.0";
pub const NAME: &CStr = c"cloudtrail";
pub const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version has a NUL byte"),
    };
pub const DESCRIPTION: &CStr =
    c"reads cloudtrail JSON data saved to file in the directory specified in the settings";
pub const CONTACT: &CStr = c"github.com/falcosecurity/plugins/";
pub const EVENT_SOURCE: &CStr = c"aws_cloudtrail";
pub const PLUGIN_ID: u32 = 2;

/// Set to the name of an export (e.g. `plugin_next_batch`) to make it panic: the test
/// suite uses it to prove panics come back as failures.
const FAULT_ENV: &str = "CLOUDTRAIL_TEST_PANIC_IN";

/// What an `ss_plugin_t*` points to. `shared` is read by concurrent `get_metrics`
/// callers while the event thread mutates `state`, hence the `UnsafeCell`.
struct Handle {
    shared: Arc<Metrics>,
    fault: Option<String>,
    state: UnsafeCell<State>,
}

struct State {
    engine: Option<Engine>,
    last_error: CString,
    text: Vec<u8>,
    str_ptrs: Vec<*const c_char>,
    u64s: Vec<u64>,
    starts: Vec<u32>,
    lengths: Vec<u32>,
    requests: Vec<Request>,
}

/// What an `ss_instance_t*` points to.
struct Inst {
    instance: Instance,
    ptrs: Vec<*mut u8>,
    progress: CString,
    poisoned: bool,
}

impl State {
    fn set_error(&mut self, msg: &str) {
        self.last_error = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    }
}

fn check_fault(handle: &Handle, export: &str) {
    if handle.fault.as_deref() == Some(export) {
        panic!("fault injected in {export}");
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The host's owner and log callback, usable from worker threads.
struct HostLog {
    owner: *mut ss_plugin_owner_t,
    log_fn: unsafe extern "C-unwind" fn(*mut ss_plugin_owner_t, *const c_char, *const c_char, u32),
}

// SAFETY: the plugin API allows calling `log_fn` with `owner` from any thread, from
// `init` until `destroy` returns; every thread that holds a logger is joined by
// `close`/`destroy`, so the pointers are never used after they become invalid.
unsafe impl Send for HostLog {}
// SAFETY: as above; the host's log function is thread-safe by contract.
unsafe impl Sync for HostLog {}

impl HostLog {
    fn emit(&self, level: Level, msg: &str) {
        let sev = match level {
            Level::Error => ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_ERROR,
            Level::Warning => ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_WARNING,
            Level::Notice => ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_NOTICE,
            Level::Info => ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_INFO,
            Level::Debug => ss_plugin_log_severity_SS_PLUGIN_LOG_SEV_DEBUG,
        };
        let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        // SAFETY: `owner` and `log_fn` come from the host's init input and stay valid
        // until destroy (see `HostLog`); both strings are NUL-terminated and outlive
        // the call; a NULL component makes the host use the plugin name.
        unsafe { (self.log_fn)(self.owner, ptr::null(), msg.as_ptr(), sev) };
    }
}

fn host_sink(owner: *mut ss_plugin_owner_t, log_fn: ss_plugin_log_fn_t) -> Option<Sink> {
    let log_fn = log_fn?;
    if owner.is_null() {
        return None;
    }
    let host = HostLog { owner, log_fn };
    Some(Arc::new(move |level: Level, msg: &str| {
        host.emit(level, msg)
    }))
}

/// Borrows the handle behind a state pointer.
///
/// # Safety
/// `s` must be NULL or a pointer returned by `plugin_init` and not yet destroyed.
unsafe fn handle<'a>(s: *mut ss_plugin_t) -> Option<&'a Handle> {
    // SAFETY: guaranteed by the caller.
    unsafe { (s as *const Handle).as_ref() }
}

/// The mutable state behind a handle.
///
/// # Safety
/// Only one call may use it at a time; the plugin API makes calls on one state
/// sequential, except `get_metrics`, which never calls this.
#[allow(clippy::mut_from_ref)]
unsafe fn state(h: &Handle) -> &mut State {
    // SAFETY: guaranteed by the caller (see above).
    unsafe { &mut *h.state.get() }
}

/// # Safety
/// `h` must be NULL or a pointer returned by `plugin_open` and not yet closed.
unsafe fn instance<'a>(h: *mut ss_instance_t) -> Option<&'a mut Inst> {
    // SAFETY: guaranteed by the caller; calls on one instance are sequential.
    unsafe { (h as *mut Inst).as_mut() }
}

/// Writes through an out-parameter when the host passed one.
///
/// # Safety
/// `p` must be NULL or valid for a write of `T`.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: guaranteed by the caller.
        unsafe { p.write(v) };
    }
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
pub extern "C" fn plugin_get_id() -> u32 {
    PLUGIN_ID
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_event_source() -> *const c_char {
    EVENT_SOURCE.as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_extract_event_sources() -> *const c_char {
    // Empty: only this plugin's own source, as upstream.
    c"[]".as_ptr()
}

static EXTRACT_TYPES: [u16; 1] = [crate::event::EVENT_TYPE];

/// # Safety
/// `numtypes` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_extract_event_types(
    numtypes: *mut u32,
    _s: *mut ss_plugin_t,
) -> *mut u16 {
    // SAFETY: the host passes a valid pointer (or NULL, which `put` ignores).
    unsafe { put(numtypes, EXTRACT_TYPES.len() as u32) };
    // The host only reads the array.
    EXTRACT_TYPES.as_ptr().cast_mut()
}

fn c_static(cell: &'static OnceLock<CString>, make: impl FnOnce() -> String) -> *const c_char {
    cell.get_or_init(|| CString::new(make()).unwrap_or_default())
        .as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn plugin_get_fields() -> *const c_char {
    static FIELDS_C: OnceLock<CString> = OnceLock::new();
    catch_unwind(|| c_static(&FIELDS_C, || fields_json().to_string())).unwrap_or(ptr::null())
}

/// # Safety
/// `schema_type` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_init_schema(
    schema_type: *mut ss_plugin_schema_type,
) -> *const c_char {
    static SCHEMA_C: OnceLock<CString> = OnceLock::new();
    // SAFETY: the host passes a valid pointer (or NULL, which `put` ignores).
    unsafe { put(schema_type, ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON) };
    catch_unwind(|| c_static(&SCHEMA_C, || SCHEMA.to_string())).unwrap_or(ptr::null())
}

/// # Safety
/// `input` must be NULL or point to a valid init input for the duration of the call;
/// `rc` must be NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_init(
    input: *const ss_plugin_init_input,
    rc: *mut ss_plugin_rc,
) -> *mut ss_plugin_t {
    let fault = std::env::var(FAULT_ENV).ok();
    let made = catch_unwind(AssertUnwindSafe(|| {
        if fault.as_deref() == Some("plugin_init") {
            panic!("fault injected in plugin_init");
        }
        // SAFETY: guaranteed by the caller.
        let input = unsafe { input.as_ref() };
        let config = input
            .filter(|i| !i.config.is_null())
            // SAFETY: a non-NULL config is a NUL-terminated string valid during init.
            .map(|i| {
                unsafe { CStr::from_ptr(i.config) }
                    .to_string_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        let sink = input.and_then(|i| host_sink(i.owner, i.log_fn));
        Engine::new(&config, Logger::new(sink))
    }));
    let (engine, error) = match made {
        Ok(Ok(engine)) => (Some(engine), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(p) => (
            None,
            Some(format!(
                "internal error in plugin_init: {}",
                panic_message(&*p)
            )),
        ),
    };
    let shared = engine
        .as_ref()
        .map_or_else(|| Arc::new(Metrics::default()), |e| e.metrics().clone());
    let mut state = State {
        engine,
        last_error: CString::default(),
        text: Vec::new(),
        str_ptrs: Vec::new(),
        u64s: Vec::new(),
        starts: Vec::new(),
        lengths: Vec::new(),
        requests: Vec::new(),
    };
    let code = match &error {
        Some(e) => {
            state.set_error(e);
            ss_plugin_rc_SS_PLUGIN_FAILURE
        }
        None => ss_plugin_rc_SS_PLUGIN_SUCCESS,
    };
    // SAFETY: guaranteed by the caller.
    unsafe { put(rc, code) };
    // A failed init still returns a state, so the host can read the error and destroy it.
    Box::into_raw(Box::new(Handle {
        shared,
        fault,
        state: UnsafeCell::new(state),
    }))
    .cast()
}

/// # Safety
/// `s` must be NULL or a pointer from `plugin_init`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_destroy(s: *mut ss_plugin_t) {
    if s.is_null() {
        return;
    }
    // SAFETY: `s` came from `Box::into_raw` in `plugin_init` and is destroyed once.
    let handle = unsafe { Box::from_raw(s.cast::<Handle>()) };
    // Dropping joins nothing here (instances are closed first) but must not unwind.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(handle)));
}

/// # Safety
/// `s` must be NULL or a live pointer from `plugin_init`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_last_error(s: *mut ss_plugin_t) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    let Some(h) = (unsafe { handle(s) }) else {
        return c"no plugin state".as_ptr();
    };
    // SAFETY: calls on one state are sequential.
    unsafe { state(h) }.last_error.as_ptr()
}

/// # Safety
/// `s` must be a live state pointer; `params` NULL or a NUL-terminated string; `rc`
/// NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_open(
    s: *mut ss_plugin_t,
    params: *const c_char,
    rc: *mut ss_plugin_rc,
) -> *mut ss_instance_t {
    // SAFETY: guaranteed by the caller.
    unsafe { put(rc, ss_plugin_rc_SS_PLUGIN_FAILURE) };
    // SAFETY: guaranteed by the caller.
    let Some(h) = (unsafe { handle(s) }) else {
        return ptr::null_mut();
    };
    // SAFETY: calls on one state are sequential.
    let st = unsafe { state(h) };
    let params = if params.is_null() {
        String::new()
    } else {
        // SAFETY: a non-NULL params is a NUL-terminated string valid during the call.
        unsafe { CStr::from_ptr(params) }
            .to_string_lossy()
            .into_owned()
    };
    let opened = catch_unwind(AssertUnwindSafe(|| {
        check_fault(h, "plugin_open");
        match st.engine.as_mut() {
            Some(engine) => engine.open(params.trim()).map_err(|e| e.to_string()),
            None => Err("the plugin failed to initialise".to_string()),
        }
    }));
    match opened {
        Ok(Ok(instance)) => {
            // SAFETY: guaranteed by the caller.
            unsafe { put(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS) };
            Box::into_raw(Box::new(Inst {
                instance,
                ptrs: Vec::new(),
                progress: CString::default(),
                poisoned: false,
            }))
            .cast()
        }
        Ok(Err(e)) => {
            st.set_error(&e);
            ptr::null_mut()
        }
        Err(p) => {
            st.set_error(&format!(
                "internal error in plugin_open: {}",
                panic_message(&*p)
            ));
            ptr::null_mut()
        }
    }
}

/// # Safety
/// `s` must be a live state pointer and `h` NULL or a pointer from `plugin_open` on
/// it, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_close(s: *mut ss_plugin_t, h: *mut ss_instance_t) {
    if h.is_null() {
        return;
    }
    // SAFETY: `h` came from `Box::into_raw` in `plugin_open` and is closed once.
    let mut inst = unsafe { Box::from_raw(h.cast::<Inst>()) };
    // SAFETY: guaranteed by the caller.
    let st = unsafe { handle(s) }.map(|h| {
        // SAFETY: calls on one state are sequential.
        unsafe { state(h) }
    });
    let _ = catch_unwind(AssertUnwindSafe(|| {
        match st.and_then(|st| st.engine.as_mut()) {
            Some(engine) => engine.close(&mut inst.instance),
            None => inst.instance.close(),
        }
        drop(inst);
    }));
}

/// # Safety
/// `s`/`h` must be live pointers from `plugin_init`/`plugin_open`; `nevts` and `evts`
/// NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_next_batch(
    s: *mut ss_plugin_t,
    h: *mut ss_instance_t,
    nevts: *mut u32,
    evts: *mut *mut *mut ss_plugin_event,
) -> ss_plugin_rc {
    // SAFETY: guaranteed by the caller.
    unsafe {
        put(nevts, 0);
        put(evts, ptr::null_mut());
    }
    // SAFETY: guaranteed by the caller.
    let (Some(hd), Some(inst)) = (unsafe { handle(s) }, unsafe { instance(h) }) else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    // SAFETY: calls on one state are sequential.
    let st = unsafe { state(hd) };
    if inst.poisoned {
        st.set_error("the event source stopped after an internal error");
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        check_fault(hd, "plugin_next_batch");
        let engine = st
            .engine
            .as_mut()
            .ok_or("the plugin failed to initialise")?;
        engine
            .next_batch(&mut inst.instance)
            .map_err(|e| e.to_string())
    }));
    match result {
        Ok(Ok(Status::Events(n))) => {
            let mut ptrs = std::mem::take(&mut inst.ptrs);
            inst.instance.event_ptrs(&mut ptrs);
            inst.ptrs = ptrs;
            // SAFETY: guaranteed by the caller. The pointed-to events stay in place
            // (and writable) until the next next_batch or close on this instance.
            unsafe {
                put(nevts, n as u32);
                put(evts, inst.ptrs.as_mut_ptr().cast());
            }
            ss_plugin_rc_SS_PLUGIN_SUCCESS
        }
        Ok(Ok(Status::Timeout)) => ss_plugin_rc_SS_PLUGIN_TIMEOUT,
        Ok(Ok(Status::Eof)) => ss_plugin_rc_SS_PLUGIN_EOF,
        Ok(Err(e)) => {
            st.set_error(&e);
            ss_plugin_rc_SS_PLUGIN_FAILURE
        }
        Err(p) => {
            inst.poisoned = true;
            st.set_error(&format!(
                "internal error in plugin_next_batch: {}",
                panic_message(&*p)
            ));
            ss_plugin_rc_SS_PLUGIN_FAILURE
        }
    }
}

/// # Safety
/// `s`/`h` must be live pointers; `progress_pct` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_progress(
    s: *mut ss_plugin_t,
    h: *mut ss_instance_t,
    progress_pct: *mut u32,
) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    unsafe { put(progress_pct, 0) };
    let _ = s;
    // SAFETY: guaranteed by the caller.
    let Some(inst) = (unsafe { instance(h) }) else {
        return ptr::null();
    };
    let computed = catch_unwind(AssertUnwindSafe(|| inst.instance.progress()));
    let Ok((pd, text)) = computed else {
        return ptr::null();
    };
    let pct = if pd.is_finite() {
        (pd * 10000.0).clamp(0.0, 10000.0) as u32
    } else {
        0
    };
    // SAFETY: guaranteed by the caller.
    unsafe { put(progress_pct, pct) };
    inst.progress = CString::new(text).unwrap_or_default();
    inst.progress.as_ptr()
}

/// # Safety
/// `s` must be a live state pointer; `rc` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_list_open_params(
    _s: *mut ss_plugin_t,
    rc: *mut ss_plugin_rc,
) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    unsafe { put(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS) };
    // No suggestions, as upstream.
    ptr::null()
}

/// The bytes of the event behind an event input, if it holds a complete header.
///
/// # Safety
/// `evt` must be NULL or point to a valid event input whose `evt` is NULL or points to
/// an event of `len` readable bytes, all valid for the duration of the call.
unsafe fn event_bytes<'a>(evt: *const ss_plugin_event_input) -> Option<(u64, &'a [u8])> {
    // SAFETY: guaranteed by the caller.
    let input = unsafe { evt.as_ref() }?;
    if input.evt.is_null() {
        return None;
    }
    let base = input.evt.cast::<u8>();
    // SAFETY: an event always has its 26-byte header.
    let header = unsafe { std::slice::from_raw_parts(base, HEADER_LEN) };
    let len = crate::event::total_len(header)?;
    if len < HEADER_LEN {
        return None;
    }
    // SAFETY: the header's `len` is the size of the event the host gave us.
    Some((input.evtnum, unsafe {
        std::slice::from_raw_parts(base, len)
    }))
}

/// # Safety
/// `s` must be a live state pointer and `evt` a valid event input for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_event_to_string(
    s: *mut ss_plugin_t,
    evt: *const ss_plugin_event_input,
) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    let Some(h) = (unsafe { handle(s) }) else {
        return ptr::null();
    };
    // SAFETY: calls on one state are sequential.
    let st = unsafe { state(h) };
    // SAFETY: guaranteed by the caller.
    let Some((evtnum, bytes)) = (unsafe { event_bytes(evt) }) else {
        return ptr::null();
    };
    let made = catch_unwind(AssertUnwindSafe(|| {
        check_fault(h, "plugin_event_to_string");
        let Some(engine) = st.engine.as_mut() else {
            return false;
        };
        let text = engine.event_to_string(evtnum, bytes);
        // The host reads a C string: it ends at the first NUL anyway.
        let end = memchr::memchr(0, text).unwrap_or(text.len());
        st.text.clear();
        st.text.extend_from_slice(&text[..end]);
        st.text.push(0);
        true
    }));
    match made {
        Ok(true) => st.text.as_ptr().cast(),
        _ => ptr::null(),
    }
}

/// # Safety
/// `s` must be a live state pointer; `evt` and `input` valid for the call, with
/// `input.fields` pointing to `input.num_fields` writable entries.
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
    let Some(h) = (unsafe { handle(s) }) else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    // SAFETY: calls on one state are sequential.
    let st = unsafe { state(h) };
    // SAFETY: guaranteed by the caller.
    let event = unsafe { event_bytes(evt) };
    let offsets = input.value_offsets;
    let done = catch_unwind(AssertUnwindSafe(|| {
        check_fault(h, "plugin_extract_fields");
        extract_into(st, event, fields, offsets)
    }));
    match done {
        Ok(rc) => rc,
        Err(p) => {
            for f in fields.iter_mut() {
                f.res_len = 0;
            }
            // Not the last error: a deferred next_batch error may be pending there.
            if let Some(engine) = &st.engine {
                engine.logger().error(&format!(
                    "internal error in plugin_extract_fields: {}",
                    panic_message(&*p)
                ));
            }
            ss_plugin_rc_SS_PLUGIN_FAILURE
        }
    }
}

fn extract_into(
    st: &mut State,
    event: Option<(u64, &[u8])>,
    fields: &mut [ss_plugin_extract_field],
    offsets: *mut falco_plugin_api::ss_plugin_extract_value_offsets,
) -> ss_plugin_rc {
    let Some(engine) = st.engine.as_mut() else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    let Some((evtnum, bytes)) = event else {
        return ss_plugin_rc_SS_PLUGIN_FAILURE;
    };
    st.requests.clear();
    for f in fields.iter() {
        let Some(def) = FIELDS.get(f.field_id as usize) else {
            engine
                .logger()
                .error(&format!("extract_fields: unknown field id {}", f.field_id));
            return ss_plugin_rc_SS_PLUGIN_FAILURE;
        };
        let index = (def.indexed_list && f.arg_present != 0).then_some(f.arg_index);
        st.requests.push(Request {
            field: def.field,
            index,
        });
    }
    let want_offsets = !offsets.is_null();
    let got = match engine.extract(evtnum, bytes, &st.requests, want_offsets) {
        Ok(got) => got,
        Err(e) => {
            engine
                .logger()
                .debug(&format!("extract_fields on event {evtnum}: {e}"));
            return ss_plugin_rc_SS_PLUGIN_FAILURE;
        }
    };
    let values = &got.out.values;
    st.str_ptrs.clear();
    st.u64s.clear();
    for v in values {
        match v.scalar {
            Scalar::Str { at, .. } => st
                .str_ptrs
                .push(got.out.bytes[at as usize..].as_ptr().cast()),
            Scalar::U64(n) => st.u64s.push(n),
        }
    }
    // Offsets: one entry per value for a single field, else one per field.
    if want_offsets {
        let single = fields.len() == 1;
        let n = if single {
            values.len().max(1)
        } else {
            fields.len().max(values.len())
        };
        st.starts.clear();
        st.lengths.clear();
        st.starts.resize(n, 0);
        st.lengths.resize(n, 0);
        for (i, range) in got.bounds.iter().enumerate() {
            for (j, v) in values[range.clone()].iter().enumerate() {
                if let Some(span) = v.span {
                    let slot = if single { j } else { i };
                    if single || j == 0 {
                        st.starts[slot] = span.start + PAYLOAD_OFFSET as u32;
                        st.lengths[slot] = span.len();
                    }
                }
            }
        }
    }
    let (mut si, mut ui) = (0usize, 0usize);
    for (f, range) in fields.iter_mut().zip(got.bounds) {
        let count = range.len();
        let is_string = FIELDS[f.field_id as usize].ty == crate::fields::Type::String;
        f.res_len = count as u64;
        if is_string {
            // SAFETY: `si + count <= str_ptrs.len()`; the vector is not touched again
            // until the next extract call, so the pointer stays valid as required.
            f.res.str_ = unsafe { st.str_ptrs.as_mut_ptr().add(si) };
            si += count;
        } else {
            // SAFETY: as above, for the u64 values.
            f.res.u64_ = unsafe { st.u64s.as_mut_ptr().add(ui) };
            ui += count;
        }
    }
    if want_offsets {
        // SAFETY: `offsets` is non-NULL and points to the host's writable struct.
        unsafe {
            (*offsets).start = st.starts.as_mut_ptr();
            (*offsets).length = st.lengths.as_mut_ptr();
        }
    }
    ss_plugin_rc_SS_PLUGIN_SUCCESS
}

const ZERO_METRIC: ss_plugin_metric = ss_plugin_metric {
    name: ptr::null(),
    type_: ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC,
    value: ss_plugin_metric_value { u64_: 0 },
    value_type: ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64,
};

thread_local! {
    // Per calling thread: Falco's stats writer and web server threads call
    // concurrently. No destructor, so nothing pins the library at thread exit.
    static METRICS_OUT: RefCell<[ss_plugin_metric; NAMES.len()]> = const { RefCell::new([ZERO_METRIC; NAMES.len()]) };
}

fn metric_names() -> &'static [CString] {
    static NAMES_C: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES_C.get_or_init(|| {
        NAMES
            .iter()
            .map(|n| CString::new(*n).unwrap_or_default())
            .collect()
    })
}

/// # Safety
/// `s` must be a live state pointer; `num_metrics` NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn plugin_get_metrics(
    s: *mut ss_plugin_t,
    num_metrics: *mut u32,
) -> *mut ss_plugin_metric {
    // SAFETY: guaranteed by the caller.
    unsafe { put(num_metrics, 0) };
    // SAFETY: guaranteed by the caller; only the immutable `shared` part is read.
    let Some(h) = (unsafe { handle(s) }) else {
        return ptr::null_mut();
    };
    let made = catch_unwind(AssertUnwindSafe(|| {
        let values = h.shared.snapshot();
        let names = metric_names();
        METRICS_OUT.with(|cell| {
            let mut out = cell.borrow_mut();
            for (i, m) in out.iter_mut().enumerate() {
                m.name = names[i].as_ptr();
                m.type_ = if monotonic(i) {
                    ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC
                } else {
                    ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC
                };
                m.value = ss_plugin_metric_value { u64_: values[i] };
                m.value_type = ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64;
            }
            out.as_mut_ptr()
        })
    }));
    match made {
        Ok(p) => {
            // SAFETY: guaranteed by the caller.
            unsafe { put(num_metrics, NAMES.len() as u32) };
            p
        }
        Err(_) => ptr::null_mut(),
    }
}
