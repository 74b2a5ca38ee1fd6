//! `s3Interval`: which S3 log files to read, by the time in their key names.
//!
//! Upstream's grammar: an endpoint is an age (`5d`, `12h`, `30m`, `90s`, `2w`: that
//! long before now) or a UTC timestamp `2006-01-02T15:04:05Z` (a fraction of a second
//! is allowed); an interval is one endpoint (a start) or `start-end`. Every value
//! upstream accepts means the same here. Where upstream silently ignored a value
//! (a number too large to parse) or rejected one for a space around the dash, this
//! parser either gives it its natural meaning or fails with a clear error.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::time::parse_rfc3339_ns;

/// A time window on key names, as seconds since the epoch (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

fn unit_secs(u: u8) -> Option<i64> {
    Some(match u {
        b'w' => 7 * 86_400,
        b'd' => 86_400,
        b'h' => 3_600,
        b'm' => 60,
        b's' => 1,
        _ => return None,
    })
}

/// `\d+[wdhms]`
fn is_age(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[..b.len() - 1].iter().all(u8::is_ascii_digit)
        && unit_secs(b[b.len() - 1]).is_some()
}

/// `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`
fn is_plain_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let pattern = b"dddd-dd-ddTdd:dd:ddZ";
    b.len() == pattern.len()
        && b.iter().zip(pattern).all(|(&c, &p)| {
            if p == b'd' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

/// One endpoint, relative to `now` (seconds since the epoch).
fn endpoint(s: &str, now: i64, what: &str) -> Result<i64> {
    if is_age(s) {
        let (digits, unit) = s.split_at(s.len() - 1);
        let n: i64 = digits.parse().map_err(|_| {
            Error::new(format!(
                "cloudtrail invalid interval: {what} '{s}': the number is too large"
            ))
        })?;
        let secs = n.checked_mul(unit_secs(unit.as_bytes()[0]).unwrap_or(1));
        // Further back than the epoch means "from the beginning".
        return Ok(secs.map_or(0, |d| (now - d).max(0)));
    }
    // Go's layout "2006-01-02T15:04:05Z": a literal Z, fraction allowed.
    let ok_shape = s.ends_with('Z') && s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T');
    let ns = if ok_shape {
        parse_rfc3339_ns(s.as_bytes())
    } else {
        None
    };
    match ns {
        Some(ns) => Ok((ns as i64).div_euclid(1_000_000_000)),
        None => Err(Error::new(format!(
            "cloudtrail invalid interval: {what} '{s}' is neither an age like 5d, 12h, 30m, 90s, 2w nor a UTC time like 2024-01-02T03:04:05Z"
        ))),
    }
}

impl Interval {
    pub fn parse(v: &str) -> Result<Interval> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Self::parse_at(v, now)
    }

    /// Parses relative to a given `now` (seconds since the epoch).
    pub fn parse_at(v: &str, now: i64) -> Result<Interval> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(Interval::default());
        }
        // A range: the last dash whose right side is an endpoint (the upstream regex
        // `(.*)\s*-\s*(\d+[wdhms]|<timestamp>)$`, greedy on the left).
        for (i, _) in v.match_indices('-').rev() {
            let (left, right) = (v[..i].trim_end(), v[i + 1..].trim_start());
            if is_age(right) || is_plain_timestamp(right) {
                if left.is_empty() {
                    return Err(Error::new(format!(
                        "cloudtrail invalid interval: '{v}' has no start"
                    )));
                }
                let start = endpoint(left, now, "start")?;
                let end = endpoint(right, now, "end")?;
                if end < start {
                    return Err(Error::new(format!(
                        "cloudtrail invalid interval: '{v}': the start must not be after the end"
                    )));
                }
                return Ok(Interval {
                    start: Some(start),
                    end: Some(end),
                });
            }
        }
        Ok(Interval {
            start: Some(endpoint(v, now, "start")?),
            end: None,
        })
    }

    pub fn is_unbounded(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    /// Whether a key's name time (`YYYYMMDDTHHMM`, minute precision, as upstream
    /// compares) is inside the interval. Keys without one are not filtered.
    pub fn admits_key(&self, key: &str) -> bool {
        let Some(stamp) = key_stamp(key) else {
            return true;
        };
        let start_ok = self
            .start
            .is_none_or(|s| stamp.as_str() >= minute_stamp(s).as_str());
        let end_ok = self
            .end
            .is_none_or(|e| stamp.as_str() <= minute_stamp(e).as_str());
        start_ok && end_ok
    }

    /// `YYYY/MM/DD/` of the start, for S3's `start-after` in a region folder.
    pub fn start_folder(&self) -> Option<String> {
        let s = minute_stamp(self.start?);
        Some(format!("{}/{}/{}/", &s[0..4], &s[4..6], &s[6..8]))
    }

    /// `YYYY/MM/DD` of the end: folders after it hold no wanted keys.
    pub fn end_folder(&self) -> Option<String> {
        let s = minute_stamp(self.end?);
        Some(format!("{}/{}/{}/", &s[0..4], &s[4..6], &s[6..8]))
    }
}

