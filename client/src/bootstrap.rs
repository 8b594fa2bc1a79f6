//! The broker addresses a client is given: one `host:port`, or a comma-separated
//! bootstrap list (`a:9400,b:9400,c:9400`) whose entries are tried in order until
//! one answers. Every `connect` of this crate, and every reconnect of a producer,
//! goes through the list again.

use crate::error::{Error, Result};

/// What every entry must look like.
const ALLOWED: &str = "expected host:port, or several separated by commas";

/// The entries of `list`, trimmed; refused when the list or an entry is empty or
/// an entry has no port.
pub(crate) fn parse(list: &str) -> Result<Vec<&str>> {
    if list.trim().is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no broker address given: {ALLOWED}"
        )));
    }
    list.split(',')
        .map(str::trim)
        .map(|entry| {
            if entry.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "broker list {list:?} has an empty entry: {ALLOWED}"
                )));
            }
            match entry.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(entry),
                _ => Err(Error::InvalidArgument(format!(
                    "broker address {entry:?} is not host:port: {ALLOWED}"
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_entries_are_named() {
        assert_eq!(parse("a:1").expect("one"), vec!["a:1"]);
        assert_eq!(
            parse(" a:1, [::1]:2 ,b:3").expect("three"),
            vec!["a:1", "[::1]:2", "b:3"]
        );
        for (bad, names) in [
            ("", "no broker address"),
            ("a:1,,b:2", "\"a:1,,b:2\" has an empty entry"),
            ("nocolon", "\"nocolon\" is not host:port"),
            ("a:1,b:99999", "\"b:99999\" is not host:port"),
            (":5", "\":5\" is not host:port"),
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }
}
