//! Enums whose values are names in configuration, JSON and command lines. Each enum's names are
//! written once, in its [`named!`] invocation; parsing, printing, serde and error messages all
//! read them from there.

/// A name that is none of the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected {}{note}", or_list(allowed))]
pub struct UnknownName {
    /// What was named, as configuration files spell the key, e.g. `compute_type`.
    pub what: &'static str,
    pub given: String,
    pub allowed: &'static [&'static str],
    /// Said after the allowed names, e.g. why a well-known name is missing.
    pub note: &'static str,
}

/// `a, b or c`.
pub(crate) fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Deserializes through `FromStr`, so a wrong value reads like a wrong command-line value.
macro_rules! deserialize_from_str {
    ($name:ident) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use deserialize_from_str;

/// An enum of names: `Variant = "name"` each (`| "alias"` adds names `FromStr` also takes). Gives `ALL`, `NAMES`, `as_str`, `Display`,
/// `FromStr` (errors list `NAMES`), `Serialize` and the OpenAPI schema (a string enum).
/// `Deserialize` is left to the caller: derive it (serde's messages) or use
/// [`deserialize_from_str`]. Names are `tt`, not `literal`: utoipa does not see a `literal`
/// fragment inside `#[serde(rename)]`, and the schema would show the variant names.
macro_rules! named {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal $(, note $note:literal)? {
            $($(#[$vmeta:meta])* $variant:ident = $text:tt $(| $alias:tt)*),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text $(| $alias)* => return Ok(Self::$variant),)+
                    _ => {}
                }
                Err($crate::names::UnknownName {
                    what: $what,
                    given: s.to_string(),
                    allowed: Self::NAMES,
                    note: concat!("" $(, $note)?),
                })
            }
        }
    };
}
pub(crate) use named;
