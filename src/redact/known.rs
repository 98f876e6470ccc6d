//! Known secrets in every form a bundle's files write them: as they are, percent-encoded
//! (URLs, DSNs, form bodies; hex digits in either case, `+` for a space), JSON-escaped (once or
//! twice: a password holding `"` or `\`, JSON inside a JSON string) and in base64 (the
//! `user:pass` of HTTP Basic credentials).
//!
//! Encoded forms are found through *views*: a line decoded once (percent or JSON escapes), with
//! a map from each decoded byte back to where it came from, searched with the same automaton as
//! the line itself. Base64 cannot be decoded without knowing where a value starts, so each
//! secret contributes its three base64 *cores* instead: the characters its bytes alone decide
//! at each of the three alignments a prefix (`user:`) can give it.
//!
//! The redactor and the leak scan share this code, so what one replaces the other looks for.

use std::io::{self, Read};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;

/// The form a known secret was found in; it names the manifest's rule (`known-password-percent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Plain,
    Percent,
    Json,
    Base64,
}

impl Form {
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Form::Plain => "",
            Form::Percent => "-percent",
            Form::Json => "-json",
            Form::Base64 => "-base64",
        }
    }
}

/// One occurrence of a known secret: bytes `start..end` of the searched text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub start: usize,
    pub end: usize,
    /// Index of the secret in the list the needles were built from.
    pub secret: usize,
    pub form: Form,
}

/// Base64 cores shorter than this are left out: too likely to occur by chance.
const MIN_CORE: usize = 6;

/// The automaton over every secret and its base64 cores.
pub(crate) struct Needles {
    ac: AhoCorasick,
    /// Pattern `i` is secret `owner[i].0`; `owner[i].1` when it is a base64 core.
    owner: Vec<(usize, bool)>,
    /// Some secret holds a space, which form encoding writes as `+`.
    plus: bool,
    /// The longest pattern, in bytes.
    pub(crate) longest: usize,
}

/// Scratch space for decoded views, reused from line to line.
#[derive(Default)]
pub(crate) struct Views {
    buf: Vec<u8>,
    map: Vec<usize>,
    buf2: Vec<u8>,
    map2: Vec<usize>,
}

