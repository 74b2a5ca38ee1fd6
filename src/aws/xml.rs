//! Just enough XML for AWS query-protocol responses (S3 listings, STS, SQS errors),
//! with quick-xml.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Calls `f(path, text)` for every element with text, `path` being the element names
/// from the root joined by `/` (e.g. `ListBucketResult/Contents/Key`), and
/// `f(path, "")` when an element opens (so callers can start a new record).
pub fn walk(xml: &[u8], f: &mut dyn FnMut(&str, &str)) -> Result<(), String> {
    let mut reader = Reader::from_reader(xml);
    let mut path = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(&String::from_utf8_lossy(e.local_name().as_ref()));
                f(&path, "");
            }
            Ok(Event::End(_)) => {
                let cut = path.rfind('/').unwrap_or(0);
                path.truncate(cut);
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map_err(|e| format!("bad XML text: {e}"))?;
                let text =
                    quick_xml::escape::unescape(&text).map_err(|e| format!("bad XML text: {e}"))?;
                if !text.is_empty() {
                    f(&path, &text);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                // An entity or character reference split out of the text.
                let s = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match &*String::from_utf8_lossy(&r) {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => format!("&{other};"),
                    },
                };
                f(&path, &s);
            }
            Ok(Event::CData(c)) => f(&path, &String::from_utf8_lossy(&c)),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("bad XML: {e}")),
        }
        buf.clear();
    }
}

/// The text of the first element whose path ends with `suffix` (e.g. `Error/Code`).
pub fn first(xml: &[u8], suffix: &str) -> Option<String> {
    let mut found: Option<String> = None;
    let mut done = false;
    let _ = walk(xml, &mut |path, text| {
        if done {
            return;
        }
        if path == suffix || path.ends_with(&format!("/{suffix}")) {
            if text.is_empty() {
                if found.is_some() {
                    done = true;
                }
            } else {
                found.get_or_insert_with(String::new).push_str(text);
            }
        }
    });
    found.map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_entities() {
        let x = br#"<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>The bucket &amp; &lt;b&gt; &#65;</Message></Error>"#;
        assert_eq!(first(x, "Error/Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(first(x, "Message").as_deref(), Some("The bucket & <b> A"));
        assert_eq!(first(x, "Nope"), None);
        let mut seen = Vec::new();
        walk(b"<a><b>1</b><b>2</b></a>", &mut |p, t| {
            seen.push(format!("{p}={t}"))
        })
        .unwrap();
        assert_eq!(seen, ["a=", "a/b=", "a/b=1", "a/b=", "a/b=2"]);
    }
}
