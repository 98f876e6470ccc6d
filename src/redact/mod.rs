//! Redaction: secrets out of everything a support bundle holds.
//!
//! Works on bytes, line by line (logs are not always UTF-8), with:
//! - patterns (`scan.rs`): values of secret-looking names in any case style and syntax (env,
//!   ini, YAML, JSON, Python repr, JSON inside JSON, flags, SQL, netrc, `.pgpass`),
//!   passwords in URLs and command lines, Authorization/Bearer values, cookies, JWTs, private
//!   keys (PEM, PGP, and bare DER bodies), AWS access key ids, and by default personal data:
//!   phone numbers however they are written, WA IDs and e-mail addresses;
//! - known secrets (`known.rs`): every secret value the run knows (the database password,
//!   each container's secret-named env values) and every value a pattern revealed, matched
//!   anywhere, as they are or percent-encoded, JSON-escaped or inside base64;
//! - the operator's own literals and patterns from the config.
//!
//! Whole files are judged twice where that matters ([`Redactor::learn`] then
//! [`Redactor::stream`]), so a value revealed in one file is replaced in every file.
//!
//! Speed: one case-sensitive automaton over each 1 MiB block finds every trigger word at
//! once (plus `memchr` for `+`, `@`, `%`, `\`); a block without any is copied untouched, and
//! only lines holding a trigger are parsed, at their triggers.
//!
//! The same secret always becomes the same placeholder (`<redacted:password:1>`), so support
//! can still see that two places hold the same value; the mapping stays in memory.

mod known;
mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, Write};

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;

pub use known::{Leak, LeakScanner};
use scan::{Rule, Span, State, Trigger};

use crate::secret::KnownSecret;

/// An operator-defined rule from the config (`redaction:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// Names the rule in the bundle's redaction counts and in errors (`customer_ids`).
    pub name: String,
    /// A literal string to hide wherever it appears.
    pub literal: Option<String>,
    /// A regex; its first capture group (or the whole match) is hidden.
    pub regex: Option<String>,
}

/// Which personal data is redacted besides secrets (both by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalData {
    /// Phone numbers and WA IDs (`--no-redact-phones`, `redaction.phones`).
    pub phones: bool,
    /// E-mail addresses (`--no-redact-emails`, `redaction.emails`).
    pub emails: bool,
}

impl Default for PersonalData {
    fn default() -> Self {
        PersonalData {
            phones: true,
            emails: true,
        }
    }
}

/// Why a redactor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A rule cannot be used: an operator's rule with a bad regex or with neither (or both)
    /// of `literal` and `regex`, or the combined patterns too large to compile.
    #[error("redaction rule {name:?}: {why}")]
    Rule {
        /// The operator's rule name, or which built-in set (`custom rules`, `triggers`,
        /// `leak scan`).
        name: String,
        /// What is wrong, in words.
        why: String,
    },
}

/// FNV-1a: the maps below are looked up once per secret found, with short keys; SipHash's
/// protection against chosen collisions buys nothing for a tool reading its own host's logs.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
type FastSet<K> = HashSet<K, std::hash::BuildHasherDefault<Fnv>>;

/// Revealed values shorter than this are replaced where they were found but not looked for
/// elsewhere: too likely to be ordinary text.
const MIN_LEARNED: usize = 6;

/// The most revealed values remembered (a log with a new session cookie on every line would
/// otherwise grow the automaton without end). Past it, values are still replaced where a
/// pattern finds them, just not looked for elsewhere.
const MAX_LEARNED: usize = 10_000;

/// The redaction engine for one run.
pub struct Redactor {
    scanner: scan::Scanner,
    triggers: AhoCorasick,
    trigger_of: Vec<Trigger>,
    personal: PersonalData,
    custom: Vec<(String, Regex, usize)>,
    custom_set: Option<RegexSet>,
    secrets: Vec<KnownSecret>,
    seen: FastSet<Vec<u8>>,
    /// How many of `secrets` were revealed by patterns (not given).
    learned: usize,
    needles: Option<known::Needles>,
    /// Secrets were added since `needles` was built.
    dirty: bool,
    views: known::Views,
    ledger: Ledger,
    state: Option<State>,
    /// The current file is a `.pgpass`.
    pgpass: bool,
    hits: Vec<(usize, Trigger)>,
    line_hits: Vec<(usize, Trigger)>,
    spans: Vec<Span>,
    /// Known secrets as they are in the current block, sorted by start.
    block_found: Vec<known::Found>,
    /// The first of `block_found` not before the current line.
    found_cursor: usize,
    found: Vec<known::Found>,
    line_out: Vec<u8>,
    rule_name: String,
}