impl Needles {
    /// Needles for `values` (indexes are kept: a match names its value's index). None when
    /// there is nothing to look for.
    pub(crate) fn new(values: &[&[u8]]) -> Result<Option<Needles>, aho_corasick::BuildError> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut owner = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            patterns.push(v.to_vec());
            owner.push((i, false));
            if v.len() >= MIN_CORE {
                for core in base64_cores(v) {
                    if core.len() >= MIN_CORE {
                        patterns.push(core);
                        owner.push((i, true));
                    }
                }
            }
        }
        if patterns.is_empty() {
            return Ok(None);
        }
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)?;
        Ok(Some(Needles {
            ac,
            owner,
            plus: values.iter().any(|v| v.contains(&b' ')),
            longest,
        }))
    }

    /// Whether `hay` could hold an encoded form (so its lines need views).
    pub(crate) fn view_bytes(&self) -> &'static [u8] {
        if self.plus { b"%\\+" } else { b"%\\" }
    }

    /// Every occurrence of a secret in `hay`, in any form, outside placeholders; appended to
    /// `out` in no particular order (overlaps are the caller's to resolve).
    pub(crate) fn find_all(&self, hay: &[u8], views: &mut Views, out: &mut Vec<Found>) {
        self.find_raw(hay, out);
        self.find_encoded(hay, views, out);
    }

    /// The occurrences of secrets in `hay` as they are (or in base64), sorted by start.
    pub(crate) fn find_raw(&self, hay: &[u8], out: &mut Vec<Found>) {
        let first = out.len();
        self.search(hay, None, hay, Form::Plain, out);
        // A base64 token grows back to its start, which can reorder two matches.
        out[first..].sort_by_key(|f| f.start);
    }

    /// The occurrences of secrets in `hay` percent-encoded or JSON-escaped.
    pub(crate) fn find_encoded(&self, hay: &[u8], views: &mut Views, out: &mut Vec<Found>) {
        let first = out.len();
        if needs_percent_view(hay, self.plus) {
            percent_view(hay, self.plus, &mut views.buf, &mut views.map);
            self.search(&views.buf, Some(&views.map), hay, Form::Percent, out);
        }
        if memchr::memchr(b'\\', hay).is_some() {
            json_view(hay, &mut views.buf, &mut views.map);
            self.search(&views.buf, Some(&views.map), hay, Form::Json, out);
            if memchr::memchr(b'\\', &views.buf).is_some() {
                // JSON inside a JSON string: a second level, mapped back through the first.
                json_view(&views.buf, &mut views.buf2, &mut views.map2);
                for m in views.map2.iter_mut() {
                    *m = views.map[*m];
                }
                self.search(&views.buf2, Some(&views.map2), hay, Form::Json, out);
            }
        }
        // A second view may find again what the first did.
        out[first..].sort_unstable_by_key(|f| (f.start, f.end));
        let mut kept = first;
        for i in first..out.len() {
            if kept == first
                || (out[kept - 1].start, out[kept - 1].end) != (out[i].start, out[i].end)
            {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Searches `view` (the original when `map` is None) and reports matches in `hay`.
    fn search(
        &self,
        view: &[u8],
        map: Option<&[usize]>,
        hay: &[u8],
        form: Form,
        out: &mut Vec<Found>,
    ) {
        for m in self.ac.find_iter(view) {
            let (start, end) = match map {
                Some(map) => (map[m.start()], map[m.end()]),
                None => (m.start(), m.end()),
            };
            let (secret, core) = self.owner[m.pattern().as_usize()];
            // A view finds what the original holds too: only encoded occurrences count.
            if map.is_some() && !hay[start..end].iter().any(|b| b"%\\+".contains(b)) {
                continue;
            }
            if inside_placeholder(hay, start, end) {
                continue;
            }
            let (start, end, form) = if core {
                let (s, e) = base64_token(hay, start, end);
                (s, e, Form::Base64)
            } else {
                (start, end, form)
            };
            out.push(Found {
                start,
                end,
                secret,
                form,
            });
        }
    }
}

/// Whether `hay` holds a percent escape (or a `+` that may stand for a space).
fn needs_percent_view(hay: &[u8], plus: bool) -> bool {
    (plus && memchr::memchr(b'+', hay).is_some())
        || memchr::memchr_iter(b'%', hay).any(|i| {
            hay.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && hay.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        })
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// `hay` with `%XX` decoded (either case) and, when `plus`, `+` read as a space. `map[i]` is
/// where decoded byte `i` starts in `hay`; `map[len]` is `hay.len()`.
pub(crate) fn percent_view(hay: &[u8], plus: bool, buf: &mut Vec<u8>, map: &mut Vec<usize>) {
    buf.clear();
    map.clear();
    let mut i = 0;
    while i < hay.len() {
        let b = hay[i];
        map.push(i);
        if b == b'%'
            && hay.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && hay.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            buf.push(hex(hay[i + 1]) << 4 | hex(hay[i + 2]));
            i += 3;
        } else {
            buf.push(if plus && b == b'+' { b' ' } else { b });
            i += 1;
        }
    }
    map.push(hay.len());
}

/// `hay` with one level of JSON (and Python-repr) backslash escapes decoded; `map` as for
/// [`percent_view`]. Unknown escapes are kept as they are.
pub(crate) fn json_view(hay: &[u8], buf: &mut Vec<u8>, map: &mut Vec<usize>) {
    buf.clear();
    map.clear();
    let mut i = 0;
    while i < hay.len() {
        let b = hay[i];
        if b != b'\\' || i + 1 >= hay.len() {
            map.push(i);
            buf.push(b);
            i += 1;
            continue;
        }
        let simple = match hay[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'\'' => Some(b'\''),
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            _ => None,
        };
        if let Some(c) = simple {
            map.push(i);
            buf.push(c);
            i += 2;
            continue;
        }
        if hay[i + 1] == b'x'
            && hay.len() >= i + 4
            && hay[i + 2..i + 4].iter().all(u8::is_ascii_hexdigit)
        {
            map.push(i);
            buf.push(hex(hay[i + 2]) << 4 | hex(hay[i + 3]));
            i += 4;
            continue;
        }
        if let Some((c, used)) = unicode_escape(&hay[i..]) {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                map.push(i);
                buf.push(byte);
            }
            i += used;
            continue;
        }
        map.push(i);
        buf.push(b'\\');
        i += 1;
    }
    map.push(hay.len());
}

/// A `\uXXXX` escape (or a surrogate pair of two) at the start of `s`: the character and the
/// bytes it took.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let unit = |s: &[u8]| -> Option<u32> {
        if s.len() < 6
            || s[0] != b'\\'
            || s[1] != b'u'
            || !s[2..6].iter().all(u8::is_ascii_hexdigit)
        {
            return None;
        }
        Some(
            s[2..6]
                .iter()
                .fold(0u32, |acc, b| acc << 4 | u32::from(hex(*b))),
        )
    };
    let hi = unit(s)?;
    if (0xD800..0xDC00).contains(&hi)
        && let Some(lo) = unit(&s[6..])
        && (0xDC00..0xE000).contains(&lo)
    {
        let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
        return Some((c, 12));
    }
    char::from_u32(hi).map(|c| (c, 6))
}

