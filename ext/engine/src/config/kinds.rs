//! The kinds of value a setting takes: how each reads the loose forms people write (YAML,
//! `ANYCABLE_*` strings, Ruby values) and how it shows in the effective settings. The table in
//! `config/mod.rs` gives every setting one kind.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::secret::{self, Secret};

/// What [`Kind::parse`] makes of a value: the setting's value, or its default.
pub(super) type Parsed<T> = Result<Option<T>, String>;

/// One kind of setting value. `null` never reaches [`Kind::parse`]: it stands for the
/// default of every setting.
pub(super) trait Kind {
    /// The Rust type of the setting.
    type Value;
    /// Whether values of this kind are secrets (filtered in dumps and errors).
    const SECRET: bool = false;
    /// The value `value` stands for; `Ok(None)` means the setting's default; `Err` says what
    /// the kind accepts, in words.
    fn parse(&self, value: &Value) -> Parsed<Self::Value>;
    /// The value as it shows in the effective settings.
    fn render(&self, value: &Self::Value) -> Value;
}

/// Whether settings of `kind` are secrets (for the const table of settings).
pub(super) const fn is_secret<K: Kind>(_kind: &K) -> bool {
    K::SECRET
}

/// A path starting with `/`; blank means the default.
pub(super) struct Path;

impl Kind for Path {
    type Value = String;
    fn parse(&self, value: &Value) -> Parsed<String> {
        match PATH.parse(value)? {
            Some(Some(path)) => Ok(Some(path)),
            _ => Ok(None),
        }
    }
    fn render(&self, value: &String) -> Value {
        value.as_str().into()
    }
}

/// Text that passes `valid`, or unset (blank).
pub(super) struct Checked {
    /// What passes, in words.
    pub(super) expected: &'static str,
    /// Whether a (trimmed, non-blank) text is accepted.
    pub(super) valid: fn(&str) -> bool,
}

/// A path starting with `/`, or unset.
pub(super) const PATH: Checked =
    Checked { expected: "a path starting with `/`", valid: |p| p.starts_with('/') };

/// A `redis://` or `rediss://` URL, or unset.
pub(super) const REDIS_URL: Checked = Checked {
    expected: "a redis:// or rediss:// URL",
    valid: |url| url.starts_with("redis://") || url.starts_with("rediss://"),
};

/// `host:port`, or unset.
pub(super) const HOST_PORT: Checked = Checked {
    expected: "host:port",
    valid: |host| host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()),
};

impl Kind for Checked {
    type Value = Option<String>;
    fn parse(&self, value: &Value) -> Parsed<Option<String>> {
        match optional_string(value) {
            Some(Some(text)) if !(self.valid)(&text) => Err(self.expected.to_owned()),
            Some(text) => Ok(Some(text)),
            None => Err(self.expected.to_owned()),
        }
    }
    fn render(&self, value: &Option<String>) -> Value {
        value.as_deref().into()
    }
}

/// Free text, or unset (blank); `expected` says what the text is.
pub(super) struct Text(pub(super) &'static str);

impl Kind for Text {
    type Value = Option<String>;
    fn parse(&self, value: &Value) -> Parsed<Option<String>> {
        optional_string(value).map(Some).ok_or_else(|| self.0.to_owned())
    }
    fn render(&self, value: &Option<String>) -> Value {
        value.as_deref().into()
    }
}

/// A secret string, or unset (blank); kept as written but for surrounding blanks.
pub(super) struct SecretText;

impl Kind for SecretText {
    type Value = Option<Secret>;
    const SECRET: bool = true;
    fn parse(&self, value: &Value) -> Parsed<Option<Secret>> {
        let text = optional_string(value).ok_or_else(|| "a string".to_owned())?;
        Ok(Some(text.map(Secret::new)))
    }
    fn render(&self, value: &Option<Secret>) -> Value {
        value.as_ref().map_or(Value::Null, |_| secret::FILTERED.into())
    }
}

/// A non-empty name (trimmed).
pub(super) struct Name(pub(super) &'static str);

impl Kind for Name {
    type Value = String;
    fn parse(&self, value: &Value) -> Parsed<String> {
        string(value).filter(|s| !s.is_empty()).map(Some).ok_or_else(|| self.0.to_owned())
    }
    fn render(&self, value: &String) -> Value {
        value.as_str().into()
    }
}

/// A prefix, possibly empty; kept as written, or trimmed when `trim` is set.
pub(super) struct Prefix {
    /// Drop surrounding blanks.
    pub(super) trim: bool,
}

impl Kind for Prefix {
    type Value = String;
    fn parse(&self, value: &Value) -> Parsed<String> {
        match value {
            Value::String(s) if self.trim => Ok(Some(s.trim().to_owned())),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err("a string".to_owned()),
        }
    }
    fn render(&self, value: &String) -> Value {
        value.as_str().into()
    }
}

/// A list of strings: a JSON array or the comma-separated environment-variable form.
pub(super) struct List {
    /// What the items are, in words.
    pub(super) expected: &'static str,
    /// Lower-case every item (header names).
    pub(super) lowercase: bool,
}

impl Kind for List {
    type Value = Vec<String>;
    fn parse(&self, value: &Value) -> Parsed<Vec<String>> {
        let items = list(value).ok_or_else(|| self.expected.to_owned())?;
        Ok(Some(if self.lowercase {
            items.into_iter().map(|s| s.to_ascii_lowercase()).collect()
        } else {
            items
        }))
    }
    fn render(&self, value: &Vec<String>) -> Value {
        value.clone().into()
    }
}

/// A whole number from `min` to `max`; `unit` says what it counts.
pub(super) struct Int {
    /// Smallest accepted.
    pub(super) min: usize,
    /// Largest accepted.
    pub(super) max: usize,
    /// What the number is, in words ("a size in bytes").
    pub(super) unit: &'static str,
}

impl Kind for Int {
    type Value = usize;
    fn parse(&self, value: &Value) -> Parsed<usize> {
        let n = integer(value)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (self.min..=self.max).contains(n));
        n.map(Some).ok_or_else(|| format!("{} from {} to {}", self.unit, self.min, self.max))
    }
    fn render(&self, value: &usize) -> Value {
        (*value).into()
    }
}

/// A duration in whole seconds from `min` to `max`.
pub(super) struct Seconds {
    /// Shortest accepted.
    pub(super) min: u64,
    /// Longest accepted.
    pub(super) max: u64,
}

impl Kind for Seconds {
    type Value = Duration;
    fn parse(&self, value: &Value) -> Parsed<Duration> {
        let seconds = integer(value).filter(|n| (self.min..=self.max).contains(n));
        let expected = || format!("seconds from {} to {}", self.min, self.max);
        seconds.map(|s| Some(Duration::from_secs(s))).ok_or_else(expected)
    }
    fn render(&self, value: &Duration) -> Value {
        value.as_secs().into()
    }
}

/// `true` or `false`, also as `1` / `0` (a YAML integer), `"1"`, `"yes"`, `"on"` and their
/// opposites (`""` is false).
pub(super) struct Flag;

impl Kind for Flag {
    type Value = bool;
    fn parse(&self, value: &Value) -> Parsed<bool> {
        let flag = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_u64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" | "" => Some(false),
                _ => None,
            },
            _ => None,
        };
        flag.map(Some).ok_or_else(|| "true or false".to_owned())
    }
    fn render(&self, value: &bool) -> Value {
        (*value).into()
    }
}

