//! CloudTrail digest files as log file validation reads them: any text parses to a
//! digest or an error, and the checker judges it (here with no key known: a digest is
//! invalid, never a panic), then reads its own saved state back.
#![no_main]

use cloudtrail::integrity::checker::{Checker, Fetched, Later, World};
use cloudtrail::integrity::digest::{Digest, digest_name};
use libfuzzer_sys::fuzz_target;

struct Nothing;

impl World for Nothing {
    fn public_key(&mut self, _: &str, _: &str, _: i64) -> Result<Option<Vec<u8>>, Later> {
        Ok(None)
    }
    fn exists(&mut self, _: &str, _: &str) -> Option<bool> {
        Some(false)
    }
}

fuzz_target!(|data: &[u8]| {
    let key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010131Z.json.gz";
    if let Ok(d) = Digest::parse(data) {
        let _ = d.signed_text("00");
        let _ = digest_name(&d.key);
    }
    let mut c = Checker::default();
    c.file_read("b", &String::from_utf8_lossy(data), "00".into(), 0);
    let found = c
        .digest(
            Fetched {
                bucket: "b",
                key,
                content: Ok(data),
                signature: Some("00"),
                algorithm: None,
            },
            &mut Nothing,
        )
        .expect("no key lookup fails here");
    assert!(found.len() <= 1);
    let _ = c.expire(i64::MAX / 2, true, &mut Nothing);
    let saved = c.to_json();
    let back = Checker::from_json(saved.as_bytes()).expect("its own state reads back");
    assert_eq!(back.to_json().len(), saved.len());
    let _ = Checker::from_json(data);
});
