//! A libsinsp-like host for `libjson.so`: load-time checks of an extraction-only
//! plugin, then one field per extract call with the field's index as id and the
//! bracket argument as `arg_key`, as libsinsp passes them.

use std::ffi::{CString, c_char};
use std::path::PathBuf;
use std::ptr;
use std::sync::OnceLock;

use falco_plugin_api::*;
use serde_json::Value;

use super::cstr;

type FnStr = unsafe extern "C" fn() -> *const c_char;

pub fn json_so_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| super::built_lib("JSON_SO", "libjson.so", "json-plugin", "src"))
        .clone()
}

pub struct JsonLib {
    _lib: libloading::Library,
    pub init:
        unsafe extern "C" fn(*const ss_plugin_init_input, *mut ss_plugin_rc) -> *mut ss_plugin_t,
    pub destroy: unsafe extern "C" fn(*mut ss_plugin_t),
    pub extract_fields: unsafe extern "C" fn(
        *mut ss_plugin_t,
        *const ss_plugin_event_input,
        *const ss_plugin_field_extract_input,
    ) -> ss_plugin_rc,
    pub get_metrics: unsafe extern "C" fn(*mut ss_plugin_t, *mut u32) -> *mut ss_plugin_metric,
    pub fields: Vec<Value>,
    pub version: String,
    pub required_api_version: String,
    pub schema: Value,
}

impl JsonLib {
    /// Loads the plugin and checks what libsinsp checks for an extraction plugin.
    pub fn load() -> &'static JsonLib {
        static LIB: OnceLock<JsonLib> = OnceLock::new();
        LIB.get_or_init(|| {
            // SAFETY: loading our own plugin library; its initialisers are trivial.
            let lib =
                unsafe { libloading::Library::new(json_so_path()) }.expect("dlopen libjson.so");
            macro_rules! sym {
                ($name:literal) => {
                    // SAFETY: the symbol has the plugin API's signature.
                    *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.expect($name)
                };
            }
            let api: FnStr = sym!("plugin_get_required_api_version");
            let version: FnStr = sym!("plugin_get_version");
            let name: FnStr = sym!("plugin_get_name");
            let desc: FnStr = sym!("plugin_get_description");
            let contact: FnStr = sym!("plugin_get_contact");
            let fields: FnStr = sym!("plugin_get_fields");
            let schema: unsafe extern "C" fn(*mut ss_plugin_schema_type) -> *const c_char =
                sym!("plugin_get_init_schema");
            let _: unsafe extern "C" fn(*mut ss_plugin_t) -> *const c_char =
                sym!("plugin_get_last_error");
            // No sourcing capability, and no event source / type restriction.
            for absent in [
                "plugin_open",
                "plugin_close",
                "plugin_next_batch",
                "plugin_get_id",
                "plugin_get_event_source",
                "plugin_get_extract_event_sources",
                "plugin_get_extract_event_types",
                "plugin_parse_event",
            ] {
                // SAFETY: only looking the symbol up.
                let found = unsafe { lib.get::<*const ()>(absent.as_bytes()) }.is_ok();
                assert!(!found, "libjson.so must not export {absent}");
            }
            // SAFETY: argument-less getters returning static strings.
            let (required_api_version, version, fields, schema) = unsafe {
                assert_eq!(cstr(name()), "json");
                assert!(!cstr(desc()).is_empty() && !cstr(contact()).is_empty());
                let mut ty = 0;
                let schema: Value = serde_json::from_str(&cstr(schema(&mut ty))).unwrap();
                assert_eq!(ty, ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON);
                let fields: Value = serde_json::from_str(&cstr(fields())).expect("fields JSON");
                (
                    cstr(api()),
                    cstr(version()),
                    super::check_fields(&fields),
                    schema,
                )
            };
            JsonLib {
                init: sym!("plugin_init"),
                destroy: sym!("plugin_destroy"),
                extract_fields: sym!("plugin_extract_fields"),
                get_metrics: sym!("plugin_get_metrics"),
                fields,
                version,
                required_api_version,
                schema,
                _lib: lib,
            }
        })
    }

    /// Index of a field in the table: libsinsp's field id.
    pub fn field_id(&self, name: &str) -> u32 {
        self.fields
            .iter()
            .position(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no field {name}")) as u32
    }
}

/// One initialised state.
pub struct JsonPlugin {
    lib: &'static JsonLib,
    s: *mut ss_plugin_t,
}

impl JsonPlugin {
    pub fn init(config: &str) -> JsonPlugin {
        let lib = JsonLib::load();
        let cfg = CString::new(config).unwrap();
        // SAFETY: zeroed is a valid "no tables, no logger" input; config outlives init.
        let mut input: ss_plugin_init_input = unsafe { std::mem::zeroed() };
        input.config = cfg.as_ptr();
        let mut rc = 99;
        // SAFETY: valid inputs.
        let s = unsafe { (lib.init)(&input, &mut rc) };
        assert_eq!(rc, ss_plugin_rc_SS_PLUGIN_SUCCESS);
        assert!(!s.is_null());
        JsonPlugin { lib, s }
    }

    /// A request as a rule writes it (`json.value[/a/b]`, `json.obj`): one field,
    /// one call. `Ok(None)` is "no value".
    pub fn extract(&self, evtnum: u64, ev: &[u8], request: &str) -> Result<Option<String>, i32> {
        let (name, arg) = match request.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']').expect("closing bracket"))),
            None => (request, None),
        };
        self.extract_raw(
            evtnum,
            ev,
            self.lib.field_id(name),
            name,
            arg.map(str::as_bytes),
        )
    }

    pub fn extract_raw(
        &self,
        evtnum: u64,
        ev: &[u8],
        field_id: u32,
        name: &str,
        arg: Option<&[u8]>,
    ) -> Result<Option<String>, i32> {
        let cname = CString::new(name).unwrap();
        let carg = arg.map(|a| CString::new(a).unwrap());
        let mut f = ss_plugin_extract_field {
            res: ss_plugin_extract_field__bindgen_ty_1 {
                u64_: ptr::null_mut(),
            },
            res_len: 999, // stale, as the host leaves it
            field_id,
            field: cname.as_ptr(),
            arg_key: carg.as_ref().map_or(ptr::null(), |a| a.as_ptr()),
            arg_index: u64::MAX,
            arg_present: carg.is_some() as u32,
            ftype: ss_plugin_field_type_FTYPE_STRING,
            flist: 0,
        };
        let input = ss_plugin_field_extract_input {
            owner: ptr::null_mut(),
            get_owner_last_error: None,
            num_fields: 1,
            fields: &mut f,
            // SAFETY: an all-zero table reader is "none".
            table_reader: unsafe { std::mem::zeroed() },
            table_reader_ext: ptr::null_mut(),
            value_offsets: ptr::null_mut(),
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
        match f.res_len {
            0 => Ok(None),
            // SAFETY: one string value.
            1 => Ok(Some(cstr(unsafe { *f.res.str_ }))),
            n => panic!("{name}: {n} values for a non-list field"),
        }
    }

    pub fn metric(&self, name: &str) -> u64 {
        let mut n = 0;
        // SAFETY: a live state.
        let p = unsafe { (self.lib.get_metrics)(self.s, &mut n) };
        (0..n as usize)
            .map(|i| {
                // SAFETY: n entries.
                let m = unsafe { &*p.add(i) };
                (cstr(m.name), unsafe { m.value.u64_ })
            })
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
            .1
    }
}

impl Drop for JsonPlugin {
    fn drop(&mut self) {
        // SAFETY: a live state, destroyed once.
        unsafe { (self.lib.destroy)(self.s) };
    }
}
