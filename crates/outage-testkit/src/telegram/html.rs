//! Telegram's HTML parse mode, checked strictly.
//!
//! The fake is stricter than the real server in one way, on purpose: the Bot API documentation
//! says every `<`, `>` and `&` that is not part of a tag or an entity *must* be escaped, and the
//! fake rejects a bare one (the real server sometimes lets a stray `&` or `>` through). So a
//! notifier that forgets to escape a user-provided name fails its tests here.

/// Tags the Bot API supports in HTML parse mode.
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
    "tg-time",
];

/// A parsed HTML text: what the user sees and the formatting applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The text without tags, entities decoded.
    pub text: String,
    /// `(char offset in text, tag)` for every start tag, in order (a cheap stand-in for
    /// Telegram's message entities when comparing two versions of a message).
    pub tags: Vec<(usize, String)>,
}

/// Parses `s` in HTML parse mode; the error reads like Telegram's
/// (`Can't parse entities: ...`).
pub fn parse(s: &str) -> Result<Parsed, String> {
    let mut text = String::new();
    let mut chars = 0usize;
    let mut tags = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next().unwrap_or('\0');
        match c {
            '<' => {
                let end = rest.find('>').ok_or_else(|| {
                    format!("Can't parse entities: can't find end of the tag starting at byte offset {i}")
                })?;
                let inner = &rest[1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match open.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return Err(format!(
                                "Can't parse entities: unmatched end tag at byte offset {i}, expected \"</{top}>\", found \"</{name}>\""
                            ));
                        }
                        None => {
                            return Err(format!(
                                "Can't parse entities: unexpected end tag at byte offset {i}"
                            ));
                        }
                    }
                } else {
                    let name = inner
                        .split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Can't parse entities: unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    tags.push((chars, name.clone()));
                    open.push(name);
                }
                i += end + 1;
            }
            '&' => {
                let end = rest
                    .char_indices()
                    .take(12)
                    .find(|(_, c)| *c == ';')
                    .map(|(j, _)| j)
                    .ok_or_else(|| bare('&', i))?;
                let decoded = match &rest[1..end] {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    num if num.starts_with("#x") || num.starts_with("#X") => {
                        u32::from_str_radix(&num[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                    }
                    num if num.starts_with('#') => {
                        num[1..].parse::<u32>().ok().and_then(char::from_u32)
                    }
                    _ => None,
                };
                let ch = decoded.ok_or_else(|| bare('&', i))?;
                text.push(ch);
                chars += 1;
                i += end + 1;
            }
            '>' => return Err(bare('>', i)),
            _ => {
                text.push(c);
                chars += 1;
                i += c.len_utf8();
            }
        }
    }
    if let Some(top) = open.pop() {
        return Err(format!(
            "Can't parse entities: can't find end tag corresponding to start tag \"{top}\""
        ));
    }
    Ok(Parsed { text, tags })
}

fn bare(c: char, at: usize) -> String {
    format!(
        "Can't parse entities: character '{c}' at byte offset {at} must be escaped (use &lt; &gt; &amp;)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stripped_and_entities_decoded() {
        let p = parse("🔴 <b>Дім &lt;b&gt; &amp; &quot;x&quot;</b> — off &#8212; &#x41;").unwrap();
        assert_eq!(p.text, "🔴 Дім <b> & \"x\" — off — A");
        assert_eq!(p.tags, vec![(2, "b".to_string())]);
    }

    #[test]
    fn unescaped_or_unbalanced_markup_is_rejected() {
        assert!(parse("a <b>Tom & Jerry</b>").is_err());
        assert!(parse("<b>Home").is_err());
        assert!(parse("x</b>").is_err());
        assert!(parse("<b><i>x</b></i>").is_err());
        assert!(parse("<script>x</script>").is_err());
        assert!(parse("1 > 0").is_err());
        assert!(parse("&nbsp;").is_err());
        assert!(parse("plain, fine").is_ok());
    }
}
