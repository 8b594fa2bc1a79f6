//! `RILL_*` environment variables for every configuration key: one layer of
//! configuration, above the file and below the flags.
//!
//! The rule: a top-level key's variable is `RILL_<KEY>`, a key in a section is
//! `RILL_<SECTION>_<KEY>`, upper case (`RILL_RETENTION_CHECK_INTERVAL_MS`,
//! `RILL_LIMITS_MAX_TOPICS`, `RILL_LOG_FSYNC`). The keys are read off the config
//! types (`config_keys`), so a key gets its variable by being declared. A value is
//! turned into the TOML value the file would hold and checked by the same serde
//! code as the file, so it gets the same error, prefixed with the variable's name.
//!
//! Any other `RILL_*` name is refused, as an unknown key in the file is, unless the
//! binary says it is one of its own (its flags' variables, other Rill programs'
//! settings). The environment is a map passed in: only binaries read the process's
//! environment.

use std::collections::BTreeMap;

use crate::config::BrokerConfig;
use crate::config_keys::{config_keys, ValueKind};
use crate::error::{Error, Result};

/// The prefix of every environment variable Rill reads.
pub const ENV_PREFIX: &str = "RILL_";

/// What errors about the environment name as their source.
const SOURCE: &str = "environment";

/// One configuration key and the environment variable that sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvKey {
    /// The variable, e.g. `RILL_LIMITS_MAX_TOPICS`.
    pub variable: String,
    /// The key as rill.toml spells it, e.g. `limits.max_topics`.
    pub key: String,
    path: Vec<&'static str>,
    kind: ValueKind,
}

/// Every configuration key with its variable, in declaration order.
pub fn env_keys() -> Vec<EnvKey> {
    config_keys::<BrokerConfig>()
        .into_iter()
        .map(|key| EnvKey {
            variable: format!("{ENV_PREFIX}{}", key.path.join("_").to_uppercase()),
            key: key.dotted(),
            path: key.path,
            kind: key.kind,
        })
        .collect()
}

/// One key that the environment sets.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSetting {
    /// The variable, e.g. `RILL_LIMITS_MAX_TOPICS`.
    pub variable: String,
    /// The key it sets, e.g. `limits.max_topics`.
    pub key: String,
    /// The variable's text.
    pub text: String,
    path: Vec<&'static str>,
    value: toml::Value,
}

impl EnvSetting {
    /// Reads `text` as `key`'s value; a value the key cannot take is an error that
    /// names the variable, its text, and what the key allows.
    fn read(key: &EnvKey, text: &str) -> Result<EnvSetting> {
        let setting = EnvSetting {
            variable: key.variable.clone(),
            key: key.key.clone(),
            text: text.to_string(),
            path: key.path.clone(),
            value: toml_value(key.kind, text),
        };
        let mut alone = toml::Table::new();
        set(&mut alone, &setting.path, setting.value.clone());
        from_table(alone).map_err(|reason| Error::Config {
            source_name: SOURCE.to_string(),
            reason: format!(
                "{} = {text:?} (rill.toml key {}): {reason}",
                setting.variable, setting.key
            ),
        })?;
        Ok(setting)
    }
}

/// The TOML value that `text` stands for. A key that reads a string takes the
/// text as it stands (quotes optional); any other key takes the TOML value the
/// text spells (`5`, `-1`, `true`, `{ interval_ms = 100 }`), or the text as a
/// string when it spells none, so that the key's type says what it allows.
fn toml_value(kind: ValueKind, text: &str) -> toml::Value {
    let parsed = serde::Deserialize::deserialize(toml::de::ValueDeserializer::new(text)).ok();
    match (kind, parsed) {
        (ValueKind::Text, Some(toml::Value::String(s))) => toml::Value::String(s),
        (ValueKind::Toml, Some(value)) => value,
        _ => toml::Value::String(text.to_string()),
    }
}

/// The configuration keys that an environment sets, each value already checked
/// against its key's type. [`EnvOverlay::apply`] lays them over a configuration
/// (the file's, or the defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvOverlay {
    settings: Vec<EnvSetting>,
}