/// One of a few names (any case), each standing for a value of `T`.
pub(super) struct Choice<T: 'static>(pub(super) &'static [(&'static str, T)]);

impl<T: Copy + PartialEq> Choice<T> {
    /// The name of `value` in this choice.
    pub(super) fn name(&self, value: T) -> &'static str {
        self.0.iter().find(|(_, v)| *v == value).map_or("", |(name, _)| *name)
    }
}

impl<T: Copy + PartialEq> Kind for Choice<T> {
    type Value = T;
    fn parse(&self, value: &Value) -> Parsed<T> {
        let name = string(value).map(|s| s.to_ascii_lowercase());
        let found = self.0.iter().find(|(n, _)| name.as_deref() == Some(*n));
        let names: Vec<&str> = self.0.iter().map(|(n, _)| *n).collect();
        found.map(|(_, v)| Some(*v)).ok_or_else(|| format!("one of {}", names.join(", ")))
    }
    fn render(&self, value: &T) -> Value {
        self.name(*value).into()
    }
}

/// The path of a file that exists (a PEM file), or unset.
pub(super) struct PemFile;

impl Kind for PemFile {
    type Value = Option<PathBuf>;
    fn parse(&self, value: &Value) -> Parsed<Option<PathBuf>> {
        let expected = "the path of a readable PEM file";
        let path = optional_string(value).ok_or_else(|| expected.to_owned())?.map(PathBuf::from);
        if path.as_ref().is_some_and(|p| !p.is_file()) {
            return Err(format!("{expected} (no such file)"));
        }
        Ok(Some(path))
    }
    fn render(&self, value: &Option<PathBuf>) -> Value {
        value.as_ref().map(|p| p.to_string_lossy().into_owned()).into()
    }
}

/// Metric tags: `"key:value,key2:value2"` (the environment-variable form), a list of
/// `key:value` strings, or a mapping. Keys and values must be non-empty and free of the
/// characters StatsD and Prometheus use as separators.
pub(super) struct Tags;

impl Kind for Tags {
    type Value = Vec<(String, String)>;
    fn parse(&self, value: &Value) -> Parsed<Vec<(String, String)>> {
        let pairs: Option<Vec<(String, String)>> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| Some((k.trim().to_owned(), string(v)?))).collect(),
            _ => list(value).and_then(|items| {
                items
                    .iter()
                    .map(|pair| pair.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                    .collect()
            }),
        };
        let valid = |s: &str| !s.is_empty() && !s.contains([',', '|', '#', '\n', ';', '=']);
        pairs
            .filter(|pairs| pairs.iter().all(|(k, v)| valid(k) && valid(v)))
            .map(Some)
            .ok_or_else(|| "key:value pairs (`env:prod,region:eu`)".to_owned())
    }
    fn render(&self, value: &Vec<(String, String)>) -> Value {
        let tags: Vec<String> = value.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        if tags.is_empty() {
            Value::Null
        } else {
            tags.join(",").into()
        }
    }
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Some(None)` for a blank string (not set), `Some(Some(text))` for other strings, `None`
/// for anything that is not a string.
fn optional_string(value: &Value) -> Option<Option<String>> {
    match value {
        Value::String(s) if s.trim().is_empty() => Some(None),
        Value::String(s) => Some(Some(s.trim().to_owned())),
        _ => None,
    }
}

/// A JSON array of strings, or a comma-separated string; empty items are dropped.
fn list(value: &Value) -> Option<Vec<String>> {
    let items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(string).collect::<Option<_>>()?,
        Value::String(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        _ => return None,
    };
    Some(items.into_iter().filter(|s| !s.is_empty()).collect())
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
