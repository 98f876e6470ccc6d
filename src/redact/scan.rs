//! The patterns of one line: where a secret's value starts and ends, for every form the
//! redactor knows. Each pattern is a small hand-written parser started at a trigger word the
//! block-wide automaton found (`pass`, `://`, `eyJ`, `+`, `@`, …), so a line costs one pass
//! of the automaton plus a few bytes of parsing at each trigger, never a regex tried per rule.
//!
//! Values of secret-named keys run to the end of the line (respecting quotes: JSON, single
//! quotes, Python repr, JSON escaped inside JSON), except where the syntax ends them sooner:
//! another `NAME=` on a key=value log line, `&` in a query string, `;` in a connection
//! string, the closing quote of the string the pair sits in, or the end of a shell word for
//! flags.

use base64::Engine;
use memchr::memmem;

use super::known::{self, Form};
use crate::secret::names::{self, Kind};

/// What a trigger word starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A word of a secret-looking name (`pass`, `Token`, `KEY`, …).
    Name,
    /// A field that holds a phone number in WhatsApp payloads (`wa_id`, `"from"`).
    PhoneName,
    Bearer,
    Url,
    Jwt,
    PemKey,
    KeyBody,
    Aws,
    Identified,
    Mysql,
    Login,
    Sshpass,
    RedisCli,
    Curl,
    Lftp,
    Plus,
    At,
    /// Nothing to parse: the line may hold a known secret, as it is or encoded.
    Known,
}

/// The trigger words, case-sensitive (the automaton stays on its fast SIMD path that way):
/// names in lower, UPPER and Capitalised spelling cover snake, kebab, camel and Pascal case.
/// Kept under about 56 words: past that the prefilter's buckets fill and ordinary lines get
/// several times slower.
pub(crate) fn triggers() -> Vec<(Vec<u8>, Trigger)> {
    let mut out = Vec::new();
    for w in [
        "pass",
        "pwd",
        "secret",
        "token",
        "credential",
        "creds",
        "key",
        "auth",
        "cookie",
        "sess",
    ] {
        let mut cap = w.to_string();
        cap[..1].make_ascii_uppercase();
        for v in [w.to_string(), w.to_ascii_uppercase(), cap] {
            // An upper-case COOKIE names no header.
            if v != "COOKIE" {
                out.push((v.into_bytes(), Trigger::Name));
            }
        }
    }
    let fixed: &[(&str, Trigger)] = &[
        ("bearer", Trigger::Bearer),
        ("Bearer", Trigger::Bearer),
        ("identified", Trigger::Identified),
        ("IDENTIFIED", Trigger::Identified),
        ("wa_id", Trigger::PhoneName),
        ("recipient_id", Trigger::PhoneName),
        ("phone", Trigger::PhoneName),
        ("msisdn", Trigger::PhoneName),
        ("\"from\"", Trigger::PhoneName),
        ("\"to\"", Trigger::PhoneName),
        ("from\\\"", Trigger::PhoneName),
        ("to\\\"", Trigger::PhoneName),
        ("://", Trigger::Url),
        ("eyJ", Trigger::Jwt),
        ("PRIVATE KEY", Trigger::PemKey),
        ("MII", Trigger::KeyBody),
        ("MIG", Trigger::KeyBody),
        ("MHc", Trigger::KeyBody),
        ("mysql", Trigger::Mysql),
        ("mariadb", Trigger::Mysql),
        ("login", Trigger::Login),
        ("sshpass", Trigger::Sshpass),
        ("redis-cli", Trigger::RedisCli),
        ("curl", Trigger::Curl),
        ("lftp", Trigger::Lftp),
        ("AKIA", Trigger::Aws),
        ("ASIA", Trigger::Aws),
    ];
    for (w, t) in fixed {
        out.push((w.as_bytes().to_vec(), *t));
    }
    out
}

/// The built-in rules, as the manifest counts them (known secrets add `known-KIND[-FORM]`).
pub(crate) const RULES: &[&str] = &[
    "secret-assignment",
    "secret-json-field",
    "secret-flag",
    "sql-password",
    "command-password",
    "netrc-password",
    "pgpass",
    "cookie",
    "url-password",
    "authorization-header",
    "bearer-token",
    "jwt",
    "pem-private-key",
    "pgp-private-key",
    "private-key-body",
    "aws-access-key-id",
];

/// The personal-data rules, on by default (phones; e-mail addresses).
pub(crate) const PHONE_RULES: &[&str] = &["msisdn", "wa-id", "wa-id-field"];
pub(crate) const EMAIL_RULES: &[&str] = &["email"];

/// What replaces a span.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// A placeholder of `kind`, counted under the rule's name.
    Pattern(&'static str, Kind),
    /// A placeholder for known secret `.0`, found in form `.1`.
    Known(usize, Form),
    /// Nothing: the line is part of a block already replaced (a PEM key's body).
    Drop,
    /// Nothing replaced; the secret is only remembered (a Basic credential's password).
    Learn(Kind),
}

/// One secret in a line.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub rule: Rule,
    /// The secret as programs use it (unescaped, decoded); None: the span's own bytes.
    pub secret: Option<Vec<u8>>,
    /// Remember the secret, to replace it wherever else it appears.
    pub learn: bool,
}

impl Span {
    fn new(
        start: usize,
        end: usize,
        rule: &'static str,
        kind: Kind,
        secret: Option<Vec<u8>>,
        learn: bool,
    ) -> Span {
        Span {
            start,
            end,
            rule: Rule::Pattern(rule, kind),
            secret,
            learn,
        }
    }
}

/// A block that spans lines, carried from one line to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Inside an armoured private key, until its END line.
    KeyBlock,
    /// Lines of base64 that continue an unarmoured key body whose lines are `width` long
    /// (a shorter one is its last).
    BareKey { width: usize },
    /// A YAML block scalar (`password: |`): lines indented deeper than `indent`.
    YamlBlock { indent: usize, kind: Kind },
}

/// The line patterns with their switches.
pub(crate) struct Scanner {
    pub phones: bool,
    pub emails: bool,
    /// Names already judged: logs repeat the same few names on line after line.
    names: super::FastMap<Vec<u8>, NameInfo>,
}

/// What a name says about its value.
#[derive(Debug, Clone, Copy)]
struct NameInfo {
    kind: Option<Kind>,
    /// The value is a cookie header's (`Some(true)`: `Set-Cookie`, only its first pair).
    cookie: Option<bool>,
    authorization: bool,
}

impl NameInfo {
    fn of(name: &[u8]) -> NameInfo {
        let split = names::Words::of(name);
        let list = split.list();
        let words = &list[..split.len()];
        let last = words.last().copied().unwrap_or("");
        NameInfo {
            kind: names::kind_of(words),
            cookie: matches!(last, "cookie" | "cookies").then(|| words.first() == Some(&"set")),
            authorization: last == "authorization",
        }
    }
}

/// Judged names kept at most; past it the cache starts over.
const NAME_CACHE: usize = 4096;

impl Scanner {
    pub(crate) fn new(phones: bool, emails: bool) -> Scanner {
        Scanner {
            phones,
            emails,
            names: super::FastMap::default(),
        }
    }

