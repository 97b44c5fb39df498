//! How strict verification is. Integrity (signatures, hashes, lengths, structure) is always
//! enforced; a level only decides whether authenticity (pinned key, certificate name) and expiry
//! failures refuse or become warnings. Warnings are data, printed by the CLI every time.

use std::fmt;

/// The verification level the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Everything enforced (the default).
    #[default]
    Strict,
    /// Expiry failures of metadata and certificates become warnings.
    Permissive,
    /// Authenticity and expiry failures become warnings; integrity still refuses.
    Audit,
}

/// The class of a failed check that a level may relax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Ties the data to the user: the pinned key, the certificate name.
    Authenticity,
    /// Freshness: metadata expiry, certificate validity windows.
    Expiry,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "strict" => Some(Level::Strict),
            "permissive" => Some(Level::Permissive),
            "audit" => Some(Level::Audit),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Permissive => "permissive",
            Level::Audit => "audit",
        }
    }

    /// Whether a failure of this class is only a warning at this level.
    pub fn tolerates(&self, class: Class) -> bool {
        matches!(
            (self, class),
            (Level::Permissive, Class::Expiry)
                | (Level::Audit, Class::Expiry)
                | (Level::Audit, Class::Authenticity)
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the user must see although the answer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The role it concerns (`root`, `targets/releases`), if any.
    pub role: Option<String>,
    pub message: String,
}

impl Warning {
    pub fn new(role: Option<&str>, message: impl Into<String>) -> Warning {
        Warning {
            role: role.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