impl Redactor {
    /// A redactor with the built-in patterns, `known` secrets (kind, value; shorter than 4
    /// bytes are ignored) and the operator's `custom` rules.
    ///
    /// # Errors
    ///
    /// [`RedactError::Rule`] when a custom rule's regex does not compile, it gives neither or both
    /// of `literal` and `regex` (or an empty literal), or the combined patterns are too large.
    pub fn new(
        personal: PersonalData,
        known: &[(String, String)],
        custom: &[CustomRule],
    ) -> Result<Redactor, RedactError> {
        let mut secrets: Vec<(String, Vec<u8>)> = known
            .iter()
            .filter(|(_, v)| v.len() >= 4)
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        let mut custom_patterns = Vec::new();
        for rule in custom {
            match (&rule.literal, &rule.regex) {
                (Some(l), None) if !l.is_empty() => {
                    secrets.push((rule.name.clone(), l.clone().into_bytes()))
                }
                (None, Some(r)) => {
                    let re = Regex::new(r).map_err(|e| RedactError::Rule {
                        name: rule.name.clone(),
                        why: e.to_string(),
                    })?;
                    let group = usize::from(re.captures_len() > 1);
                    custom_patterns.push((rule.name.clone(), re, group));
                }
                _ => {
                    return Err(RedactError::Rule {
                        name: rule.name.clone(),
                        why: "give exactly one of `literal` (not empty) or `regex`".into(),
                    });
                }
            }
        }
        let custom_set = if custom_patterns.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(custom_patterns.iter().map(|(_, re, _)| re.as_str())).map_err(
                    |e| RedactError::Rule {
                        name: "custom rules".into(),
                        why: e.to_string(),
                    },
                )?,
            )
        };
        let table = scan::triggers();
        let triggers = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(table.iter().map(|(w, _)| w))
            .map_err(|e| RedactError::Rule {
                name: "triggers".into(),
                why: e.to_string(),
            })?;
        let mut r = Redactor {
            scanner: scan::Scanner::new(personal.phones, personal.emails),
            triggers,
            trigger_of: table.into_iter().map(|(_, t)| t).collect(),
            personal,
            custom: custom_patterns,
            custom_set,
            secrets: Vec::new(),
            seen: FastSet::default(),
            learned: 0,
            needles: None,
            dirty: false,
            views: known::Views::default(),
            ledger: Ledger::default(),
            state: None,
            pgpass: false,
            hits: Vec::new(),
            line_hits: Vec::new(),
            spans: Vec::new(),
            block_found: Vec::new(),
            found_cursor: 0,
            found: Vec::new(),
            line_out: Vec::new(),
            rule_name: String::new(),
        };
        // Longest first, so a secret that contains another is hidden whole.
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (kind, value) in secrets {
            r.add_secret(kind, value);
        }
        r.refresh()?;
        Ok(r)
    }

    fn add_secret(&mut self, kind: String, value: Vec<u8>) {
        if self.seen.insert(value.clone()) {
            self.secrets.push(KnownSecret { kind, value });
            self.dirty = true;
        }
    }

    /// Remembers a value a pattern revealed, unless it reads like ordinary text.
    fn remember(&mut self, kind: &str, value: &[u8]) {
        if self.learned < MAX_LEARNED && learnable(value) && !self.seen.contains(value) {
            self.learned += 1;
            self.add_secret(kind.to_string(), value.to_vec());
        }
    }

    /// Rebuilds the known-secret automaton after secrets were added.
    fn refresh(&mut self) -> Result<(), RedactError> {
        if !self.dirty {
            return Ok(());
        }
        let values: Vec<&[u8]> = self.secrets.iter().map(|s| s.value.as_slice()).collect();
        self.needles = known::Needles::new(&values).map_err(|e| RedactError::Rule {
            name: "known secrets".into(),
            why: e.to_string(),
        })?;
        self.dirty = false;
        Ok(())
    }

    /// The names of the rules in force, as the manifest counts them.
    pub fn rule_names(&self) -> Vec<String> {
        let mut names: Vec<String> = scan::RULES.iter().map(|r| r.to_string()).collect();
        if self.personal.phones {
            names.extend(scan::PHONE_RULES.iter().map(|r| r.to_string()));
        }
        if self.personal.emails {
            names.extend(scan::EMAIL_RULES.iter().map(|r| r.to_string()));
        }
        names.extend(self.custom.iter().map(|(n, _, _)| n.clone()));
        if !self.secrets.is_empty() {
            names.push(format!("known literals ({})", self.secrets.len()));
        }
        names
    }

    /// A leak scanner for every secret known so far, in every form this redactor replaces.
    ///
    /// # Errors
    ///
    /// [`RedactError::Rule`] (`leak scan`) when the secrets' patterns are too large to compile.
    pub fn leak_scanner(&self) -> Result<LeakScanner, RedactError> {
        let secrets: Vec<(String, Vec<u8>)> = self
            .secrets
            .iter()
            .map(|s| (s.kind.clone(), s.value.clone()))
            .collect();
        LeakScanner::new(&secrets).map_err(|e| RedactError::Rule {
            name: "leak scan".into(),
            why: e.to_string(),
        })
    }

    /// Starts a file: forgets multi-line state and takes hints from its name (a `.pgpass`
    /// has no names to find, only fields).
    pub fn begin_file(&mut self, name: &str) {
        self.end_of_file();
        let base = name.rsplit(['/', '_']).next().unwrap_or(name);
        self.pgpass = base.ends_with("pgpass") || base == "pgpass.conf";
    }

    /// Forgets the state of a multi-line block (between files).
    pub fn end_of_file(&mut self) {
        self.state = None;
        self.pgpass = false;
    }

    /// How many values each rule replaced so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.ledger
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// First pass over a file: remembers every secret value its patterns reveal (a
    /// secret-named env value, a password after a flag, a URL's password), so that the
    /// second pass ([`Redactor::stream`]) replaces them wherever they appear, in every file.
    /// Writes and counts nothing.
    ///
    /// # Errors
    ///
    /// Reading `input` failed.
    pub fn learn(&mut self, input: &mut dyn BufRead, max_line: usize) -> io::Result<()> {
        self.run(input, None, max_line)?;
        self.state = None;
        Ok(())
    }

    /// Copies `input` to `output` redacted. Works in blocks of about 1 MiB ending at a line
    /// end: a block with no trigger anywhere is copied as it is (the common case, at memory
    /// speed); otherwise only its lines holding one are parsed. Lines longer than `max_line`
    /// are processed in pieces of that size. Returns the bytes written.
    ///
    /// # Errors
    ///
    /// Reading `input` or writing `output` failed; what was written before stays written.
    pub fn stream(
        &mut self,
        input: &mut dyn BufRead,
        output: &mut dyn Write,
        max_line: usize,
    ) -> io::Result<u64> {
        self.run(input, Some(output), max_line)
    }

    /// Redacts one line (without its newline).
    pub fn line(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        // Writing to a Vec cannot fail.
        let _ = self.block(input, usize::MAX, Some(&mut out));
        out
    }

    fn run(
        &mut self,
        input: &mut dyn BufRead,
        mut output: Option<&mut dyn Write>,
        max_line: usize,
    ) -> io::Result<u64> {
        const BLOCK: usize = 1 << 20;
        let mut written = 0u64;
        let mut block = Vec::with_capacity(BLOCK + 64 * 1024);
        loop {
            block.clear();
            fill_block(input, &mut block, BLOCK)?;
            if block.last().is_some_and(|b| *b != b'\n') {
                // Complete the last line, so no line is judged in two halves.
                let mut rest = Vec::new();
                read_line_capped(input, &mut rest, max_line)?;
                block.extend_from_slice(&rest);
            }
            if block.is_empty() {
                break;
            }
            written += match output {
                Some(ref mut w) => self.block(&block, max_line, Some(&mut **w))?,
                None => self.block(&block, max_line, None)?,
            };
        }
        Ok(written)
    }

    /// Redacts (or, without `out`, learns from) one block of whole lines.
    fn block(
        &mut self,
        block: &[u8],
        max_line: usize,
        mut out: Option<&mut dyn Write>,
    ) -> io::Result<u64> {
        let learning = out.is_none();
        if !learning {
            self.refresh().map_err(io::Error::other)?;
        }
        self.collect_hits(block, learning);
        let all = self.pgpass
            || (!learning && self.custom_set.as_ref().is_some_and(|s| s.is_match(block)));
        let mut written = 0u64;
        if self.hits.is_empty() && self.state.is_none() && !all {
            emit(&mut out, block, &mut written)?;
            return Ok(written);
        }
        let hits = std::mem::take(&mut self.hits);
        let mut pos = 0;
        let mut h = 0;
        while pos < block.len() {
            while h < hits.len() && hits[h].0 < pos {
                h += 1;
            }
            let ls = if self.state.is_some() || all {
                pos
            } else {
                match hits.get(h) {
                    Some(&(at, _)) => {
                        memchr::memrchr(b'\n', &block[pos..at]).map_or(pos, |i| pos + i + 1)
                    }
                    None => break,
                }
            };
            emit(&mut out, &block[pos..ls], &mut written)?;
            let le = memchr::memchr(b'\n', &block[ls..]).map_or(block.len(), |i| ls + i);
            // Lines come in order: cursors, not searches, find their hits.
            let mut he = h;
            while he < hits.len() && hits[he].0 < le {
                he += 1;
            }
            let mut ps = ls;
            loop {
                let mut pe = ps.saturating_add(max_line.max(1)).min(le);
                // A known secret across the cut moves the cut past it.
                if let Some(f) = self.block_found[self.found_cursor..]
                    .iter()
                    .take_while(|f| f.start < pe)
                    .find(|f| f.end > pe)
                {
                    pe = f.end.min(le);
                }
                self.piece(&block[ps..pe], ps, &hits[h..he], &mut out, &mut written)?;
                if pe >= le {
                    break;
                }
                ps = pe;
            }
            h = he;
            pos = le;
            if pos < block.len() {
                emit(&mut out, b"\n", &mut written)?;
                pos += 1;
            }
        }
        emit(&mut out, &block[pos..], &mut written)?;
        self.hits = hits;
        Ok(written)
    }

    /// Every trigger in `block`, sorted by position.
    fn collect_hits(&mut self, block: &[u8], learning: bool) {
        self.hits.clear();
        self.block_found.clear();
        self.found_cursor = 0;
        for m in self.triggers.find_iter(block) {
            self.hits
                .push((m.start(), self.trigger_of[m.pattern().as_usize()]));
        }
        if learning {
            // Only patterns reveal secrets; personal data and known values teach nothing.
            return;
        }
        let before = self.hits.len();
        if self.personal.phones {
            self.hits
                .extend(memchr::memchr_iter(b'+', block).map(|i| (i, Trigger::Plus)));
        }
        if self.personal.phones || self.personal.emails {
            self.hits
                .extend(memchr::memchr_iter(b'@', block).map(|i| (i, Trigger::At)));
        }
        if let Some(n) = &self.needles {
            n.find_raw(block, &mut self.block_found);
            self.hits
                .extend(self.block_found.iter().map(|f| (f.start, Trigger::Known)));
            for &b in n.view_bytes() {
                self.hits
                    .extend(memchr::memchr_iter(b, block).map(|i| (i, Trigger::Known)));
            }
        }
        if self.hits.len() > before {
            // A few sorted runs one after another: the stable sort merges them in linear time.
            self.hits.sort_by_key(|h| h.0);
        }
    }

    /// One line (or piece of a long line) at `base` in its block, with the block's `hits`
    /// on its line.
    fn piece(
        &mut self,
        text: &[u8],
        base: usize,
        hits: &[(usize, Trigger)],
        out: &mut Option<&mut dyn Write>,
        written: &mut u64,
    ) -> io::Result<()> {
        let learning = out.is_none();
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        let mut taken = false;
        if let Some(state) = self.state {
            let (t, next) = scan::state_line(state, text, &mut spans);
            taken = t;
            self.state = next;
        }
        if !taken {
            self.line_hits.clear();
            self.line_hits.extend(
                hits.iter()
                    .filter(|(at, _)| *at >= base && *at < base + text.len())
                    .map(|(at, t)| (at - base, *t)),
            );
            if let Some(next) = self.scanner.spans(text, &self.line_hits, &mut spans) {
                self.state = Some(next);
            }
            if self.pgpass {
                scan::pgpass(text, &mut spans);
            }
        }
        for s in &spans {
            if s.learn {
                let kind = match s.rule {
                    Rule::Pattern(_, k) | Rule::Learn(k) => k,
                    _ => continue,
                };
                let value = s.secret.as_deref().unwrap_or(&text[s.start..s.end]);
                self.remember(kind, value);
            }
        }
        if learning {
            self.spans = spans;
            return Ok(());
        }
        if let Some(n) = &self.needles {
            self.found.clear();
            let end = base + text.len();
            let mut lo = self.found_cursor;
            while lo < self.block_found.len() && self.block_found[lo].start < base {
                lo += 1;
            }
            let mut hi = lo;
            while hi < self.block_found.len() && self.block_found[hi].start < end {
                hi += 1;
            }
            self.found_cursor = lo;
            self.found
                .extend(self.block_found[lo..hi].iter().map(|f| known::Found {
                    start: f.start - base,
                    end: f.end.min(end) - base,
                    ..*f
                }));
            let v = n.view_bytes();
            if memchr::memchr3(v[0], v[1], v[v.len() - 1], text).is_some() {
                n.find_encoded(text, &mut self.views, &mut self.found);
            }
            spans.extend(self.found.iter().map(|f| Span {
                start: f.start,
                end: f.end,
                rule: Rule::Known(f.secret, f.form),
                secret: None,
                learn: false,
            }));
        }
        let custom = self.custom_set.as_ref().is_some_and(|s| s.is_match(text));
        if spans.iter().all(|s| s.start == s.end) && !custom {
            self.spans = spans;
            return emit(out, text, written);
        }
        // Earliest first; at the same start the longest; a pattern before a known secret
        // (it names the kind of secret it found); otherwise in the order they were found, so
        // `Authorization: Bearer x` counts as the header it is, not as a bare bearer token.
        spans.sort_by_key(|s| {
            (
                s.start,
                std::cmp::Reverse(s.end),
                matches!(s.rule, Rule::Known(..)),
            )
        });
        let mut line = std::mem::take(&mut self.line_out);
        line.clear();
        let mut last = 0;
        let mut i = 0;
        while i < spans.len() {
            let s = &spans[i];
            if s.start == s.end || s.start < last {
                i += 1;
                continue;
            }
            // Overlapping spans merge: the first names the placeholder, the union is hidden.
            let mut end = s.end;
            let mut j = i + 1;
            while j < spans.len() && spans[j].start < end {
                end = end.max(spans[j].end);
                j += 1;
            }
            line.extend_from_slice(&text[last..s.start]);
            match s.rule {
                Rule::Drop | Rule::Learn(_) => {}
                Rule::Pattern(rule, kind) => {
                    let secret = s.secret.as_deref().unwrap_or(&text[s.start..s.end]);
                    self.ledger.placeholder(kind, secret, rule, &mut line);
                }
                Rule::Known(k, form) => {
                    let secret = &self.secrets[k];
                    let rule = &mut self.rule_name;
                    rule.clear();
                    rule.push_str("known-");
                    rule.push_str(&secret.kind);
                    rule.push_str(form.suffix());
                    self.ledger
                        .placeholder(&secret.kind, &secret.value, rule, &mut line);
                }
            }
            last = end;
            i = j;
        }
        line.extend_from_slice(&text[last..]);
        if custom {
            let custom_rules = std::mem::take(&mut self.custom);
            for (name, re, group) in &custom_rules {
                line = self.replace(re, *group, name, &line);
            }
            self.custom = custom_rules;
        }
        let r = emit(out, &line, written);
        self.line_out = line;
        self.spans = spans;
        r
    }

    /// An operator's regex rule applied to a line.
    fn replace(&mut self, re: &Regex, group: usize, name: &str, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut last = 0;
        let caps: Vec<(usize, usize, usize)> = re
            .captures_iter(input)
            .filter_map(|c| {
                let m = c.get(group)?;
                Some((
                    c.get(0).map_or(m.start(), |w| w.start()),
                    m.start(),
                    m.end(),
                ))
            })
            .collect();
        for (whole, start, end) in caps {
            // An already redacted value, or a match inside a placeholder, stays as it is.
            if input[start..end].starts_with(b"<redacted:")
                || input[..whole].ends_with(b"<redacted:")
                || known::inside_placeholder(input, start, end)
                || start < last
            {
                continue;
            }
            out.extend_from_slice(&input[last..start]);
            self.ledger
                .placeholder(name, &input[start..end], name, &mut out);
            last = end;
        }
        out.extend_from_slice(&input[last..]);
        out
    }
}

