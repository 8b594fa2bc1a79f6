//! Every rill.toml key can be set by its `RILL_*` variable, and the environment is
//! checked as strictly as the file: unknown names and bad values are refused with
//! the variable's name.

use std::collections::{BTreeMap, BTreeSet};

use rill_broker::{env_keys, BrokerConfig, EnvOverlay, FsyncSetting};

const DEPLOY_TOML: &str = include_str!("../../deploy/rill.toml");

fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The configuration `vars` give over the defaults, validated.
fn configure(vars: &[(&str, &str)]) -> Result<BrokerConfig, String> {
    let overlay = EnvOverlay::from_env(&env(vars), &[]).map_err(|e| e.to_string())?;
    let config = overlay
        .apply(&BrokerConfig::default())
        .map_err(|e| e.to_string())?;
    overlay.validate(&config).map_err(|e| e.to_string())?;
    Ok(config)
}

/// deploy/rill.toml with its commented-out example keys (`# key = value`) put in.
fn documented_keys() -> toml::Table {
    let text: Vec<&str> = DEPLOY_TOML
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest
            }
            _ => line,
        })
        .collect();
    toml::from_str(&text.join("\n")).expect("deploy/rill.toml parses")
}

/// Every (path, value) leaf of `table`, sections walked into.
fn leaves(table: &toml::Table, prefix: &[String], out: &mut Vec<(Vec<String>, toml::Value)>) {
    for (key, value) in table {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => leaves(inner, &path, out),
            leaf => out.push((path, leaf.clone())),
        }
    }
}

fn config_leaves(config: &BrokerConfig) -> BTreeMap<Vec<String>, toml::Value> {
    let table = toml::Table::try_from(config).expect("serialize config");
    let mut out = Vec::new();
    leaves(&table, &[], &mut out);
    out.into_iter().collect()
}

/// A valid value for `key` other than its default, as a variable's text and as
/// the TOML value the config must then hold.
fn another_value(key: &str, documented: &toml::Value, default: Option<&toml::Value>) -> String {
    match (documented, default) {
        // A commented-out example of a key that is unset by default.
        (toml::Value::String(example), None) => example.clone(),
        (toml::Value::Integer(n), Some(_)) => (if *n > 1 { n - 1 } else { n + 1 }).to_string(),
        (toml::Value::String(_), Some(_)) => match key {
            "listen" => "0.0.0.0:9500".to_string(),
            "data_dir" => "/var/lib/rill".to_string(),
            "log.fsync" => "always".to_string(),
            "log.cleanup" => "compact".to_string(),
            other => panic!("add a valid non-default value for {other} to this test"),
        },
        (toml::Value::Array(_), Some(_)) if key == "cluster.peers" => {
            "[\"0@127.0.0.1:9500\"]".to_string()
        }
        (toml::Value::Array(_), Some(_)) if key == "cluster.dial" => {
            "[\"1@127.0.0.1:9600\"]".to_string()
        }
        other => panic!("{key}: no rule for a value like {other:?}"),
    }
}

/// The variables a key needs beside it to make a valid configuration: a broker
/// in a cluster needs both its listener and its peers.
fn companions(key: &str) -> &'static [(&'static str, &'static str)] {
    match key {
        "cluster.listen" => &[("RILL_CLUSTER_PEERS", "0@127.0.0.1:9500")],
        "cluster.peers" => &[("RILL_CLUSTER_LISTEN", "127.0.0.1:9500")],
        "cluster.dial" => &[
            ("RILL_CLUSTER_LISTEN", "127.0.0.1:9500"),
            ("RILL_CLUSTER_PEERS", "0@127.0.0.1:9500,1@127.0.0.1:9501"),
        ],
        _ => &[],
    }
}