impl EnvOverlay {
    /// Reads the configuration variables in `env` (name to value; names without
    /// the `RILL_` prefix are ignored). A `RILL_*` name that is neither a key's
    /// variable nor in `own` (variables the caller handles itself) is an error
    /// naming it and the closest known name; so is a value its key cannot take.
    pub fn from_env(env: &BTreeMap<String, String>, own: &[&str]) -> Result<EnvOverlay> {
        let keys = env_keys();
        let mut settings = Vec::new();
        let mut unknown = Vec::new();
        for (name, text) in env {
            if !name.starts_with(ENV_PREFIX) || own.contains(&name.as_str()) {
                continue;
            }
            match keys.iter().find(|key| &key.variable == name) {
                Some(key) => settings.push(EnvSetting::read(key, text)?),
                None => unknown.push(name.as_str()),
            }
        }
        if unknown.is_empty() {
            return Ok(EnvOverlay { settings });
        }
        let known: Vec<&str> = keys
            .iter()
            .map(|key| key.variable.as_str())
            .chain(own.iter().copied())
            .collect();
        let names: Vec<String> = unknown
            .iter()
            .map(|name| match closest(name, &known) {
                Some(near) => format!("{name} (did you mean {near}?)"),
                None => name.to_string(),
            })
            .collect();
        let noun = if names.len() == 1 {
            "variable"
        } else {
            "variables"
        };
        Err(Error::Config {
            source_name: SOURCE.to_string(),
            reason: format!(
                "unknown {noun} {}; the variable of a rill.toml key is RILL_<KEY>, or \
                 RILL_<SECTION>_<KEY> for a key in a section",
                names.join(", ")
            ),
        })
    }

    /// The keys this environment sets, in variable-name order.
    pub fn settings(&self) -> &[EnvSetting] {
        &self.settings
    }

    /// `config` with every key this environment sets replaced by its value. Not
    /// validated: flags may still change it (see [`EnvOverlay::validate`]).
    pub fn apply(&self, config: &BrokerConfig) -> Result<BrokerConfig> {
        let mut table = to_table(config)?;
        for setting in &self.settings {
            set(&mut table, &setting.path, setting.value.clone());
        }
        from_table(table).map_err(|reason| Error::Config {
            source_name: SOURCE.to_string(),
            reason,
        })
    }

    /// [`BrokerConfig::validate`], whose error also names the variables behind
    /// it: those whose value is still in effect and without which `config` would
    /// pass, or fail differently.
    pub fn validate(&self, config: &BrokerConfig) -> Result<()> {
        let error = match config.validate() {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let table = to_table(config)?;
        let message = error.to_string();
        let culprits: Vec<String> = self
            .settings
            .iter()
            .filter(|setting| {
                if get(&table, &setting.path) != Some(&setting.value) {
                    return false; // a flag replaced it
                }
                let mut without = table.clone();
                remove(&mut without, &setting.path);
                match from_table(without) {
                    Ok(other) => match other.validate() {
                        Ok(()) => true,
                        Err(e) => e.to_string() != message,
                    },
                    Err(_) => false,
                }
            })
            .map(|setting| format!("{}={}", setting.variable, setting.text))
            .collect();
        match error {
            Error::Config {
                source_name,
                reason,
            } if !culprits.is_empty() => Err(Error::Config {
                source_name,
                reason: format!("{reason} (from the environment: {})", culprits.join(" ")),
            }),
            other => Err(other),
        }
    }
}

/// The known name nearest to `name`, if it is near enough to be a typo.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| (strsim::levenshtein(name, candidate), *candidate))
        .min()
        .filter(|(distance, _)| distance * 4 <= name.len())
        .map(|(_, candidate)| candidate)
}

fn to_table(config: &BrokerConfig) -> Result<toml::Table> {
    toml::Table::try_from(config).map_err(|e| Error::Config {
        source_name: "configuration".to_string(),
        reason: format!("cannot be written as TOML: {e}"),
    })
}

fn from_table(table: toml::Table) -> Result<BrokerConfig, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().replace('\n', " "))
}

/// Sets the value at `path`, creating sections on the way.
fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    match path {
        [] => {}
        [key] => {
            table.insert((*key).to_string(), value);
        }
        [section, rest @ ..] => {
            let entry = table
                .entry((*section).to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set(inner, rest, value);
            }
        }
    }
}

fn get<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
    match path {
        [] => None,
        [key] => table.get(*key),
        [section, rest @ ..] => get(table.get(*section)?.as_table()?, rest),
    }
}

fn remove(table: &mut toml::Table, path: &[&str]) {
    match path {
        [] => {}
        [key] => {
            table.remove(*key);
        }
        [section, rest @ ..] => {
            if let Some(toml::Value::Table(inner)) = table.get_mut(*section) {
                remove(inner, rest);
            }
        }
    }
}