/// The placeholders handed out and the replacements counted, per rule.
#[derive(Default)]
struct Ledger {
    /// Secret → (kind, number) of its placeholder.
    tokens: FastMap<Vec<u8>, (String, u32)>,
    next_token: HashMap<String, u32>,
    counts: FastMap<String, u64>,
}

impl Ledger {
    /// Appends the placeholder of `secret` (the same one wherever it appears) and counts it.
    fn placeholder(&mut self, kind: &str, secret: &[u8], rule: &str, out: &mut Vec<u8>) {
        match self.counts.get_mut(rule) {
            Some(c) => *c += 1,
            None => {
                self.counts.insert(rule.to_string(), 1);
            }
        }
        let (kind, n) = match self.tokens.get(secret) {
            Some((k, n)) => (k.as_str(), *n),
            None => {
                let next = self.next_token.entry(kind.to_string()).or_insert(0);
                *next += 1;
                let n = *next;
                self.tokens.insert(secret.to_vec(), (kind.to_string(), n));
                (kind, n)
            }
        };
        out.extend_from_slice(b"<redacted:");
        out.extend_from_slice(kind.as_bytes());
        out.push(b':');
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[i..]);
        out.push(b'>');
    }
}

fn emit(out: &mut Option<&mut dyn Write>, bytes: &[u8], written: &mut u64) -> io::Result<()> {
    if let Some(w) = out
        && !bytes.is_empty()
    {
        w.write_all(bytes)?;
        *written += bytes.len() as u64;
    }
    Ok(())
}

