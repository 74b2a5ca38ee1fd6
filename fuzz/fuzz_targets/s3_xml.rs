//! S3's ListObjectsV2 response and the XML walker under it.
#![no_main]

use cloudtrail::aws::s3::parse_list;
use cloudtrail::aws::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_list(data);
    let _ = xml::walk(data, &mut |_, _| {});
    let _ = xml::first(data, "Error/Code");
});
