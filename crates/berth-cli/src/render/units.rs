//! Sizes and durations exactly as Docker's `go-units` prints them.

/// `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits (`4.26MB`, `123B`).
pub fn human_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g3(v), UNITS[i])
}

/// Go's `%.3g` for values below 1000.
fn format_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    // %g drops trailing zeros; 999.5 rounds to "1000" which %g would print as "1e+03": keep it simple.
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
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