/// Decodes every JSON escape of `s` once (for learning the real value of an escaped one).
pub(crate) fn json_unescape(s: &[u8]) -> Vec<u8> {
    let (mut buf, mut map) = (Vec::new(), Vec::new());
    json_view(s, &mut buf, &mut map);
    buf
}

/// Decodes the percent escapes of `s` (for learning the password of a URL: RFC 3986 userinfo,
/// where `+` is a plus); a `%` that starts no escape is kept as written.
pub(crate) fn percent_decode(s: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(s).collect()
}

/// The base64 characters decided by `v` alone at each of the three byte alignments, in the
/// standard and (when different) URL-safe alphabets.
fn base64_cores(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..3usize {
        let mut buf = vec![0u8; k];
        buf.extend_from_slice(v);
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&buf);
        // Character j covers bits 6j..6j+6; v covers bits 8k..8(k+len).
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + v.len())) / 6; // exclusive
        if last <= first {
            continue;
        }
        let core = enc.as_bytes()[first..last].to_vec();
        let url: Vec<u8> = core
            .iter()
            .map(|b| match b {
                b'+' => b'-',
                b'/' => b'_',
                b => *b,
            })
            .collect();
        if url != core {
            out.push(url);
        }
        out.push(core);
    }
    out
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'%')
}

/// The whole base64 token around `start..end` (a core is only part of one).
fn base64_token(hay: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start > 0 && is_base64_byte(hay[start - 1]) {
        start -= 1;
    }
    while end < hay.len() && is_base64_byte(hay[end]) {
        end += 1;
    }
    (start, end)
}

/// Whether `start..end` lies inside a placeholder (`<redacted:password:1>`): a secret that
/// reads like a kind (`password`) must not be found in the redactor's own output.
pub(crate) fn inside_placeholder(hay: &[u8], start: usize, end: usize) -> bool {
    const OPEN: &[u8] = b"<redacted:";
    // The `<` opening it: at most a kind's length before the match (or inside `<redacted:`).
    let from = start.saturating_sub(OPEN.len() + 40);
    let upto = (start + 1).min(hay.len());
    let Some(open) = memchr::memrchr(b'<', &hay[from..upto]).map(|i| from + i) else {
        return false;
    };
    if !hay[open..].starts_with(OPEN) {
        return false;
    }
    match memchr::memchr(b'>', &hay[open..]) {
        Some(close) => {
            let close = open + close;
            close + 1 >= end
                && hay[open + OPEN.len()..close]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.'))
        }
        None => false,
    }
}

/// What the leak scan found: the secret's kind and form, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The secret's kind (`WA_DB_PASSWORD`, `api token`), as the redactor learnt it.
    pub kind: String,
    /// How it appeared: `as it is`, `percent-encoded`, `JSON-escaped` or `base64`.
    pub form: &'static str,
}

/// Looks for known secrets, in every form the redactor replaces, in finished output.
pub struct LeakScanner {
    needles: Option<Needles>,
    kinds: Vec<String>,
}

impl LeakScanner {
    /// A scanner for `secrets` (kind, value).
    ///
    /// # Errors
    ///
    /// The automaton cannot be built (the secrets are too many or too long for aho-corasick).
    pub fn new(secrets: &[(String, Vec<u8>)]) -> Result<LeakScanner, aho_corasick::BuildError> {
        let values: Vec<&[u8]> = secrets.iter().map(|(_, v)| v.as_slice()).collect();
        Ok(LeakScanner {
            needles: Needles::new(&values)?,
            kinds: secrets.iter().map(|(k, _)| k.clone()).collect(),
        })
    }