    /// The spans of line `t` given its triggers (positions in `t`, sorted); the state the
    /// line leaves for the next one, if it opens a block.
    pub(crate) fn spans(
        &mut self,
        t: &[u8],
        hits: &[(usize, Trigger)],
        out: &mut Vec<Span>,
    ) -> Option<State> {
        let mut done = 0;
        let mut state = None;
        let mut commands_seen = 0u8;
        for &(at, what) in hits {
            let next = match what {
                Trigger::Name | Trigger::PhoneName => self.name_value(t, at, &mut done, out),
                Trigger::Bearer => {
                    bearer(t, at, out);
                    self.name_value(t, at, &mut done, out)
                }
                Trigger::Url => {
                    url(t, at, out);
                    None
                }
                Trigger::Jwt => {
                    jwt(t, at, out);
                    None
                }
                Trigger::PemKey => pem(t, at, out),
                Trigger::KeyBody => key_body(t, at, out),
                Trigger::Aws => {
                    aws(t, at, out);
                    None
                }
                Trigger::Identified => {
                    self.identified(t, at, out);
                    None
                }
                Trigger::Mysql
                | Trigger::Login
                | Trigger::Sshpass
                | Trigger::RedisCli
                | Trigger::Curl
                | Trigger::Lftp => {
                    // Each command's options are read once a line, however often it is named.
                    let bit = 1u8 << (what as u8 - Trigger::Mysql as u8);
                    if commands_seen & bit == 0 {
                        commands_seen |= bit;
                        command(t, what, out);
                    }
                    if what == Trigger::Sshpass {
                        self.name_value(t, at, &mut done, out)
                    } else {
                        None
                    }
                }
                Trigger::Plus => {
                    if self.phones {
                        phone(t, at, out);
                    }
                    None
                }
                Trigger::At => {
                    self.at_sign(t, at, out);
                    None
                }
                Trigger::Known => None,
            };
            if next.is_some() {
                state = next;
            }
        }
        state
    }

