//! API version negotiation constants and parsing.

/// The newest API version Berth serves (Docker Engine 27.x level).
pub const API_VERSION: &str = "1.47";
/// The oldest API version Berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// A parsed `major.minor` API version, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    /// Major number (always 1 today).
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl ApiVersion {
    /// Parses `1.47`; anything else is `None`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion { major: a.parse().ok()?, minor: b.parse().ok()? })
    }

    /// The version Berth advertises.
    pub fn current() -> ApiVersion {
        ApiVersion::parse(API_VERSION).unwrap_or(ApiVersion { major: 1, minor: 47 })
    }

    /// The oldest version Berth accepts.
    pub fn minimum() -> ApiVersion {
        ApiVersion::parse(MIN_API_VERSION).unwrap_or(ApiVersion { major: 1, minor: 24 })
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
