//! The init config, the open params, `s3Interval`, `s3AccountList` and RFC 3339.
#![no_main]

use cloudtrail::config::{Config, OpenParams};
use cloudtrail::interval::Interval;
use cloudtrail::source::s3::parse_accounts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((c, _)) = Config::parse(&text) {
        let _ = c.check_remote(true);
    }
    let _ = OpenParams::parse(&text);
    if let Ok(i) = Interval::parse_at(&text, 1_700_000_000) {
        let _ = i.admits_key("AWSLogs/1/CloudTrail/r/2024/01/01/1_CloudTrail_r_20240101T0000Z_x.json.gz");
        let _ = (i.start_folder(), i.end_folder());
    }
    let _ = parse_accounts(&text);
    let _ = cloudtrail::time::parse_rfc3339_ns(data);
});
