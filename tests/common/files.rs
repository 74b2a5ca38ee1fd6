//! Log files written by the tests: scratch directories, gzip, synthetic records.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;

/// A fresh scratch directory for this test process.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ct-it-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A valid record with `eventID` `id-<i>`, user `u<i>` and `extra` members appended.
pub fn event(i: usize, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","userName":"u{i}"}},"eventTime":"2024-01-01T00:00:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.{}","eventID":"id-{i}","eventType":"AwsApiCall"{extra}}}"#,
        i % 60,
        i % 250
    )
}

pub fn records_file(events: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", events.join(",\n"))
}
