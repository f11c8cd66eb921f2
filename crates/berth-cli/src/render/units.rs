//! Sizes and durations exactly as Docker's `go-units` prints them.

/// `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits (`4.26MB`, `123B`).
pub fn human_size(bytes: f64) -> String {
    human_size_digits(bytes, 3)
}

/// `HumanSizeWithPrecision(size, digits)`: decimal units, `digits` significant digits (Go's `%.Ng`
/// for values below 1000); the progress bars use 4 (`HumanSize`), the tables 3.
pub fn human_size_digits(bytes: f64, digits: i32) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if v <= 0.0 {
        return format!("0{}", UNITS[i]);
    }
    let decimals = (digits - 1 - v.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    // %g drops trailing zeros.
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", UNITS[i])
}

pub use berth_api::units::{human_binary_size, human_duration};

/// "N units ago" for a Unix timestamp.
pub fn since(unix: i64) -> String {
    format!("{} ago", human_duration(chrono::Utc::now().timestamp() - unix))
}

/// Go's `time.Time.String()`-like form Docker prints for `CreatedAt`: `2026-11-28 04:16:06 +0000 UTC`.
pub fn created_at(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(123.0), "123B");
        assert_eq!(human_size(1985526.0), "1.99MB");
        assert_eq!(human_size(12471275.0), "12.5MB");
        assert_eq!(human_size(106843112.0), "107MB");
        assert_eq!(human_size(4000000.0), "4MB");
        assert_eq!(human_size(1050.0), "1.05kB");
    }
}