/// Whether a revealed value is worth looking for everywhere: long enough, and not a
/// placeholder, a reference to a variable, a mask or a word people write about secrets.
fn learnable(v: &[u8]) -> bool {
    if v.len() < MIN_LEARNED || v.len() > 4096 || v.contains(&b'\n') {
        return false;
    }
    if v.starts_with(b"<redacted:")
        || v.starts_with(b"${")
        || v.starts_with(b"{{")
        || v.starts_with(b"$(")
        || v.starts_with(b"%(")
        || v.iter().all(|b| *b == v[0])
        || (v.iter().all(u8::is_ascii_digit) && v.len() < 12)
    {
        return false;
    }
    ![
        &b"password"[..],
        b"passwd",
        b"secret",
        b"changeme",
        b"redacted",
        b"[redacted]",
        b"<hidden>",
        b"(hidden)",
        b"undefined",
        b"required",
        b"optional",
        b"enabled",
        b"disabled",
    ]
    .iter()
    .any(|w| v.eq_ignore_ascii_case(w))
}

/// Reads up to `max` bytes (fewer only at the end of the input).
fn fill_block(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<()> {
    while buf.len() < max {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let take = available.len().min(max - buf.len());
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
    }
    Ok(())
}

/// Reads up to and including a newline, or `max` bytes. Returns whether anything was read.
fn read_line_capped(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let mut any = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any);
        }
        any = true;
        let room = max.saturating_sub(buf.len()).max(1);
        let (take, done) = match available.iter().take(room).position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (
                available.len().min(room),
                buf.len() + available.len().min(room) >= max,
            ),
        };
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: PersonalData = PersonalData {
        phones: true,
        emails: true,
    };

    fn redact(text: &str) -> (String, BTreeMap<String, u64>) {
        let mut r =
            Redactor::new(ALL, &[("password".into(), "S3cr3t-DB-pass".into())], &[]).unwrap();
        let mut out = Vec::new();
        r.stream(&mut text.as_bytes(), &mut out, 1 << 20).unwrap();
        (String::from_utf8(out).unwrap(), r.counts())
    }

    /// Both passes, as a bundle runs them.
    fn learn_then_redact(text: &str) -> (String, BTreeMap<String, u64>) {
        let mut r = Redactor::new(ALL, &[], &[]).unwrap();
        r.learn(&mut text.as_bytes(), 1 << 20).unwrap();
        let mut out = Vec::new();
        r.stream(&mut text.as_bytes(), &mut out, 1 << 20).unwrap();
        (String::from_utf8(out).unwrap(), r.counts())
    }

    #[test]
    fn hides_every_kind_of_secret() {
        let input = "\
WA_DB_PASSWORD=S3cr3t-DB-pass
connecting with S3cr3t-DB-pass again
\"Env\": [\"WA_SECRET=abcdef123456\", \"WA_DB_HOSTNAME=db\"],
{\"password\": \"hunter22\", \"user\": \"wa\"}
dsn mysql://wa:dsn-pass-99@db:3306/waent
Authorization: Bearer abcdef0123456789
token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U
msg from 14155550123@s.whatsapp.net to +14155550199 ok
{\"wa_id\": \"14155550123\", \"debug_info\": \"+447700900123\"}
-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA
-----END RSA PRIVATE KEY-----
WA_DB_HOSTNAME=db port 3306 user wa
";
        let (out, counts) = redact(input);
        for secret in [
            "S3cr3t-DB-pass",
            "abcdef123456",
            "hunter22",
            "dsn-pass-99",
            "abcdef0123456789",
            "eyJhbGciOiJIUzI1NiJ9",
            "14155550123",
            "14155550199",
            "447700900123",
            "MIIEpAIBAAKCAQEA",
        ] {
            assert!(!out.contains(secret), "{secret} survived:\n{out}");
        }
        assert!(out.contains("WA_DB_HOSTNAME=db"), "{out}");
        assert!(out.contains("WA_DB_HOSTNAME=db port 3306 user wa"));
        assert!(counts.values().sum::<u64>() >= 10, "{counts:?}");
    }

    #[test]
    fn the_same_secret_gets_the_same_placeholder() {
        let (out, _) = redact("a S3cr3t-DB-pass b\nc S3cr3t-DB-pass d\nWA_SECRET=other1234\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "a <redacted:password:1> b");
        assert_eq!(lines[1], "c <redacted:password:1> d");
        assert_eq!(lines[2], "WA_SECRET=<redacted:secret:1>");
        // Written another way, it is still the same phone number.
        let (out, _) = redact("+44 20 7946 0958 and +442079460958\n");
        assert_eq!(out, "<redacted:phone:1> and <redacted:phone:1>\n");
    }

    #[test]
    fn bytes_that_are_not_utf8_and_long_lines_pass_through() {
        let mut r = Redactor::new(ALL, &[], &[]).unwrap();
        let mut input: Vec<u8> = vec![0xff, 0xfe, b'\n'];
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nlast");
        let mut out = Vec::new();
        let n = r.stream(&mut input.as_slice(), &mut out, 1024).unwrap();
        assert_eq!(out, input);
        assert_eq!(n as usize, input.len());
    }

    #[test]
    fn a_revealed_secret_is_replaced_everywhere() {
        // The flag reveals the value; the second pass finds it alone, in the URL (there
        // percent-encoded), in JSON with escapes, and inside a Basic credential.
        let text = "\
lftp -u ops --upload-pass 'Up/load:pa\"ss' ftp://ops:Up%2Fload%3Apa%22ss@files.example.com
retrying with Up/load:pa\"ss
{\"argv\": \"Up/load:pa\\\"ss\"}
Authorization: Basic b3BzOlVwL2xvYWQ6cGEic3M=
";
        let (out, counts) = learn_then_redact(text);
        assert!(!out.contains("Up/load"), "{out}");
        assert!(!out.contains("Up%2Fload"), "{out}");
        assert!(!out.contains("b3BzOlVwL2xvYWQ6cGEic3M"), "{out}");
        assert_eq!(counts.get("known-password"), Some(&1), "{counts:?}");
        assert_eq!(counts.get("known-password-json"), Some(&1), "{counts:?}");
        // Within one pass the flag and the URL are each found by their own pattern.
        let mut r = Redactor::new(ALL, &[], &[]).unwrap();
        let line = String::from_utf8(r.line(text.lines().next().unwrap().as_bytes())).unwrap();
        assert!(
            !line.contains("Up/load") && !line.contains("Up%2Fload"),
            "{line}"
        );
    }

    #[test]
    fn multi_line_blocks() {
        let (out, counts) = redact(
            "key:\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0123abc\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\nafter\n",
        );
        assert_eq!(out, "key:\n<redacted:key:1>\n\n\n\n\nafter\n");
        assert_eq!(counts.get("pgp-private-key"), Some(&1));
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        let (out, _) = redact(&format!(
            "{body}\nMNi+Mq0CavLl6Vy6zEz3YWd9SnB1wd8o4lDa0ZxhaR5nbl6Wwd1p4oK3zE8fLm2Q\nAQAB==\ndone\n"
        ));
        assert_eq!(out, "<redacted:key:1>\n\n\ndone\n");
        // The same body in `docker logs -t` output.
        let stamped: String = format!("{body}\nMNi+Mq0CavLl6Vy6zEz3YWd9SnB1wd8o4lDa0ZxhaR5nbl6Wwd1p4oK3zE8fLm2Q\nAQAB==\ndone\n")
            .lines()
            .map(|l| format!("2026-12-01T01:44:20.123456789Z {l}\n"))
            .collect();
        let (out, _) = redact(&stamped);
        assert_eq!(
            out,
            "2026-12-01T01:44:20.123456789Z <redacted:key:1>\n2026-12-01T01:44:20.123456789Z \n\
             2026-12-01T01:44:20.123456789Z \n2026-12-01T01:44:20.123456789Z done\n"
        );
        let (out, _) =
            redact("db:\n  password: |\n    Green kites\n    over harbour\n  user: wa\n");
        assert!(
            !out.contains("kites") && !out.contains("harbour") && out.contains("user: wa"),
            "{out}"
        );
    }

    #[test]
    fn pgpass_files_by_name() {
        let mut r = Redactor::new(ALL, &[], &[]).unwrap();
        r.begin_file("include/root_.pgpass");
        let mut out = Vec::new();
        r.stream(
            &mut &b"# comment\ndb.internal:5432:waent:wa:Pg\\:pass word\n"[..],
            &mut out,
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# comment\ndb.internal:5432:waent:wa:<redacted:password:1>\n"
        );
    }

    #[test]
    fn personal_data_switches() {
        let text = "mail ops@example.com call +44 20 7946 0958\n";
        let mut r = Redactor::new(
            PersonalData {
                phones: false,
                emails: false,
            },
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(
            r.line(text.trim_end().as_bytes()),
            text.trim_end().as_bytes()
        );
        let (out, counts) = redact(text);
        assert_eq!(out, "mail <redacted:email:1> call <redacted:phone:1>\n");
        assert_eq!(
            (counts.get("email"), counts.get("msisdn")),
            (Some(&1), Some(&1))
        );
    }

    #[test]
    fn custom_rules() {
        let custom = vec![
            CustomRule {
                name: "hostname".into(),
                literal: Some("prod-db-7.corp".into()),
                regex: None,
            },
            CustomRule {
                name: "ticket".into(),
                literal: None,
                regex: Some(r"TICKET-(\d+)".into()),
            },
        ];
        let mut r = Redactor::new(PersonalData::default(), &[], &custom).unwrap();
        let out = r.line(b"prod-db-7.corp down, see TICKET-4411");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<redacted:hostname:1> down, see TICKET-<redacted:ticket:1>"
        );
        let bad = vec![CustomRule {
            name: "x".into(),
            literal: None,
            regex: Some("(".into()),
        }];
        assert!(Redactor::new(PersonalData::default(), &[], &bad).is_err());
    }
}