    /// `NAME=value`, `NAME: value`, `"name": "value"`, `'name': 'value'`, `{\"name\":\"v\"}`,
    /// `"NAME=value"`, `--name value`, `--name=value`, `PASSWORD 'x'`, `PASSWORD('x')`,
    /// `<password>x</password>`, netrc's `password x`; `at` is inside the name.
    fn name_value(
        &mut self,
        t: &[u8],
        at: usize,
        done: &mut usize,
        out: &mut Vec<Span>,
    ) -> Option<State> {
        let at = (at..t.len()).find(|&i| t[i].is_ascii_alphanumeric())?;
        let mut s = at;
        while s > 0 && is_name_byte(t[s - 1]) {
            s -= 1;
        }
        let mut e = at;
        while e < t.len() && is_name_byte(t[e]) {
            e += 1;
        }
        if s < *done {
            return None;
        }
        *done = e;
        while e > s && matches!(t[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let dashes = t[s..e].iter().take_while(|b| **b == b'-').count();
        let ns = s + dashes;
        if ns >= e || t[..s].ends_with(b"<redacted:") {
            return None;
        }
        let name = &t[ns..e];
        let flag =
            dashes > 0 && (s == 0 || matches!(t[s - 1], b' ' | b'\t' | b'"' | b'\'' | b'[' | b','));
        let phone = self.phones && names::is_phone_name(name);
        let info = match self.names.get(name) {
            Some(info) => *info,
            None => {
                if self.names.len() >= NAME_CACHE {
                    self.names.clear();
                }
                let info = NameInfo::of(name);
                self.names.insert(name.to_vec(), info);
                info
            }
        };
        let kind = info
            .kind
            .or_else(|| (flag && names::is_password_flag(name)).then_some("password"));
        let Some(kind) = kind else {
            if phone {
                return self.phone_field(t, s, e, out);
            }
            openssl_pass(t, s, e, name, out);
            return None;
        };
        let in_string = in_double_quotes(&t[..s]);
        let quote_before = quote_before(t, s);
        // A cookie header's value is all its pairs; an Authorization value its scheme and
        // credentials: neither ends at the next `NAME=`.
        let whole = info.cookie.is_some() || info.authorization;
        let (vs, ve, quote, rule) = if let Some(q) = quote_before.filter(|q| q.at(t, e)) {
            // "name": value — a JSON, YAML, Python or JavaScript mapping.
            let i = skip_blank(t, e + q.len());
            let i = skip_blank(t, separator(t, i)?);
            if let Some(vq) = open_quote(t, i) {
                let vs = i + vq.len();
                (vs, close(t, vs, vq).0, Some(vq), "secret-json-field")
            } else {
                if matches!(t.get(i), None | Some(b'[' | b'{')) {
                    return None;
                }
                let mut ve = i + t[i..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b')' | b';'))
                    .unwrap_or(t.len() - i);
                ve = trim_end(t, i, ve);
                (i, ve, None, "secret-json-field")
            }
        } else if let Some(q) = quote_before.filter(|_| matches!(t.get(e), Some(b'=' | b':'))) {
            // "NAME=value" — an env array, a label, a quoted flag.
            let vs = skip_blank(t, e + 1);
            let rule = if flag {
                "secret-flag"
            } else {
                "secret-assignment"
            };
            (vs, close(t, vs, q).0, Some(q), rule)
        } else {
            let j = skip_blank(t, e);
            if let Some(k) = separator(t, j) {
                let k = skip_blank(t, k);
                let rule = if flag {
                    "secret-flag"
                } else {
                    "secret-assignment"
                };
                if let Some(vq) = open_quote(t, k) {
                    let vs = k + vq.len();
                    (vs, close(t, vs, vq).0, Some(vq), rule)
                } else if flag || after_option(t, s) {
                    // A shell word: `--password=x`, `docker run -e WA_DB_PASSWORD=x image`.
                    let (vs, ve) = bare_word(t, k, in_string);
                    (vs, ve, None, rule)
                } else {
                    if let Some(state) = yaml_block(t, k, kind) {
                        return Some(state);
                    }
                    let ve = if whole && !in_string {
                        trim_end(t, k, t.len())
                    } else {
                        bare_end(t, s, k, in_string)
                    };
                    (k, ve, None, rule)
                }
            } else if t.get(j) == Some(&b'(')
                && let Some(vq) = open_quote(t, skip_blank(t, j + 1))
            {
                // SET PASSWORD = PASSWORD('x')
                let vs = skip_blank(t, j + 1) + vq.len();
                (vs, close(t, vs, vq).0, Some(vq), "sql-password")
            } else if t.get(e) == Some(&b'>') && s > 0 && t[s - 1] == b'<' {
                // <password>x</password>
                let vs = e + 1;
                let ve = vs + memchr::memchr(b'<', &t[vs..]).unwrap_or(t.len() - vs);
                (vs, ve, None, "secret-assignment")
            } else if j > e && j < t.len() {
                if let Some(vq) = open_quote(t, j) {
                    // PASSWORD 'x' (PostgreSQL's CREATE ROLE … PASSWORD)
                    let vs = j + vq.len();
                    (vs, close(t, vs, vq).0, Some(vq), "sql-password")
                } else if flag && t[j] != b'-' {
                    let (vs, ve) = bare_word(t, j, in_string);
                    (vs, ve, None, "secret-flag")
                } else if names::is_password_flag(name) && netrc(t, s) {
                    let (vs, ve) = bare_word(t, j, in_string);
                    (vs, ve, None, "netrc-password")
                } else {
                    return None;
                }
            } else {
                return None;
            }
        };
        if vs >= ve {
            return None;
        }
        let raw = &t[vs..ve];
        if raw.starts_with(b"<redacted:") || innocent_value(raw) {
            return None;
        }
        if whole {
            // Names inside the value (`sessionid=` in a cookie) are part of it.
            *done = (*done).max(ve);
        }
        if info.authorization {
            authorization(t, vs, ve, quote, out);
            return None;
        }
        if let Some(set) = info.cookie {
            cookie(t, vs, ve, set, out);
            return None;
        }
        out.push(Span::new(vs, ve, rule, kind, unquote(raw, quote), true));
        None
    }

    /// `"wa_id": "14155550123"`: the digits of a phone number in a WhatsApp payload field.
    fn phone_field(&self, t: &[u8], s: usize, e: usize, out: &mut Vec<Span>) -> Option<State> {
        let q = quote_before(t, s)?;
        if !q.at(t, e) {
            return None;
        }
        let i = skip_blank(t, e + q.len());
        let i = skip_blank(t, separator(t, i)?);
        let vq = open_quote(t, i)?;
        let vs = i + vq.len();
        let (ve, _) = close(t, vs, vq);
        let ds = if t.get(vs) == Some(&b'+') { vs + 1 } else { vs };
        let n = ve.saturating_sub(ds);
        if (8..=15).contains(&n) && t[ds..ve].iter().all(u8::is_ascii_digit) {
            out.push(Span::new(ds, ve, "wa-id-field", "phone", None, false));
        }
        None
    }

    /// MySQL's `IDENTIFIED [WITH plugin] BY [PASSWORD] 'secret'` (or `AS 'hash'`).
    fn identified(&self, t: &[u8], at: usize, out: &mut Vec<Span>) {
        let word = |i: usize, w: &[u8]| {
            t.len() >= i + w.len()
                && t[i..i + w.len()].eq_ignore_ascii_case(w)
                && t.get(i + w.len())
                    .is_none_or(|b| !b.is_ascii_alphanumeric())
        };
        let blank = |i: usize| {
            t[i..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count()
        };
        let mut i = at + "identified".len();
        let n = blank(i);
        if n == 0 {
            return;
        }
        i += n;
        if word(i, b"with") {
            i += 4 + blank(i + 4);
            i += t[i..]
                .iter()
                .take_while(|b| !b.is_ascii_whitespace())
                .count();
            i += blank(i);
        }
        if word(i, b"by") || word(i, b"as") {
            i += 2;
        } else {
            return;
        }
        let n = blank(i);
        if n == 0 {
            return;
        }
        i += n;
        if word(i, b"password") {
            i += 8 + blank(i + 8);
            if t.get(i) == Some(&b'(') {
                i += 1 + blank(i + 1);
            }
        }
        let (vs, ve, quote) = match open_quote(t, i) {
            Some(q) if q.bs == 0 => (i + 1, close(t, i + 1, q).0, Some(q)),
            Some(_) => return,
            None => {
                let n = t[i..]
                    .iter()
                    .take_while(|b| !b.is_ascii_whitespace() && !matches!(b, b';' | b',' | b')'))
                    .count();
                (i, i + n, None)
            }
        };
        if vs >= ve || t[vs..].starts_with(b"<redacted:") {
            return;
        }
        out.push(Span::new(
            vs,
            ve,
            "sql-password",
            "password",
            unquote(&t[vs..ve], quote),
            true,
        ));
    }

    /// `@`: a WA ID (`14155550123@s.whatsapp.net`) or an e-mail address.
    fn at_sign(&self, t: &[u8], at: usize, out: &mut Vec<Span>) {
        let mut de = at + 1;
        while de < t.len() && (t[de].is_ascii_alphanumeric() || matches!(t[de], b'.' | b'-')) {
            de += 1;
        }
        while de > at + 1 && matches!(t[de - 1], b'.' | b'-') {
            de -= 1;
        }
        let domain = &t[at + 1..de];
        if domain == b"s.whatsapp.net" || domain == b"c.us" {
            let n = t[..at]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let ds = at - n;
            if self.phones
                && (10..=15).contains(&n)
                && (ds == 0 || !t[ds - 1].is_ascii_alphanumeric())
            {
                out.push(Span::new(ds, at, "wa-id", "phone", None, false));
            }
            return;
        }
        if !self.emails {
            return;
        }
        let mut ls = at;
        while ls > 0
            && (t[ls - 1].is_ascii_alphanumeric()
                || matches!(t[ls - 1], b'.' | b'_' | b'%' | b'+' | b'-'))
        {
            ls -= 1;
        }
        if ls == at || t[ls] == b'.' {
            return;
        }
        // user:password@host in a URL is not an address (mailto: is).
        if ls > 0 && matches!(t[ls - 1], b':' | b'/') && !t[..ls].ends_with(b"mailto:") {
            return;
        }
        let Some(dot) = memchr::memrchr(b'.', domain) else {
            return;
        };
        let tld = &domain[dot + 1..];
        if tld.len() < 2
            || !tld.iter().all(u8::is_ascii_alphabetic)
            || domain.first() == Some(&b'.')
            || memmem::find(domain, b"..").is_some()
        {
            return;
        }
        out.push(Span::new(ls, de, "email", "email", None, false));
    }
}

/// Lines inside a block a previous line opened. Returns whether the line was taken, and the
/// state for the next line.
pub(crate) fn state_line(state: State, t: &[u8], out: &mut Vec<Span>) -> (bool, Option<State>) {
    let drop = |start: usize, end: usize| Span {
        start,
        end,
        rule: Rule::Drop,
        secret: None,
        learn: false,
    };
    match state {
        State::KeyBlock => {
            if let Some(end) = memmem::find(t, b"-----END ")
                && memmem::find(&t[end..], b"PRIVATE KEY").is_some()
            {
                let close =
                    memmem::find(&t[end + 9..], b"-----").map_or(t.len(), |i| end + 9 + i + 5);
                out.push(drop(0, close));
                (true, None)
            } else {
                out.push(drop(0, t.len()));
                (true, Some(state))
            }
        }
        State::BareKey { width } => {
            // The body's next line, alone or after a log timestamp (`docker logs -t`).
            let (s, e) = trimmed(t);
            let body = memchr::memrchr2(b' ', b'\t', &t[s..e]).map_or(s, |i| s + i + 1);
            let prefix = t[s..body].trim_ascii_end();
            let stamp = prefix.is_empty()
                || (prefix[0].is_ascii_digit() && !prefix.iter().any(u8::is_ascii_whitespace));
            if stamp && body < e && e - body <= width && t[body..e].iter().all(|b| is_b64_std(*b)) {
                out.push(drop(body, t.len()));
                (true, (e - body == width).then_some(state))
            } else {
                (false, None)
            }
        }
        State::YamlBlock { indent, kind } => {
            let (s, e) = trimmed(t);
            if s == e {
                return (true, Some(state));
            }
            let ind = t.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
            if ind > indent {
                out.push(Span::new(s, e, "secret-assignment", kind, None, false));
                (true, Some(state))
            } else {
                (false, None)
            }
        }
    }
}

/// `.pgpass` lines (`host:port:database:user:password`): the password field.
pub(crate) fn pgpass(t: &[u8], out: &mut Vec<Span>) {
    if t.first() == Some(&b'#') {
        return;
    }
    let mut colons = 0;
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b'\\' => i += 2,
            b':' => {
                colons += 1;
                i += 1;
                if colons == 4 {
                    let end = trim_end(t, i, t.len());
                    if i < end {
                        let mut secret = Vec::new();
                        let mut j = i;
                        while j < end {
                            if t[j] == b'\\' && j + 1 < end {
                                j += 1;
                            }
                            secret.push(t[j]);
                            j += 1;
                        }
                        out.push(Span::new(i, end, "pgpass", "password", Some(secret), true));
                    }
                    return;
                }
            }
            _ => i += 1,
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn skip_blank(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && matches!(t[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// `end` moved back over trailing white space (not before `start`).
fn trim_end(t: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && t[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

fn trimmed(t: &[u8]) -> (usize, usize) {
    let s = t.iter().take_while(|b| b.is_ascii_whitespace()).count();
    (s, trim_end(t, s, t.len()))
}

/// A quote, possibly escaped `bs` times over (`\"` is JSON inside a JSON string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quote {
    ch: u8,
    bs: usize,
}

impl Quote {
    fn len(self) -> usize {
        self.bs + 1
    }
    /// Whether this quote (with its backslashes) stands at `i`.
    fn at(self, t: &[u8], i: usize) -> bool {
        t.len() > i + self.bs
            && t[i..i + self.bs].iter().all(|b| *b == b'\\')
            && t[i + self.bs] == self.ch
    }
}

/// The quote right before `s`, with the backslashes that escape it.
fn quote_before(t: &[u8], s: usize) -> Option<Quote> {
    let q = *t.get(s.checked_sub(1)?)?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let bs = t[..s - 1].iter().rev().take_while(|b| **b == b'\\').count();
    matches!(bs, 0 | 1 | 3 | 7).then_some(Quote { ch: q, bs })
}

/// A quote opening a value at `k`.
fn open_quote(t: &[u8], k: usize) -> Option<Quote> {
    let bs = t.get(k..)?.iter().take_while(|b| **b == b'\\').count();
    let ch = *t.get(k + bs)?;
    (matches!(ch, b'"' | b'\'') && matches!(bs, 0 | 1 | 3 | 7)).then_some(Quote { ch, bs })
}

/// Where a value quoted with `q`, starting at `i`, ends: the index of its closing quote
/// sequence and the index after it (the line's end when it is not closed on this line).
fn close(t: &[u8], i: usize, q: Quote) -> (usize, usize) {
    let mut j = i;
    while j < t.len() {
        let b = t[j];
        if b == b'\\' {
            let run = j;
            while j < t.len() && t[j] == b'\\' {
                j += 1;
            }
            let r = j - run;
            if j < t.len() && t[j] == q.ch {
                if q.bs == 0 {
                    if r.is_multiple_of(2) {
                        return (j, j + 1);
                    }
                } else if r % (2 * (q.bs + 1)) == q.bs {
                    return (j - q.bs, j + 1);
                } else if r < q.bs {
                    return (run, run);
                }
                j += 1;
            }
            continue;
        }
        if b == q.ch {
            if q.bs > 0 {
                // An unescaped quote closes the string this one is inside.
                return (j, j);
            }
            if q.ch == b'\'' && t.get(j + 1) == Some(&b'\'') && j > i {
                j += 2; // '' is a quote in YAML and SQL
                continue;
            }
            return (j, j + 1);
        }
        j += 1;
    }
    (t.len(), t.len())
}

/// The value as programs see it: quotes' escapes undone.
/// None when that is the raw value itself.
fn unquote(raw: &[u8], quote: Option<Quote>) -> Option<Vec<u8>> {
    let q = quote?;
    memchr::memchr2(b'\\', b'\'', raw)?;
    Some(unescape(raw, q))
}

fn unescape(raw: &[u8], q: Quote) -> Vec<u8> {
    let depth = (q.bs + 1).trailing_zeros() as usize;
    let mut v = raw.to_vec();
    for _ in 0..depth {
        v = known::json_unescape(&v);
    }
    if q.ch == b'"' {
        return known::json_unescape(&v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if (v[i] == b'\\' && matches!(v.get(i + 1), Some(b'\'' | b'\\')))
            || (v[i] == b'\'' && v.get(i + 1) == Some(&b'\''))
        {
            i += 1;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// `=`, `:`, `=>` or `:=` at `i` (not `==`, `::` or `://`); the index after it.
fn separator(t: &[u8], i: usize) -> Option<usize> {
    match t.get(i)? {
        b'=' => match t.get(i + 1) {
            Some(b'=') => None,
            Some(b'>') => Some(i + 2),
            _ => Some(i + 1),
        },
        b':' => match t.get(i + 1) {
            Some(b'=') => Some(i + 2),
            Some(b':') => None,
            Some(b'/') if t.get(i + 2) == Some(&b'/') => None,
            _ => Some(i + 1),
        },
        _ => None,
    }
}

/// Whether `t[..s]` ends inside a double-quoted string.
fn in_double_quotes(t: &[u8]) -> bool {
    let mut inside = false;
    let mut backslashes = 0;
    for &b in t {
        if b == b'"' && backslashes % 2 == 0 {
            inside = !inside;
        }
        backslashes = if b == b'\\' { backslashes + 1 } else { 0 };
    }
    inside
}

/// The end of an unquoted value starting at `vs` for the name starting at `s`: the end of
/// the line, or sooner where the syntax around says (see the module's documentation).
fn bare_end(t: &[u8], s: usize, vs: usize, in_string: bool) -> usize {
    let before = if s > 0 { t[s - 1] } else { b' ' };
    let end = if in_string {
        close(t, vs, Quote { ch: b'"', bs: 0 }).0
    } else if matches!(before, b'?' | b'&') {
        vs + t[vs..]
            .iter()
            .position(|b| matches!(b, b'&' | b'#' | b'"' | b'\'') || b.is_ascii_whitespace())
            .unwrap_or(t.len() - vs)
    } else if before == b';' {
        vs + memchr::memchr(b';', &t[vs..]).unwrap_or(t.len() - vs)
    } else {
        let mut end = t.len();
        let mut i = vs;
        while i < t.len() {
            if matches!(t[i], b' ' | b'\t') {
                let j = skip_blank(t, i);
                if next_pair(t, j) {
                    end = i;
                    break;
                }
                i = j;
            } else {
                i += 1;
            }
        }
        end
    };
    trim_end(t, vs, end)
}

/// Whether another `NAME=value` pair starts at `j` (logfmt, env dumps, libpq DSNs).
fn next_pair(t: &[u8], j: usize) -> bool {
    if !t
        .get(j)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return false;
    }
    let n = t[j..].iter().take_while(|b| is_name_byte(**b)).count();
    n >= 2 && t.get(j + n) == Some(&b'=') && t.get(j + n + 1) != Some(&b'=')
}

/// A shell word at `k`: quoted, or up to white space (or the end of the string it is in).
fn bare_word(t: &[u8], k: usize, in_string: bool) -> (usize, usize) {
    if let Some(q) = open_quote(t, k) {
        let vs = k + q.len();
        return (vs, close(t, vs, q).0);
    }
    let n = t[k..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || (in_string && matches!(b, b'"' | b'\\')))
        .unwrap_or(t.len() - k);
    (k, k + n)
}

/// Whether the word before the name at `s` is a command-line option (`-e`, `--env`,
/// `--build-arg`): the name and its value are then one shell word.
fn after_option(t: &[u8], s: usize) -> bool {
    let before = t[..s].trim_ascii_end();
    before.len() < s
        && before
            .rsplit(|b| b.is_ascii_whitespace())
            .next()
            .is_some_and(|w| {
                w.len() >= 2
                    && w[0] == b'-'
                    && w[1..]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            })
}

/// `password: |` — a YAML block scalar: its lines follow.
fn yaml_block(t: &[u8], k: usize, kind: Kind) -> Option<State> {
    let v = &t[k..trim_end(t, k, t.len())];
    let v = match memchr::memchr(b'#', v) {
        Some(i) => &v[..trim_end(v, 0, i)],
        None => v,
    };
    let block = matches!(v.first(), Some(b'|' | b'>'))
        && v.len() <= 3
        && v[1..]
            .iter()
            .all(|b| matches!(b, b'-' | b'+') || b.is_ascii_digit());
    block.then(|| State::YamlBlock {
        indent: t.iter().take_while(|b| matches!(b, b' ' | b'\t')).count(),
        kind,
    })
}

/// Values that say something about a secret rather than being one (`(using password: YES)`,
/// `password_set: true`) are left as they are.
fn innocent_value(raw: &[u8]) -> bool {
    let mut v = raw;
    while let Some((last, rest)) = v.split_last() {
        if matches!(last, b')' | b',' | b';' | b'.' | b']' | b'}' | b'"' | b'\'')
            || last.is_ascii_whitespace()
        {
            v = rest;
        } else {
            break;
        }
    }
    v.is_empty()
        || [
            &b"true"[..],
            b"false",
            b"yes",
            b"no",
            b"null",
            b"none",
            b"nil",
            b"on",
            b"off",
            b"enabled",
            b"disabled",
            b"required",
            b"optional",
            b"undefined",
        ]
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w))
}

/// netrc: `machine HOST login USER password SECRET`.
fn netrc(t: &[u8], s: usize) -> bool {
    let before = &t[..s];
    memmem::find(before, b"login ").is_some() || before.trim_ascii_start().starts_with(b"machine ")
}

/// OpenSSL's `-passin pass:SECRET` (and `-pass`, `-passout`).
fn openssl_pass(t: &[u8], s: usize, e: usize, name: &[u8], out: &mut Vec<Span>) {
    if name != b"pass" || t.get(e) != Some(&b':') {
        return;
    }
    let before = t[..s].trim_ascii_end();
    let flag = before
        .rsplit(|b| b.is_ascii_whitespace())
        .next()
        .unwrap_or(b"");
    if matches!(flag, b"-pass" | b"-passin" | b"-passout" | b"-passwd") {
        let (vs, ve) = bare_word(t, e + 1, in_double_quotes(&t[..s]));
        if vs < ve {
            out.push(Span::new(vs, ve, "secret-flag", "password", None, true));
        }
    }
}

/// `Authorization: Bearer X` / `Basic X` / `Digest …`: the credentials, not the scheme. A
/// Basic credential's password is remembered as well.
fn authorization(t: &[u8], vs: usize, ve: usize, quote: Option<Quote>, out: &mut Vec<Span>) {
    let raw = &t[vs..ve];
    let scheme = raw.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let after = skip_blank(raw, scheme);
    let (cs, ce, basic) = if scheme > 0 && after > scheme && after < raw.len() {
        let name = &raw[..scheme];
        let token68 = [
            &b"basic"[..],
            b"bearer",
            b"token",
            b"jwt",
            b"apikey",
            b"key",
        ]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
        if token68 {
            let end = after
                + raw[after..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(raw.len() - after);
            (after, end, name.eq_ignore_ascii_case(b"basic"))
        } else {
            (after, raw.len(), false)
        }
    } else {
        (0, raw.len(), false)
    };
    let cred = &raw[cs..ce];
    if cred.is_empty() || cred.starts_with(b"<redacted:") {
        return;
    }
    out.push(Span::new(
        vs + cs,
        vs + ce,
        "authorization-header",
        "token",
        unquote(cred, quote),
        true,
    ));
    if basic {
        learn_basic(cred, out);
    }
}

/// The password of a Basic credential (`base64(user:password)`), to remember.
fn learn_basic(cred: &[u8], out: &mut Vec<Span>) {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    if let Ok(plain) = engine.decode(cred)
        && let Some(colon) = memchr::memchr(b':', &plain)
        && colon + 1 < plain.len()
    {
        out.push(Span {
            start: 0,
            end: 0,
            rule: Rule::Learn("password"),
            secret: Some(plain[colon + 1..].to_vec()),
            learn: true,
        });
    }
}

/// `Cookie: a=1; sid=…` (every value) and `Set-Cookie: sid=…; Path=/` (the first).
fn cookie(t: &[u8], vs: usize, ve: usize, set: bool, out: &mut Vec<Span>) {
    let mut ps = vs;
    while ps < ve {
        let pe = ps + memchr::memchr(b';', &t[ps..ve]).unwrap_or(ve - ps);
        if let Some(eq) = memchr::memchr(b'=', &t[ps..pe]) {
            let mut s = ps + eq + 1;
            let mut e = trim_end(t, s, pe);
            if e > s + 1 && t[s] == b'"' && t[e - 1] == b'"' {
                s += 1;
                e -= 1;
            }
            if s < e && !t[s..e].starts_with(b"<redacted:") {
                out.push(Span::new(s, e, "cookie", "session", None, true));
            }
        }
        if set {
            break;
        }
        ps = pe + 1;
    }
}

/// `scheme://user:password@host`; a raw `/` or `@` in the password is allowed.
fn url(t: &[u8], at: usize, out: &mut Vec<Span>) {
    if at == 0 || !t[at - 1].is_ascii_alphanumeric() {
        return;
    }
    let s = at + 3;
    let end = s + t[s..]
        .iter()
        .position(|b| {
            b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\')
        })
        .unwrap_or(t.len() - s);
    let Some(colon) = memchr::memchr(b':', &t[s..end]).map(|i| s + i) else {
        return;
    };
    let user = &t[s..colon];
    if user.iter().any(|b| matches!(b, b'/' | b'?' | b'#' | b'@')) {
        return;
    }
    // The last `@` whose password part reads like one (not a query, a port and a path).
    for a in memchr::memrchr_iter(b'@', &t[colon..end]).map(|i| colon + i) {
        let pw = &t[colon + 1..a];
        if pw.is_empty()
            || pw.iter().any(|b| matches!(b, b'?' | b'#'))
            || memmem::find(pw, b"://").is_some()
            || pw.starts_with(b"<redacted:")
        {
            continue;
        }
        if let Some(slash) = memchr::memchr(b'/', pw)
            && slash > 0
            && pw[..slash].iter().all(u8::is_ascii_digit)
        {
            continue;
        }
        out.push(Span::new(
            colon + 1,
            a,
            "url-password",
            "password",
            Some(known::percent_decode(pw)),
            true,
        ));
        return;
    }
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// `bearer TOKEN` anywhere (`token=Bearer …`, `using bearer …`).
fn bearer(t: &[u8], at: usize, out: &mut Vec<Span>) {
    if at > 0 && t[at - 1].is_ascii_alphanumeric() {
        return;
    }
    let w = at + 6;
    if !t.get(w).is_some_and(|b| matches!(b, b' ' | b'\t')) {
        return;
    }
    let k = skip_blank(t, w);
    // token68: its characters, then only `=` padding, then not another token character.
    let body = t[k..]
        .iter()
        .take_while(|b| **b != b'=' && is_token68(**b))
        .count();
    let n = body + t[k + body..].iter().take_while(|b| **b == b'=').count();
    if t.get(k + n).is_some_and(|b| is_token68(*b)) {
        return;
    }
    if body >= 8 && !t[k..].starts_with(b"<redacted") {
        out.push(Span::new(k, k + n, "bearer-token", "token", None, true));
    }
}

fn is_b64_url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')
}

fn is_b64_std(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// A JSON Web Token (or a five-part JWE): `eyJ….eyJ….sig`.
fn jwt(t: &[u8], at: usize, out: &mut Vec<Span>) {
    if at > 0 && is_b64_url(t[at - 1]) {
        return;
    }
    let seg = |i: usize| i + t[i..].iter().take_while(|b| is_b64_url(**b)).count();
    let e1 = seg(at);
    if e1 - at < 4 || t.get(e1) != Some(&b'.') || !t[e1 + 1..].starts_with(b"eyJ") {
        return;
    }
    let e2 = seg(e1 + 1);
    if e2 - e1 < 5 || t.get(e2) != Some(&b'.') {
        return;
    }
    let mut end = seg(e2 + 1);
    while t.get(end) == Some(&b'.') && t.get(end + 1).is_some_and(|b| is_b64_url(*b)) {
        end = seg(end + 1);
    }
    out.push(Span::new(at, end, "jwt", "jwt", None, true));
}

/// An armoured private key (PEM, OpenSSH, PGP): on one line (a JSON string with `\n`
/// escapes) it is replaced whole; otherwise from its BEGIN line to its END line.
fn pem(t: &[u8], at: usize, out: &mut Vec<Span>) -> Option<State> {
    let begin = memmem::rfind(&t[..at], b"-----BEGIN ")?;
    if memmem::find(&t[begin..at], b"-----END ").is_some() {
        // The END marker of a key already replaced whole.
        return None;
    }
    let rule = if memmem::find(&t[begin..at], b"PGP").is_some() {
        "pgp-private-key"
    } else {
        "pem-private-key"
    };
    if let Some(end) = memmem::find(&t[at..], b"-----END ").map(|i| at + i) {
        let close = memmem::find(&t[end + 9..], b"-----").map_or(t.len(), |i| end + 9 + i + 5);
        out.push(Span::new(begin, close, rule, "key", None, false));
        return None;
    }
    out.push(Span::new(
        begin,
        t.len(),
        rule,
        "key",
        Some(t[begin..].to_vec()),
        false,
    ));
    Some(State::KeyBlock)
}

/// A private key's DER body in base64 without its armour (`MII…`): recognised by the DER
/// header of a private key (a SEQUENCE starting with version 0 or 1), so certificates and
/// public keys, which start differently, stay.
fn key_body(t: &[u8], at: usize, out: &mut Vec<Span>) -> Option<State> {
    if at > 0 && is_b64_std(t[at - 1]) && !t[..at].ends_with(b"\\n") {
        return None;
    }
    let mut end = at;
    let mut chars = 0;
    loop {
        let n = t[end..].iter().take_while(|b| is_b64_std(**b)).count();
        end += n;
        chars += n;
        if t[end..].starts_with(b"\\n") {
            end += 2;
        } else if t[end..].starts_with(b"\\r\\n") {
            end += 4;
        } else {
            break;
        }
    }
    if chars < 60 {
        return None;
    }
    let head: Vec<u8> = t[at..]
        .iter()
        .copied()
        .filter(|b| is_b64_std(*b))
        .take(16)
        .collect();
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&head)
        .ok()?;
    let c = match der.get(1)? {
        x if *x < 0x80 => 2,
        0x81 => 3,
        0x82 => 4,
        _ => return None,
    };
    if der[0] != 0x30
        || der
            .get(c..c + 3)
            .is_none_or(|v| v[0] != 2 || v[1] != 1 || v[2] > 1)
    {
        return None;
    }
    out.push(Span::new(at, end, "private-key-body", "key", None, false));
    // Wrapped at the end of this line: the next lines may continue it.
    (t[end..].iter().all(u8::is_ascii_whitespace) && end - at == chars)
        .then_some(State::BareKey { width: chars })
}

/// AWS access key ids: long-term (`AKIA…`) and temporary (`ASIA…`), 20 upper-case letters
/// and digits.
fn aws(t: &[u8], at: usize, out: &mut Vec<Span>) {
    let e = at + 20;
    if (at > 0 && t[at - 1].is_ascii_alphanumeric())
        || e > t.len()
        || !t[at + 4..e]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || t.get(e).is_some_and(u8::is_ascii_alphanumeric)
    {
        return;
    }
    out.push(Span::new(at, e, "aws-access-key-id", "key", None, true));
}

/// Passwords in command lines: `mysql -pSECRET`, `docker login -p SECRET`, `sshpass -p
/// SECRET`, `redis-cli -a SECRET`, `curl -u user:SECRET`, `lftp -u user,SECRET`.
fn command(t: &[u8], what: Trigger, out: &mut Vec<Span>) {
    let mut push = |vs: usize, ve: usize, split: Option<u8>| {
        let vs = match split {
            Some(sep) => match memchr::memchr(sep, &t[vs..ve]) {
                Some(i) => vs + i + 1,
                None => return,
            },
            None => vs,
        };
        if vs < ve && !t[vs..].starts_with(b"<redacted:") {
            out.push(Span::new(
                vs,
                ve,
                "command-password",
                "password",
                None,
                true,
            ));
        }
    };
    match what {
        Trigger::Mysql => option_values(t, b"-p", true, false, &mut |s, e| push(s, e, None)),
        Trigger::Login => {
            let tools = [
                &b"docker login"[..],
                b"podman login",
                b"nerdctl login",
                b"buildah login",
                b"skopeo login",
                b"registry login",
                b"helm login",
            ];
            if tools.iter().any(|tool| memmem::find(t, tool).is_some()) {
                option_values(t, b"-p", true, true, &mut |s, e| push(s, e, None));
            }
        }
        Trigger::Sshpass => option_values(t, b"-p", true, true, &mut |s, e| push(s, e, None)),
        Trigger::RedisCli => option_values(t, b"-a", true, true, &mut |s, e| push(s, e, None)),
        Trigger::Curl => {
            for opt in [&b"-u"[..], b"--user", b"-U", b"--proxy-user"] {
                option_values(t, opt, opt.len() == 2, true, &mut |s, e| {
                    push(s, e, Some(b':'))
                });
            }
        }
        Trigger::Lftp => option_values(t, b"-u", true, true, &mut |s, e| push(s, e, Some(b','))),
        _ => {}
    }
}

/// Each value of option `opt` on a command line: `-pX` (when `attached`), `--opt=X`,
/// `-p X` (when `spaced`).
fn option_values(
    t: &[u8],
    opt: &[u8],
    attached: bool,
    spaced: bool,
    each: &mut dyn FnMut(usize, usize),
) {
    // Options are short: looking at each `-` beats building a searcher per line.
    for x in memchr::memchr_iter(b'-', t) {
        if !t[x..].starts_with(opt) {
            continue;
        }
        if x > 0 && !matches!(t[x - 1], b' ' | b'\t' | b'"' | b'\'' | b'[' | b',') {
            continue;
        }
        let a = x + opt.len();
        let in_string = in_double_quotes(&t[..x]);
        let k = match t.get(a) {
            Some(b'=') if opt.starts_with(b"--") => a + 1,
            Some(b' ' | b'\t') if spaced => {
                let k = skip_blank(t, a);
                if k >= t.len() || t[k] == b'-' {
                    continue;
                }
                k
            }
            Some(c)
                if attached
                    && opt.len() == 2
                    && !c.is_ascii_whitespace()
                    && !(in_string && matches!(c, b'"' | b'\\')) =>
            {
                a
            }
            _ => continue,
        };
        let (vs, ve) = bare_word(t, k, in_string);
        if vs < ve {
            each(vs, ve);
        }
    }
}

/// `+`: an E.164 phone number, however written: `+14155550123`, `+44 20 7946 0958`,
/// `+1 (555) 010-2345`, `+91-98765-43210`, `+44.20.7946.0958`. Timestamps (`+00:00`), dates,
/// versions and addresses next to a number are not taken for its digits.
fn phone(t: &[u8], at: usize, out: &mut Vec<Span>) {
    if at > 0 && (t[at - 1].is_ascii_alphanumeric() || matches!(t[at - 1], b'+' | b'_')) {
        return;
    }
    if !t.get(at + 1).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return;
    }
    // (end, digits so far) after each group of digits.
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut digits = 0;
    let mut i = at + 1;
    loop {
        let mut j = i;
        let paren = t.get(j) == Some(&b'(');
        if paren {
            j += 1;
        }
        let ds = j;
        while j < t.len() && t[j].is_ascii_digit() {
            j += 1;
        }
        if j == ds || (paren && t.get(j) != Some(&b')')) {
            break;
        }
        digits += j - ds;
        if paren {
            j += 1;
        }
        if digits > 15 {
            break;
        }
        ends.push((j, digits));
        match t.get(j) {
            Some(b' ' | b'-' | b'.')
                if t.get(j + 1)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'(') =>
            {
                i = j + 1
            }
            Some(b'(') => i = j,
            Some(b) if paren && b.is_ascii_digit() => i = j,
            _ => break,
        }
    }
    // A group cut out of something else (an address, a time) is not part of the number.
    while let Some(&(end, _)) = ends.last() {
        let next = t.get(end).copied();
        let then_digit = t.get(end + 1).is_some_and(u8::is_ascii_digit);
        if next == Some(b':')
            || (matches!(next, Some(b'.' | b'-' | b'/')) && then_digit)
            || next.is_some_and(|b| b.is_ascii_digit())
        {
            ends.pop();
        } else {
            break;
        }
    }
    let Some(&(end, digits)) = ends.last() else {
        return;
    };
    if digits < 8 {
        return;
    }
    let body = &t[at + 1..end];
    let date = body.len() >= 10
        && body[4] == b'-'
        && body[7] == b'-'
        && body[..4].iter().all(u8::is_ascii_digit);
    if date {
        return;
    }
    let mut secret = vec![b'+'];
    secret.extend(body.iter().filter(|b| b.is_ascii_digit()));
    out.push(Span::new(at, end, "msisdn", "phone", Some(secret), false));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets of `line` as `rule=text` (positions from the triggers the real automaton
    /// would report).
    fn spans(line: &str) -> Vec<String> {
        let mut s = Scanner::new(true, true);
        let ac = aho_corasick::AhoCorasick::new(triggers().iter().map(|(w, _)| w)).unwrap();
        let kinds: Vec<Trigger> = triggers().iter().map(|(_, t)| *t).collect();
        let mut hits: Vec<(usize, Trigger)> = ac
            .find_iter(line.as_bytes())
            .map(|m| (m.start(), kinds[m.pattern().as_usize()]))
            .collect();
        for (i, b) in line.bytes().enumerate() {
            match b {
                b'+' => hits.push((i, Trigger::Plus)),
                b'@' => hits.push((i, Trigger::At)),
                _ => {}
            }
        }
        hits.sort_by_key(|h| h.0);
        let mut out = Vec::new();
        s.spans(line.as_bytes(), &hits, &mut out);
        out.iter()
            .filter(|s| s.start < s.end)
            .map(|sp| {
                let rule = match sp.rule {
                    Rule::Pattern(r, _) => r,
                    _ => "other",
                };
                format!("{rule}={}", &line[sp.start..sp.end])
            })
            .collect()
    }

    #[test]
    fn few_enough_triggers_for_the_fast_prefilter() {
        assert!(triggers().len() <= 56, "{}", triggers().len());
    }

    #[test]
    fn values_with_spaces_run_to_the_end_of_the_line() {
        assert_eq!(
            spans("WA_DB_PASSWORD=Green kites over harbour"),
            ["secret-assignment=Green kites over harbour"]
        );
        assert_eq!(
            spans("password = Green kites over harbour  "),
            ["secret-assignment=Green kites over harbour"]
        );
        assert_eq!(
            spans("ldap_default_authtok = Green kites over harbour"),
            ["secret-assignment=Green kites over harbour"]
        );
        assert_eq!(
            spans("export WA_DB_PASSWORD=\"Green kites\" # db"),
            ["secret-assignment=Green kites"]
        );
        // Another pair on a key=value log line ends the value.
        assert_eq!(
            spans("cfg WA_DB_HOSTNAME=db WA_DB_PASSWORD=hunter2 not real WA_DB_PORT=3306"),
            ["secret-assignment=hunter2 not real"]
        );
        assert_eq!(
            spans("GET /x?user=wa&password=p%40ss&x=1 HTTP/1.1"),
            ["secret-assignment=p%40ss"]
        );
        assert_eq!(
            spans("Server=db;User Id=wa;Password=my pass;Database=w"),
            ["secret-assignment=my pass"]
        );
    }

    #[test]
    fn names_in_every_case_style_and_quoting() {
        for (line, want) in [
            ("dbPassword: Sky-blue-42", "Sky-blue-42"),
            ("  rootPassword: 'Sky blue 42'", "Sky blue 42"),
            (
                "{\"waSecret\": \"Sky-blue-42\", \"user\": \"wa\"}",
                "Sky-blue-42",
            ),
            ("DB_PASSWD=Sky-blue-42", "Sky-blue-42"),
            ("{'apiToken': 'Sky-blue-42', 'x': 1}", "Sky-blue-42"),
            ("clientSecret => 'Sky-blue-42'", "Sky-blue-42"),
            (
                "{\"msg\": \"{\\\"password\\\":\\\"Sky-blue-42\\\"}\"}",
                "Sky-blue-42",
            ),
            (
                "\"Env\": [\"WA_DB_PASSWORD=Sky blue 42\", \"X=1\"]",
                "Sky blue 42",
            ),
            ("com.example.db.password=Sky-blue-42", "Sky-blue-42"),
            ("X-Api-Key: Sky-blue-42", "Sky-blue-42"),
            ("MYSQL_PWD=Sky-blue-42", "Sky-blue-42"),
            ("<password>Sky-blue-42</password>", "Sky-blue-42"),
            ("ALTER ROLE wa WITH PASSWORD 'Sky-blue-42';", "Sky-blue-42"),
            (
                "machine api.example.com login wa password Sky-blue-42",
                "Sky-blue-42",
            ),
        ] {
            let got = spans(line);
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert!(got[0].ends_with(&format!("={want}")), "{line}: {got:?}");
        }
        assert_eq!(
            spans(r#"{"pw": "x", "password": "pa\"ss", "n": 1}"#),
            [r#"secret-json-field=pa\"ss"#]
        );
    }

    #[test]
    fn innocent_lines_have_no_spans() {
        for line in [
            "the passenger used a compass to bypass the keyboard monkey",
            "tests passed: 12, pass: 12",
            "\"summary\": {\"pass\": 30, \"warn\": 2}",
            "Access denied for user 'wa'@'10.0.0.1' (using password: YES)",
            "\"password_set\": true, \"password_forbidden_chars\": [\"?\", \"{\"]",
            "\"user_auth_plugin\": \"mysql_native_password\"",
            "proxy_pass http://127.0.0.1:8080;",
            "2026-11-25T10:00:01+00:00 version 2.51.2 at 10.0.0.12:443",
            "id 550e8400-e29b-41d4-a716-446655440000 sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "image docker.whatsapp.biz/coreapp@sha256:abcd and https://host:8443/x?u=a@b",
            "PWD=/root OLDPWD=/ token_type=bearer password_file=/etc/pw",
            "-----BEGIN CERTIFICATE----- MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJRTESMBAGA1UE",
        ] {
            assert_eq!(spans(line), Vec::<String>::new(), "{line}");
        }
    }

    #[test]
    fn command_lines() {
        for (line, want) in [
            (
                "mysql -h db -u wa -pSky-blue-42 waent",
                "command-password=Sky-blue-42",
            ),
            (
                "mysqldump --password Sky-blue-42 waent",
                "secret-flag=Sky-blue-42",
            ),
            (
                "lftp --upload-pass Sky-blue-42 host",
                "secret-flag=Sky-blue-42",
            ),
            (
                "curl -u wa:Sky-blue-42 https://x",
                "command-password=Sky-blue-42",
            ),
            (
                "curl --user 'wa:Sky blue 42' https://x",
                "command-password=Sky blue 42",
            ),
            (
                "docker login -u wa -p Sky-blue-42 registry",
                "command-password=Sky-blue-42",
            ),
            (
                "sshpass -p 'Sky-blue-42' ssh host",
                "command-password=Sky-blue-42",
            ),
            (
                "redis-cli -a Sky-blue-42 ping",
                "command-password=Sky-blue-42",
            ),
            (
                "docker run -e WA_DB_PASSWORD=Sky-blue-42 coreapp:v2",
                "secret-assignment=Sky-blue-42",
            ),
            (
                "openssl rsa -passin pass:Sky-blue-42 -in k",
                "secret-flag=Sky-blue-42",
            ),
            (
                "CREATE USER 'wa'@'%' IDENTIFIED BY 'Sky''blue-42';",
                "sql-password=Sky''blue-42",
            ),
            (
                "ALTER USER wa IDENTIFIED WITH mysql_native_password BY \"Sky-blue-42\"",
                "sql-password=Sky-blue-42",
            ),
        ] {
            let got = spans(line);
            assert!(got.contains(&want.to_string()), "{line}: {got:?}");
        }
    }

    #[test]
    fn urls_tokens_and_keys() {
        assert_eq!(
            spans("dsn mysql://wa:pa/ss@db:3306/waent?x=a@b"),
            ["url-password=pa/ss"]
        );
        assert_eq!(
            spans("Authorization: Basic d2E6U2t5LWJsdWUtNDI= ok"),
            ["authorization-header=d2E6U2t5LWJsdWUtNDI="]
        );
        assert_eq!(
            spans("Cookie: theme=dark; sessionid=abc123def456"),
            ["cookie=dark", "cookie=abc123def456"]
        );
        assert_eq!(
            spans("Set-Cookie: JSESSIONID=abc123def456; Path=/; HttpOnly"),
            ["cookie=abc123def456"]
        );
        assert_eq!(
            spans("key AKIAIOSFODNN7EXAMPLE used"),
            ["aws-access-key-id=AKIAIOSFODNN7EXAMPLE"]
        );
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        assert_eq!(spans(body), [format!("private-key-body={body}")]);
        let one_line = "k '-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIB\\n-----END RSA PRIVATE KEY-----\\n' +14155550178";
        assert_eq!(
            spans(one_line),
            [
                "pem-private-key=-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIB\\n-----END RSA PRIVATE KEY-----",
                "msisdn=+14155550178"
            ]
        );
        let pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
        assert_eq!(spans(pgp), [format!("pgp-private-key={pgp}")]);
    }

    #[test]
    fn phones_and_addresses() {
        for (line, want) in [
            ("call +44 20 7946 0958 now", "+44 20 7946 0958"),
            ("call +1 (555) 010-2345.", "+1 (555) 010-2345"),
            ("call +91-98765-43210", "+91-98765-43210"),
            ("call +44.20.7946.0958", "+44.20.7946.0958"),
            ("to=+14155550123", "+14155550123"),
            ("+44 20 7946 0958 10:00:01", "+44 20 7946 0958"),
            ("+44 20 7946 0958 192.168.1.1", "+44 20 7946 0958"),
        ] {
            assert_eq!(spans(line), [format!("msisdn={want}")], "{line}");
        }
        for line in [
            "at 2026-11-25T10:00:01+00:00",
            "tz +0530",
            "v1.2.3+20260101",
            "+2026-11-25",
            "ip +10.0.0.1",
        ] {
            assert_eq!(spans(line), Vec::<String>::new(), "{line}");
        }
        assert_eq!(
            spans("mail ops.team@example.co.uk now"),
            ["email=ops.team@example.co.uk"]
        );
        assert_eq!(spans("mailto:ops@example.com"), ["email=ops@example.com"]);
        assert_eq!(spans("14155550123@s.whatsapp.net"), ["wa-id=14155550123"]);
    }
}