    /// Reads `input` to its end, or to the first secret found (outside placeholders). Works in
    /// overlapping windows, so a secret across any read boundary or line length is seen.
    ///
    /// # Errors
    ///
    /// Reading `input` failed.
    pub fn scan(&self, input: &mut dyn Read) -> io::Result<Option<Leak>> {
        let Some(needles) = &self.needles else {
            io::copy(input, &mut io::sink())?;
            return Ok(None);
        };
        const CHUNK: usize = 1 << 20;
        // Enough for the longest needle in its longest encoding (`\u00XX` is six bytes a byte).
        let overlap = (needles.longest * 6 + 16).min(256 * 1024);
        let mut window: Vec<u8> = Vec::with_capacity(CHUNK + overlap);
        let mut views = Views::default();
        let mut found = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = read_full(input, &mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            window.extend_from_slice(&chunk[..n]);
            found.clear();
            needles.find_all(&window, &mut views, &mut found);
            if let Some(f) = found.first() {
                return Ok(Some(Leak {
                    kind: self.kinds[f.secret].clone(),
                    form: match f.form {
                        Form::Plain => "as it is",
                        Form::Percent => "percent-encoded",
                        Form::Json => "JSON-escaped",
                        Form::Base64 => "base64",
                    },
                }));
            }
            let keep = window.len().min(overlap);
            window.drain(..window.len() - keep);
        }
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(secret: &str, hay: &str) -> Vec<(String, Form)> {
        let n = Needles::new(&[secret.as_bytes()]).unwrap().unwrap();
        let mut out = Vec::new();
        n.find_all(hay.as_bytes(), &mut Views::default(), &mut out);
        out.iter()
            .map(|f| (hay[f.start..f.end].to_string(), f.form))
            .collect()
    }

    #[test]
    fn percent_forms_in_either_case_and_plus_for_space() {
        let got = forms(
            "p@ss/w:rd",
            "u=wa&pw=p%40ss%2Fw%3Ard&x=1 and p%40ss%2fw%3ard",
        );
        assert_eq!(
            got,
            vec![
                ("p%40ss%2Fw%3Ard".to_string(), Form::Percent),
                ("p%40ss%2fw%3ard".to_string(), Form::Percent)
            ]
        );
        let got = forms("Green kites over", "q=Green+kites+over&x");
        assert_eq!(got, vec![("Green+kites+over".to_string(), Form::Percent)]);
    }

    #[test]
    fn json_forms_once_and_twice_escaped() {
        let got = forms(
            r#"pa"ss\word"#,
            r#"{"p": "pa\"ss\\word", "q": "{\"p\":\"pa\\\"ss\\\\word\"}"}"#,
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|(_, f)| *f == Form::Json));
        let got = forms("Pässword1", r#"{"p": "P\u00e4ssword1"}"#);
        assert_eq!(got, vec![(r"P\u00e4ssword1".to_string(), Form::Json)]);
    }

    #[test]
    fn base64_of_user_colon_secret_at_every_alignment() {
        let e = base64::engine::general_purpose::STANDARD;
        for user in ["a", "wa", "ops"] {
            let cred = e.encode(format!("{user}:Hunter-22-secret"));
            let hay = format!("Authorization: Basic {cred} ok");
            let got = forms("Hunter-22-secret", &hay);
            assert_eq!(got, vec![(cred.clone(), Form::Base64)], "{user}");
        }
    }

    #[test]
    fn placeholders_are_not_secrets() {
        assert!(forms("password", "x <redacted:password:1> y").is_empty());
        assert_eq!(forms("password", "password <redacted:password:1>").len(), 1);
    }

    #[test]
    fn the_leak_scan_reads_across_windows_and_forms() {
        let s = LeakScanner::new(&[("password".into(), b"S3cr3t/pw".to_vec())]).unwrap();
        let mut big = vec![b'x'; (1 << 20) - 3];
        big.extend_from_slice(b"S3cr3t/pw\n");
        let leak = s.scan(&mut big.as_slice()).unwrap().unwrap();
        assert_eq!(leak.kind, "password");
        let leak = s
            .scan(&mut &b"dsn=mysql://wa:S3cr3t%2Fpw@db"[..])
            .unwrap()
            .unwrap();
        assert_eq!(leak.form, "percent-encoded");
        assert!(s.scan(&mut &b"nothing here"[..]).unwrap().is_none());
    }
}
