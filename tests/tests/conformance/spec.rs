//! What docs/PROTOCOL.md promises, read out of its own text, so the test follows
//! the spec instead of a copy of it: §4's error table, §5's API table, the codes
//! each API's response lists on its `error_code` lines, and §3's whole-request
//! refusals. A spec edit that this reader no longer understands fails loudly.

use std::collections::{BTreeMap, BTreeSet};

/// The wire spec, as the repository has it.
pub const PROTOCOL_MD: &str = include_str!("../../../docs/PROTOCOL.md");
/// The storage spec (the record batch of STORAGE.md §2–3).
pub const STORAGE_MD: &str = include_str!("../../../docs/STORAGE.md");

/// One API of §5's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Its name, e.g. "Produce".
    pub name: String,
    /// The versions the table gives, lowest and highest.
    pub versions: (i16, i16),
}

/// What the spec promises.
#[derive(Debug, Clone)]
pub struct Spec {
    /// §4: code → (name, meaning).
    pub errors: BTreeMap<i16, (String, String)>,
    /// §5's table: api_key → API.
    pub apis: BTreeMap<i16, Api>,
    /// (api_key, code) for every code on an `error_code` line of an API's response.
    pub listed: BTreeSet<(i16, i16)>,
    /// The codes §3 says refuse a whole request.
    pub refusals: BTreeSet<i16>,
    /// The APIs §3 says refuse a whole request naming an over-long topic.
    pub long_name_apis: BTreeSet<i16>,
    /// The code of that refusal.
    pub long_name_code: i16,
    /// The broker's default limit on a topic name's length, in bytes.
    pub name_limit: usize,
}

/// Reads the promises out of `doc` (PROTOCOL.md's text).
pub fn parse(doc: &str) -> Spec {
    let errors = error_table(section(doc, "## 4."));
    let apis = api_table(section(doc, "## 5."));
    let listed = listed_codes(doc, &apis, &errors);
    let s3 = flatten(section(doc, "## 3."));
    let refusals = refusal_codes(&s3, &errors);
    let (long_name_apis, long_name_code) = long_name_rule(&s3, &apis);
    let name_limit = between(&s3, "limit (", " bytes by default)")
        .parse()
        .expect("§3 gives the default topic name limit as \"limit (N bytes by default)\"");
    Spec {
        errors,
        apis,
        listed,
        refusals,
        long_name_apis,
        long_name_code,
        name_limit,
    }
}

impl Spec {
    /// The api_key of the API called `name` in §5's table.
    pub fn key(&self, name: &str) -> i16 {
        self.apis
            .iter()
            .find(|(_, api)| api.name == name)
            .map(|(key, _)| *key)
            .unwrap_or_else(|| panic!("§5's table has no API {name:?}"))
    }

    /// "Produce (0)" for messages.
    pub fn api_name(&self, key: i16) -> String {
        match self.apis.get(&key) {
            Some(api) => format!("{} ({key})", api.name),
            None => format!("api_key {key}"),
        }
    }

    /// "45 OUT_OF_ORDER_SEQUENCE_NUMBER" for messages.
    pub fn code_name(&self, code: i16) -> String {
        match self.errors.get(&code) {
            Some((name, _)) => format!("{code} {name}"),
            None => format!("{code} (not in §4)"),
        }
    }
}

/// The lines of the section whose heading starts with `heading` (e.g. "## 4."),
/// up to the next heading of the same or a higher level.
pub fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = line_starts(doc)
        .find(|&i| doc[i..].starts_with(heading))
        .unwrap_or_else(|| panic!("the spec has no heading {heading:?}"));
    let body_start = start + doc[start..].find('\n').map_or(doc.len() - start, |n| n + 1);
    let end = line_starts(doc)
        .filter(|&i| i >= body_start)
        .find(|&i| {
            let hashes = doc[i..].chars().take_while(|c| *c == '#').count();
            hashes > 0 && hashes <= level && doc[i + hashes..].starts_with(' ')
        })
        .unwrap_or(doc.len());
    &doc[start..end]
}

fn line_starts(doc: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(doc.match_indices('\n').map(|(i, _)| i + 1))
}

/// The section's text on one line, runs of whitespace made single spaces.
fn flatten(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text between the first `before` and the next `after`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text
        .find(before)
        .unwrap_or_else(|| panic!("the spec no longer says {before:?}"))
        + before.len();
    let len = text[start..]
        .find(after)
        .unwrap_or_else(|| panic!("the spec no longer says {after:?} after {before:?}"));
    &text[start..start + len]
}

/// An integer as the spec writes it (with "−", U+2212, for minus).
fn number(text: &str) -> Option<i16> {
    text.trim().replace('−', "-").parse().ok()
}