#[test]
fn every_key_of_deploy_rill_toml_has_a_variable_that_sets_exactly_it() {
    let mut documented = Vec::new();
    leaves(&documented_keys(), &[], &mut documented);
    let defaults = config_leaves(&BrokerConfig::default());

    // The documented keys are exactly the keys the broker derives variables for.
    let derived: BTreeSet<String> = env_keys().into_iter().map(|k| k.key).collect();
    let in_file: BTreeSet<String> = documented.iter().map(|(p, _)| p.join(".")).collect();
    assert_eq!(derived, in_file, "derived keys vs deploy/rill.toml");
    assert!(
        documented.len() > 20,
        "only {} keys walked",
        documented.len()
    );

    for (path, value) in &documented {
        let key = path.join(".");
        let variable = format!("RILL_{}", path.join("_").to_uppercase());
        let text = another_value(&key, value, defaults.get(path));
        let base = EnvOverlay::from_env(&env(companions(&key)), &[])
            .and_then(|o| o.apply(&BrokerConfig::default()))
            .expect("companions parse");
        let base = config_leaves(&base);
        let mut vars = companions(&key).to_vec();
        vars.push((&variable, &text));
        let config = configure(&vars).unwrap_or_else(|e| panic!("{variable}={text} refused: {e}"));
        let changed: Vec<(Vec<String>, Option<toml::Value>)> = config_leaves(&config)
            .into_iter()
            .filter(|(p, v)| base.get(p) != Some(v))
            .map(|(p, v)| (p, Some(v)))
            .collect();
        assert_eq!(changed.len(), 1, "{variable}={text} changed {changed:?}");
        assert_eq!(&changed[0].0, path, "{variable}={text} changed {changed:?}");
        let now = changed[0].1.as_ref().expect("a value");
        let as_text = match now {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(as_text, text, "{variable}={text} set {key} to {now}");
    }
}

#[test]
fn variables_follow_the_rule_and_are_distinct() {
    let keys = env_keys();
    let names: BTreeSet<&str> = keys.iter().map(|k| k.variable.as_str()).collect();
    assert_eq!(names.len(), keys.len(), "two keys share a variable");
    for wanted in [
        "RILL_RETENTION_CHECK_INTERVAL_MS",
        "RILL_LIMITS_MAX_TOPICS",
        "RILL_GROUPS_SESSION_TIMEOUT_MS",
        "RILL_LOG_SEGMENT_MS",
        "RILL_LOG_FSYNC",
        "RILL_ADVERTISED_ADDR",
    ] {
        assert!(names.contains(wanted), "{wanted} missing from {names:?}");
    }
}

#[test]
fn fsync_takes_the_forms_the_file_takes() {
    let config = configure(&[("RILL_LOG_FSYNC", "{ interval_ms = 250 }")]).expect("interval");
    assert_eq!(
        config.log.fsync,
        FsyncSetting::Interval { interval_ms: 250 }
    );
    let config = configure(&[("RILL_LOG_FSYNC", "\"always\"")]).expect("quoted");
    assert_eq!(config.log.fsync, FsyncSetting::Always);
    let err = configure(&[("RILL_LOG_FSYNC", "sometimes")]).expect_err("bad name");
    assert!(
        err.contains("RILL_LOG_FSYNC = \"sometimes\"") && err.contains("fsync must be"),
        "{err}"
    );
}

#[test]
fn unknown_variables_are_refused_with_the_nearest_name() {
    let err = configure(&[("RILL_RETENTION_CHECK_INTERVAL", "5")]).expect_err("typo");
    assert!(
        err.contains("unknown variable RILL_RETENTION_CHECK_INTERVAL (did you mean RILL_RETENTION_CHECK_INTERVAL_MS?)"),
        "{err}"
    );
    let err = configure(&[("RILL_LIMITS_MAX_CONECTIONS", "5")]).expect_err("typo");
    assert!(
        err.contains("did you mean RILL_LIMITS_MAX_CONNECTIONS?"),
        "{err}"
    );
    let err = configure(&[("RILL_WHATEVER", "1")]).expect_err("unknown");
    assert!(
        err.contains("RILL_WHATEVER") && !err.contains("did you mean"),
        "{err}"
    );
    // The caller's own variables, and variables of other programs, pass.
    let vars = env(&[("RILL_BROKER", "x"), ("PATH", "/bin"), ("rill_lower", "1")]);
    let overlay = EnvOverlay::from_env(&vars, &["RILL_BROKER"]).expect("own names");
    assert!(overlay.settings().is_empty(), "{overlay:?}");
}

#[test]
fn bad_values_name_the_variable_what_it_got_and_what_is_allowed() {
    let err = configure(&[("RILL_LIMITS_MAX_TOPICS", "lots")]).expect_err("not a number");
    assert!(
        err.contains("RILL_LIMITS_MAX_TOPICS = \"lots\"") && err.contains("expected usize"),
        "{err}"
    );
    let err = configure(&[("RILL_LOG_CLEANUP", "sometimes")]).expect_err("bad enum");
    assert!(
        err.contains("RILL_LOG_CLEANUP") && err.contains("`delete`"),
        "{err}"
    );
    // A value of the right type but out of range: the validation error names
    // the key and its range, and the variable that set it.
    let err = configure(&[("RILL_LIMITS_MAX_TOPICS", "0")]).expect_err("too few");
    assert!(
        err.contains("limits.max_topics = 0: allowed 1 ..= 1048576")
            && err.contains("RILL_LIMITS_MAX_TOPICS=0"),
        "{err}"
    );
    let err = configure(&[
        ("RILL_GROUPS_HEARTBEAT_INTERVAL_MS", "6000"),
        ("RILL_LIMITS_MAX_TOPICS", "3"),
    ])
    .expect_err("session shorter than two heartbeats");
    assert!(
        err.contains("RILL_GROUPS_HEARTBEAT_INTERVAL_MS=6000") && !err.contains("MAX_TOPICS"),
        "{err}"
    );
    let config = configure(&[
        ("RILL_GROUPS_HEARTBEAT_INTERVAL_MS", "6000"),
        ("RILL_GROUPS_SESSION_TIMEOUT_MS", "30000"),
    ])
    .expect("valid together");
    assert_eq!(config.groups.session_timeout_ms, 30_000);
}

#[test]
fn the_environment_changes_only_what_it_sets_over_the_file() {
    let file = BrokerConfig::from_toml("node_id = 3\n[limits]\nmax_topics = 5\n").expect("toml");
    let vars = env(&[("RILL_LIMITS_MAX_CONNECTIONS", "7")]);
    let config = EnvOverlay::from_env(&vars, &[])
        .and_then(|overlay| overlay.apply(&file))
        .expect("apply");
    assert_eq!(config.node_id, 3);
    assert_eq!(config.limits.max_topics, 5);
    assert_eq!(config.limits.max_connections, 7);
}
