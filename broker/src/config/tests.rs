//! The configuration's parsing, defaults and validation.

use super::*;

#[test]
fn every_key_has_a_default_and_unknown_keys_are_rejected() {
    assert_eq!(BrokerConfig::from_toml(""), Ok(BrokerConfig::default()));
    let err = BrokerConfig::from_toml("lsiten = \"0.0.0.0:1\"").expect_err("typo");
    assert!(err.contains("unknown field `lsiten`"), "{err}");
    let err = BrokerConfig::from_toml("[log]\nfsync = \"sometimes\"").expect_err("bad");
    assert!(err.starts_with("line 2, column 9: fsync must be"), "{err}");
    let err = BrokerConfig::from_toml("[log]\nfsync = 5").expect_err("bad");
    assert!(err.contains("not 5"), "{err}");
    let err = BrokerConfig::from_toml("[log]\nfsync = { interval_ms = 0 }").expect_err("bad");
    assert!(err.contains("not interval_ms = 0"), "{err}");
}

#[test]
fn fsync_forms_parse() {
    let c = BrokerConfig::from_toml("[log]\nfsync = { interval_ms = 50 }").expect("interval");
    assert_eq!(
        c.log.fsync.policy(),
        FsyncPolicy::Interval(Duration::from_millis(50))
    );
    let c = BrokerConfig::from_toml("[log]\nfsync = \"always\"").expect("always");
    assert_eq!(c.log.fsync.policy(), FsyncPolicy::Always);
    assert!(FsyncSetting::parse("0").is_err());
    // Topic metadata files store settings this way: they must read back.
    for fsync in [
        FsyncSetting::Always,
        FsyncSetting::Never,
        FsyncSetting::Interval { interval_ms: 7 },
    ] {
        let settings = TopicSettings {
            fsync,
            ..TopicSettings::default()
        };
        let text = toml::to_string(&settings).expect("serialize");
        assert_eq!(
            toml::from_str::<TopicSettings>(&text).expect("parse"),
            settings,
            "{text}"
        );
    }
    assert_eq!(
        FsyncSetting::parse("100").map(FsyncSetting::policy),
        Ok(FsyncPolicy::Interval(Duration::from_millis(100)))
    );
}

#[test]
fn out_of_range_values_name_the_key_and_the_range() {
    let mut c = BrokerConfig::default();
    c.limits.max_frame_bytes = 10;
    let err = c.validate().expect_err("too small").to_string();
    assert!(err.contains("limits.max_frame_bytes = 10"), "{err}");
    let mut c = BrokerConfig::default();
    c.log.segment_bytes = 1;
    assert!(c.validate().is_err());
    let c = BrokerConfig {
        advertised_addr: Some("rill-1".to_string()),
        ..BrokerConfig::default()
    };
    let err = c.validate().expect_err("no port").to_string();
    assert!(err.contains("expected host:port"), "{err}");
    let c = BrokerConfig {
        recovery_threads: 257,
        ..BrokerConfig::default()
    };
    let err = c.validate().expect_err("too many").to_string();
    assert!(err.contains("recovery_threads = 257: allowed 0"), "{err}");
    let c = BrokerConfig {
        recovery_threads: 3,
        ..BrokerConfig::default()
    };
    assert_eq!(c.recovery_threads(), 3);
    assert!(
        BrokerConfig::default().recovery_threads() >= 1,
        "0 is one per core"
    );
    let mut t = TopicSettings::default();
    t.set("segment_ms", "18446744073709551615")
        .expect("parses as u64");
    assert!(t.validate().expect_err("too big").contains("segment_ms"));
    let mut t = TopicSettings::default();
    let err = t.set("retention.ms", "5").expect_err("kafka spelling");
    assert!(err.contains("allowed: fsync"), "{err}");
}

mod example_file {
    use super::*;

    /// deploy/rill.toml documents every key with its default: it must parse to
    /// exactly the defaults.
    #[test]
    fn deploy_rill_toml_is_the_defaults() {
        let text = include_str!("../../../deploy/rill.toml");
        assert_eq!(BrokerConfig::from_toml(text), Ok(BrokerConfig::default()));
        // And every key is in it, uncommented, except the optional advertised_addr.
        let defaults = toml::to_string(&BrokerConfig::default()).expect("serialize");
        for line in defaults.lines() {
            if let Some((key, _)) = line.split_once(" = ") {
                assert!(
                    text.lines().any(|l| l.starts_with(&format!("{key} = "))),
                    "deploy/rill.toml lacks {key}"
                );
            }
        }
    }
}