/// `YYYYMMDDTHHMM` of a time.
pub fn minute_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}", rem / 3600, rem % 3600 / 60)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a time (CloudTrail's `eventTime` format).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of a `YYYYMMDDTHHMM` stamp (the inverse of
/// [`minute_stamp`]); `None` when it is not one.
pub fn stamp_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 13 || b[8] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d, hh, mm) = (
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 {
        return None;
    }
    // Days from the civil date (the inverse of `civil_from_days`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The `YYYYMMDDTHHMM` in `..._CloudTrail_<region>_<YYYYMMDDTHHMM>Z_...` (upstream's
/// regex `.*_CloudTrail_[^_]+_([^_]+)Z_`).
pub fn key_stamp(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let at = name.rfind("_CloudTrail_")?;
    let rest = &name[at + "_CloudTrail_".len()..];
    let mut parts = rest.split('_');
    let _region = parts.next().filter(|r| !r.is_empty())?;
    let stamp = parts.next()?.strip_suffix('Z')?;
    parts.next()?;
    (!stamp.is_empty()).then(|| stamp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn p(v: &str) -> Result<Interval> {
        Interval::parse_at(v, NOW)
    }

    #[test]
    fn grammar() {
        assert_eq!(p("").unwrap(), Interval::default());
        assert_eq!(
            p("5d").unwrap(),
            Interval {
                start: Some(NOW - 5 * 86_400),
                end: None
            }
        );
        assert_eq!(p("2w").unwrap().start, Some(NOW - 14 * 86_400));
        assert_eq!(p("90s").unwrap().start, Some(NOW - 90));
        assert_eq!(
            p("2021-03-30T18:07:17Z").unwrap(),
            Interval {
                start: Some(1_617_127_637),
                end: None
            }
        );
        assert_eq!(
            p("2021-03-30T18:07:17.5Z").unwrap().start,
            Some(1_617_127_637)
        );
        assert_eq!(
            p("5d-2d").unwrap(),
            Interval {
                start: Some(NOW - 5 * 86_400),
                end: Some(NOW - 2 * 86_400)
            }
        );
        let r = p("2023-04-05T06:00:00Z-2023-04-05T12:00:10Z").unwrap();
        assert_eq!((r.start, r.end), (Some(1_680_674_400), Some(1_680_696_010)));
        let r = p("2023-04-05T06:00:00Z-5d").unwrap();
        assert_eq!(r.end, Some(NOW - 5 * 86_400));
        // Upstream rejected spaces around the dash; they are harmless here.
        assert_eq!(p("5d - 2d").unwrap(), p("5d-2d").unwrap());
        // A number too large for upstream (silently "no start" there): an error here.
        assert!(
            p("99999999999999999999d")
                .unwrap_err()
                .message()
                .contains("too large")
        );
        // A huge but parseable age means "from the beginning".
        assert_eq!(p("9999999999w").unwrap().start, Some(0));
    }

    #[test]
    fn errors_are_clear() {
        for v in [
            "-5d",
            "5d-",
            "5D",
            "yesterday",
            "2021-03-30T18:07:17",
            "2021-03-30 18:07:17Z",
            "2d-5d",
        ] {
            let e = p(v).unwrap_err();
            assert!(
                e.message().starts_with("cloudtrail invalid interval"),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn stamps_round_trip() {
        for t in [
            0,
            NOW - NOW % 60,
            951_782_400, /* 2000-02-29 */
            4_102_444_740,
        ] {
            assert_eq!(stamp_secs(&minute_stamp(t)), Some(t), "{}", minute_stamp(t));
        }
        for bad in [
            "",
            "20240101",
            "20241301T0000",
            "20240101T2400",
            "2024010xT0000",
        ] {
            assert_eq!(stamp_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_names() {
        let k = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json.gz";
        assert_eq!(key_stamp(k).as_deref(), Some("20230710T1145"));
        assert_eq!(key_stamp("AWSLogs/1/CloudTrail-Digest/x.json.gz"), None);
        let i = Interval {
            start: Some(1_688_989_500), // 2023-07-10T11:45:00Z
            end: Some(1_688_990_400),   // 12:00
        };
        assert!(i.admits_key(k));
        assert!(!i.admits_key(&k.replace("T1145Z", "T1144Z")));
        assert!(i.admits_key(&k.replace("T1145Z", "T1200Z")));
        assert!(!i.admits_key(&k.replace("T1145Z", "T1201Z")));
        assert!(i.admits_key("odd-name.json"));
        assert_eq!(i.start_folder().as_deref(), Some("2023/07/10/"));
        assert_eq!(minute_stamp(0), "19700101T0000");
        assert_eq!(minute_stamp(1_709_164_800), "20240229T0000");
    }
}