/// The cells of a Markdown table row, or `None` for other lines.
fn cells(line: &str) -> Option<Vec<&str>> {
    let line = line.trim();
    let inner = line.strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

fn error_table(s4: &str) -> BTreeMap<i16, (String, String)> {
    let mut errors = BTreeMap::new();
    for row in s4.lines().filter_map(cells) {
        if let (Some(code), [_, name, meaning]) = (number(row[0]), row.as_slice()) {
            errors.insert(code, (name.to_string(), meaning.to_string()));
        }
    }
    assert!(errors.len() > 10, "§4's table was not found: {errors:?}");
    errors
}

fn api_table(s5: &str) -> BTreeMap<i16, Api> {
    let table = &s5[..s5.find("### ").unwrap_or(s5.len())];
    let mut apis = BTreeMap::new();
    for row in table.lines().filter_map(cells) {
        if let (Some(key), [_, name, versions]) = (number(row[0]), row.as_slice()) {
            let range: Vec<i16> = versions
                .split(['–', '-', '.'])
                .filter(|v| !v.is_empty())
                .map(|v| number(v).expect("§5's versions column holds numbers"))
                .collect();
            let versions = match range.as_slice() {
                [v] => (*v, *v),
                [lo, hi] => (*lo, *hi),
                _ => panic!("§5: cannot read versions {versions:?}"),
            };
            apis.insert(
                key,
                Api {
                    name: name.to_string(),
                    versions,
                },
            );
        }
    }
    assert!(apis.len() > 5, "§5's table was not found: {apis:?}");
    apis
}

/// Every (api_key, code) on an `error_code` line in the code blocks of §5.N.
fn listed_codes(
    doc: &str,
    apis: &BTreeMap<i16, Api>,
    errors: &BTreeMap<i16, (String, String)>,
) -> BTreeSet<(i16, i16)> {
    let mut listed = BTreeSet::new();
    let mut described = BTreeSet::new();
    for heading in doc.lines().filter(|l| l.starts_with("### 5.")) {
        let name = heading
            .split_whitespace()
            .nth(2)
            .expect("a §5.N heading names its API");
        let key = number(between(heading, "(", ")"))
            .unwrap_or_else(|| panic!("{heading:?} gives no api_key in parentheses"));
        let api = apis
            .get(&key)
            .unwrap_or_else(|| panic!("{heading:?}: api_key {key} is not in §5's table"));
        assert_eq!(api.name, name, "{heading:?} and §5's table disagree");
        described.insert(key);
        let mut in_code = false;
        for line in section(doc, heading).lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            let mut words = line.split_whitespace();
            if !in_code || words.next() != Some("error_code") {
                continue;
            }
            assert_eq!(words.next(), Some("int16"), "{heading}: {line:?}");
            let comment: String = words.collect::<Vec<_>>().join(" ");
            for token in comment
                .split(|c: char| !(c.is_ascii_digit() || c == '-' || c == '−'))
                .filter(|t| !t.is_empty())
            {
                let code = number(token)
                    .unwrap_or_else(|| panic!("{heading}: cannot read {token:?} in {line:?}"));
                assert!(
                    errors.contains_key(&code),
                    "{heading} lists code {code}, which §4's table lacks"
                );
                listed.insert((key, code));
            }
        }
    }
    let tabled: BTreeSet<i16> = apis.keys().copied().collect();
    assert_eq!(described, tabled, "§5's table and its subsections differ");
    listed
}

/// Every "N `NAME`" in §3: the codes that refuse a whole request.
fn refusal_codes(s3: &str, errors: &BTreeMap<i16, (String, String)>) -> BTreeSet<i16> {
    let mut codes = BTreeSet::new();
    let quoted: Vec<&str> = s3.split('`').collect();
    // Odd pieces are inside backticks.
    for pair in quoted.windows(2).step_by(2) {
        let (before, name) = (pair[0], pair[1]);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue;
        }
        let code = before
            .trim_end()
            .rsplit(|c: char| c.is_whitespace() || c == '(')
            .next()
            .and_then(number)
            .unwrap_or_else(|| panic!("§3 names `{name}` without a code before it"));
        let in_table = errors.get(&code).map(|(n, _)| n.as_str());
        assert_eq!(in_table, Some(name), "§3 calls {code} `{name}`");
        codes.insert(code);
    }
    assert!(!codes.is_empty(), "§3 names no refusal codes");
    codes
}

/// The APIs of §3's "a topic name longer than the broker's limit (N bytes by
/// default) anywhere in a A, B or C request (CODE …)" rule, and CODE: every §5
/// API named between the limit and the parenthesis, and the number after it.
fn long_name_rule(s3: &str, apis: &BTreeMap<i16, Api>) -> (BTreeSet<i16>, i16) {
    let marker = " bytes by default)";
    let start = s3
        .find(marker)
        .expect("§3 gives the topic name limit \"(N bytes by default)\"")
        + marker.len();
    let open = s3[start..]
        .find(" (")
        .expect("§3 gives the over-long name's code in parentheses")
        + start;
    let keys: BTreeSet<i16> = s3[start..open]
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| apis.iter().find(|(_, api)| api.name == word))
        .map(|(key, _)| *key)
        .collect();
    assert!(
        !keys.is_empty(),
        "§3 names no API for over-long topic names"
    );
    let code = number(s3[open + 2..].split_whitespace().next().unwrap_or(""))
        .expect("§3 gives the over-long name's code first in its parenthesis");
    (keys, code)
}
