//! Which error codes the cases provoked, and the comparison with what the spec
//! lists (see [`crate::spec`]): every API answered with success, every code an
//! API's response lists provoked on that API, every whole-request refusal of §3
//! provoked, and every code of §4 provoked somewhere or named in
//! [`NOT_PROVOKED`] with the spec's own reason. Both directions count: a code a
//! case provokes that the spec does not list for that API is a mismatch too.

use std::collections::BTreeSet;

use crate::spec::Spec;
use crate::wire::{ResponseHeader, Status};

/// §4 codes that no request is meant to provoke, each with words of its §4
/// meaning that say so (the comparison checks the words are there).
pub const NOT_PROVOKED: [(i16, &str); 5] = [
    (6, "only a clustered broker returns it"),
    (7, "only a clustered broker returns it"),
    (15, "reserved: not returned"),
    (46, "reserved: not returned"),
    (-1, "unexpected broker error"),
];

/// What the cases have provoked so far.
#[derive(Debug, Default)]
pub struct Coverage {
    /// (api_key, code) read from response bodies.
    entries: BTreeSet<(i16, i16)>,
    /// Codes of whole-request refusals (§3).
    refusals: BTreeSet<i16>,
    /// APIs refused whole for an over-long topic name.
    long_names: BTreeSet<i16>,
}

impl Coverage {
    /// Checks that an entry of an `api` response carries `want` (and a message if
    /// it is an error), and records it.
    pub fn entry(&mut self, api: i16, case: &str, got: &Status, want: i16) {
        assert_eq!(
            got.code, want,
            "api {api}, {case}: error_code (message {:?})",
            got.message
        );
        if want != 0 {
            assert!(
                got.message.as_deref().is_some_and(|m| !m.is_empty()),
                "api {api}, {case}: error {want} without an error_message"
            );
        }
        self.entries.insert((api, want));
    }

    /// Checks and records code `got` of an `api` response entry whose layout has no
    /// `error_message` (Metadata's partitions).
    pub fn code_entry(&mut self, api: i16, case: &str, got: i16, want: i16) {
        assert_eq!(got, want, "api {api}, {case}: error_code");
        self.entries.insert((api, want));
    }

    /// Checks a whole-request refusal (§3): code `want` and a message.
    pub fn refused(&mut self, case: &str, header: &ResponseHeader, want: i16) {
        assert_eq!(
            header.error_code, want,
            "{case}: the response header's error_code (message {:?})",
            header.error_message
        );
        assert!(
            header
                .error_message
                .as_deref()
                .is_some_and(|m| !m.is_empty()),
            "{case}: refused without an error_message"
        );
        self.refusals.insert(want);
    }

    /// Records that `api` refused a request naming an over-long topic.
    pub fn long_name(&mut self, api: i16) {
        self.long_names.insert(api);
    }

    /// Everything that differs between what was provoked and what `spec` lists,
    /// one line each; empty when they agree.
    pub fn compare(&self, spec: &Spec) -> Vec<String> {
        let mut problems = Vec::new();
        let expected: BTreeSet<(i16, i16)> = spec
            .apis
            .keys()
            .map(|&api| (api, 0))
            .chain(spec.listed.iter().copied())
            .collect();
        for &(api, code) in expected.difference(&self.entries) {
            problems.push(format!(
                "{} lists {} but no case provoked it",
                spec.api_name(api),
                spec.code_name(code)
            ));
        }
        for &(api, code) in self.entries.difference(&expected) {
            problems.push(format!(
                "{} answered {}, which its response's error_code lists do not name",
                spec.api_name(api),
                spec.code_name(code)
            ));
        }
        if self.refusals != spec.refusals {
            problems.push(format!(
                "§3 names whole-request refusals {:?}; the cases provoked {:?}",
                spec.refusals, self.refusals
            ));
        }
        if !spec.refusals.contains(&spec.long_name_code) {
            problems.push(format!(
                "§3's over-long name code {} is not among its refusals",
                spec.long_name_code
            ));
        }
        if self.long_names != spec.long_name_apis {
            problems.push(format!(
                "§3 refuses over-long names in {:?}; the cases checked {:?}",
                spec.long_name_apis, self.long_names
            ));
        }
        let provoked: BTreeSet<i16> = self
            .entries
            .iter()
            .map(|&(_, code)| code)
            .chain(self.refusals.iter().copied())
            .collect();
        for (&code, (name, meaning)) in &spec.errors {
            let exception = NOT_PROVOKED.iter().find(|(c, _)| *c == code);
            match (provoked.contains(&code), exception) {
                (true, None) | (false, Some(_)) => {}
                (false, None) => problems.push(format!(
                    "§4's {code} {name} is neither provoked nor excepted"
                )),
                (true, Some(_)) => problems.push(format!(
                    "§4's {code} {name} was provoked, yet NOT_PROVOKED excepts it"
                )),
            }
            if let Some((_, reason)) = exception {
                if !meaning.contains(reason) {
                    problems.push(format!(
                        "NOT_PROVOKED excepts {code} because {reason:?}, but §4 says {meaning:?}"
                    ));
                }
            }
        }
        for (code, _) in NOT_PROVOKED {
            if !spec.errors.contains_key(&code) {
                problems.push(format!("NOT_PROVOKED names {code}, which §4 lacks"));
            }
        }
        problems
    }

    /// A coverage that provokes exactly what `spec` lists (for checking
    /// [`Coverage::compare`] itself).
    pub fn as_listed_by(spec: &Spec) -> Coverage {
        let mut entries: BTreeSet<(i16, i16)> = spec.listed.clone();
        entries.extend(spec.apis.keys().map(|&api| (api, 0)));
        Coverage {
            entries,
            refusals: spec.refusals.clone(),
            long_names: spec.long_name_apis.clone(),
        }
    }
}
