//! The keys of the configuration, read off its serde types: every field of
//! [`crate::BrokerConfig`] and of its sections, `Option` fields included (a
//! serialized default leaves those out), with the kind of value each one reads.
//! Deriving them from the types means there is no list of keys to keep in step: a
//! new field gets its `RILL_*` variable (see `config_env`) by being declared.
//!
//! The probe is a serde `Deserializer` that asks a type to deserialize itself and
//! notes what the type asks for: a struct names its fields up front, a leaf asks
//! for a string, a number, an option, and so on. To look inside a section the probe
//! answers the outer struct with a map of one entry, the section's name, whose
//! value is the probe again. Every probe ends in an error once it has seen what it
//! came for, so no value is ever built.

use std::cell::Cell;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

/// How a key's value is read from text (an environment variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// The type reads a string (an address, a path, an enum name): the text is
    /// the value as it stands; TOML quotes around it are optional.
    Text,
    /// Anything else (a number, a boolean, a value with several TOML forms such as
    /// `fsync`): the text is read as a TOML value, or as a string when it is not
    /// one, so that the type's own error says what is allowed.
    Toml,
}

/// One key of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// Field names from the top: `["node_id"]`, `["limits", "max_topics"]`.
    pub path: Vec<&'static str>,
    /// How its value is read from text.
    pub kind: ValueKind,
}

impl ConfigKey {
    /// The key as rill.toml spells it, sections joined by dots: `limits.max_topics`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// Every key of `T` (a struct whose fields are values or sections), depth first,
/// in declaration order.
pub fn config_keys<T: DeserializeOwned>() -> Vec<ConfigKey> {
    let mut keys = Vec::new();
    walk::<T>(&mut Vec::new(), &mut keys);
    keys
}

fn walk<T: DeserializeOwned>(path: &mut Vec<&'static str>, keys: &mut Vec<ConfigKey>) {
    match shape_at::<T>(path) {
        Some(Shape::Struct(fields)) => {
            for field in fields {
                path.push(field);
                walk::<T>(path, keys);
                path.pop();
            }
        }
        Some(Shape::Leaf(kind)) => keys.push(ConfigKey {
            path: path.clone(),
            kind,
        }),
        // Only a path into a leaf finds nothing, and walk never makes one.
        None => {}
    }
}

/// What `T` holds at `path`.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A struct (the top level or a section) with these fields.
    Struct(&'static [&'static str]),
    /// A value.
    Leaf(ValueKind),
}

fn shape_at<T: DeserializeOwned>(path: &[&'static str]) -> Option<Shape> {
    let found = Cell::new(None);
    // Every probe ends in an error by design; what it saw is in `found`.
    let _ = T::deserialize(Probe {
        path,
        found: &found,
    });
    found.get()
}

/// The probing deserializer: follows `path` through structs, then records what
/// the type there asks for.
struct Probe<'a> {
    path: &'a [&'static str],
    found: &'a Cell<Option<Shape>>,
}

type ProbeError = de::value::Error;

impl Probe<'_> {
    fn done<T>(self, shape: Shape) -> Result<T, ProbeError> {
        if self.path.is_empty() {
            self.found.set(Some(shape));
        }
        Err(de::Error::custom("probe finished"))
    }

    fn leaf<T>(self, kind: ValueKind) -> Result<T, ProbeError> {
        self.done(Shape::Leaf(kind))
    }
}

macro_rules! leaves {
    ($($method:ident => $kind:ident,)*) => {
        $(fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeError> {
            self.leaf(ValueKind::$kind)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    leaves! {
        deserialize_any => Toml,
        deserialize_bool => Toml,
        deserialize_i8 => Toml,
        deserialize_i16 => Toml,
        deserialize_i32 => Toml,
        deserialize_i64 => Toml,
        deserialize_i128 => Toml,
        deserialize_u8 => Toml,
        deserialize_u16 => Toml,
        deserialize_u32 => Toml,
        deserialize_u64 => Toml,
        deserialize_u128 => Toml,
        deserialize_f32 => Toml,
        deserialize_f64 => Toml,
        deserialize_char => Text,
        deserialize_str => Text,
        deserialize_string => Text,
        deserialize_identifier => Text,
        deserialize_bytes => Toml,
        deserialize_byte_buf => Toml,
        deserialize_unit => Toml,
        deserialize_seq => Toml,
        deserialize_map => Toml,
        deserialize_ignored_any => Toml,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        // An optional key is a key of the inner type.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.leaf(ValueKind::Toml)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.leaf(ValueKind::Toml)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.leaf(ValueKind::Toml)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeError> {
        // In TOML a unit variant is its name.
        self.leaf(ValueKind::Text)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        match self.path.split_first() {
            None => self.done(Shape::Struct(fields)),
            Some((first, rest)) => visitor.visit_map(OneEntry {
                key: Some(first),
                value: Some(Probe {
                    path: rest,
                    found: self.found,
                }),
            }),
        }
    }
}

/// A map of one entry: the next field on the probe's path, and the probe for
/// what lies under it.
struct OneEntry<'a> {
    key: Option<&'static str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.key.take() {
            Some(key) => seed.deserialize(key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, ProbeError> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe),
            None => Err(de::Error::custom("the probe's map has one value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrokerConfig;

    fn key(path: &[&'static str], kind: ValueKind) -> ConfigKey {
        ConfigKey {
            path: path.to_vec(),
            kind,
        }
    }

    #[test]
    fn keys_come_from_the_types_with_options_and_sections() {
        let keys = config_keys::<BrokerConfig>();
        assert_eq!(keys[0], key(&["listen"], ValueKind::Text));
        for expected in [
            key(&["data_dir"], ValueKind::Text),
            key(&["advertised_addr"], ValueKind::Text),
            key(&["metrics_listen"], ValueKind::Text),
            key(&["retention_check_interval_ms"], ValueKind::Toml),
            key(&["limits", "max_topics"], ValueKind::Toml),
            key(&["groups", "session_timeout_ms"], ValueKind::Toml),
            key(&["log", "fsync"], ValueKind::Toml),
            key(&["log", "cleanup"], ValueKind::Text),
        ] {
            assert!(keys.contains(&expected), "{expected:?} not in {keys:?}");
        }
        // Sections are not keys themselves.
        assert!(keys.iter().all(|k| k.dotted() != "log"), "{keys:?}");
    }
}
