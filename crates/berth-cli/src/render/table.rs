//! Column alignment like Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`, which the docker CLI
//! uses for every table: cells end at tabs, each column is as wide as its widest cell plus 3
//! (at least 10), and the last cell of a line is not padded.

/// Aligns tab-separated lines.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + 3).max(10);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for cells in &lines {
        let n = cells.len();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                let pad = widths[i] - c.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_like_tabwriter() {
        let t = super::align("REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t1.99MB\n");
        assert_eq!(t, "REPOSITORY   TAG       SIZE\nbusybox      latest    1.99MB\n");
    }
}
