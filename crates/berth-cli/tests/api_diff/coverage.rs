//! The coverage table: every endpoint and parameter of the v1.47 swagger (endpoints.txt) with what
//! the harness found — same as dockerd, differs (why), refused or different by design (decisions.txt),
//! or not yet compared — rendered as docs/API-COVERAGE.md.

use crate::cases::Case;
use std::collections::BTreeMap;
use std::path::Path;

/// What one case found.
pub struct Outcome<'a> {
    pub case: &'a Case,
    pub same: bool,
    /// The documented reason, for a case listed in known-differences.txt.
    pub reason: Option<String>,
}

/// The rendered table and its one-line summary.
pub struct Table {
    pub markdown: String,
    pub summary: String,
}

enum Verdict {
    Same(Vec<String>),
    SameSwagger(Vec<String>),
    Differs(String, Vec<String>),
    Decided(String, String),
    NotYet,
}

/// Builds the table from the endpoint list, the decisions, the notes and the outcomes.
pub fn table(endpoints: &Path, decisions: &Path, notes: &Path, outcomes: &[Outcome]) -> Table {
    let eps = std::fs::read_to_string(endpoints).expect("endpoints.txt");
    let dec_text = std::fs::read_to_string(decisions).expect("decisions.txt");
    // (endpoint, param or "*") -> (kind, reason)
    let mut dec: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for l in dec_text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        assert!(f.len() == 4, "decisions.txt: want ENDPOINT<TAB>PARAM|*<TAB>KIND<TAB>REASON, got {l:?}");
        dec.insert((f[0].to_string(), f[1].to_string()), (f[2].to_string(), f[3].to_string()));
    }
    // (endpoint, param) -> a difference within a parameter whose compared cases answer the same.
    let mut note: BTreeMap<(String, String), String> = BTreeMap::new();
    for l in std::fs::read_to_string(notes).expect("notes.txt").lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        assert!(f.len() == 3, "notes.txt: want ENDPOINT<TAB>PARAM<TAB>NOTE, got {l:?}");
        note.insert((f[0].to_string(), f[1].to_string()), f[2].to_string());
    }
    let mut md = String::new();
    let (mut n_eps, mut n_params) = (0, 0);
    let (mut eps_compared, mut same, mut differs, mut decided, mut not_yet) = (0, 0, 0, 0, 0);
    let mut rows = String::new();
    for line in eps.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else { continue };
        let ep = format!("{method} {path}");
        let params: Vec<&str> = words.collect();
        n_eps += 1;
        let ep_cases: Vec<&Outcome> = outcomes.iter().filter(|o| o.case.ep == ep).collect();
        if !ep_cases.is_empty() {
            eps_compared += 1;
        }
        let verdict_for = |param: Option<&str>| -> Verdict {
            let covering: Vec<&&Outcome> = ep_cases.iter().filter(|o| param.is_none_or(|p| o.case.params.contains(&p))).collect();
            let names = |v: &[&&Outcome]| v.iter().map(|o| o.case.name.to_string()).collect::<Vec<_>>();
            if let Some(o) = covering.iter().find(|o| !o.same) {
                let why = o.reason.clone().unwrap_or_else(|| "not yet documented (the harness fails)".into());
                return Verdict::Differs(why, vec![o.case.name.to_string()]);
            }
            if !covering.is_empty() {
                let (swagger, dockerd): (Vec<&&Outcome>, Vec<&&Outcome>) = covering.iter().partition(|o| o.case.berth_only.is_some());
                return if dockerd.is_empty() { Verdict::SameSwagger(names(&swagger)) } else { Verdict::Same(names(&dockerd)) };
            }
            let key = (ep.clone(), param.unwrap_or("*").to_string());
            if let Some((k, r)) = dec.get(&key).or_else(|| dec.get(&(ep.clone(), "*".to_string()))) {
                return Verdict::Decided(k.clone(), r.clone());
            }
            Verdict::NotYet
        };
        let mut render = |label: &str, v: Verdict, count: bool| {
            let text = match v {
                Verdict::Same(c) => {
                    if count {
                        same += 1;
                    }
                    format!("same ({})", c.join(", "))
                }
                Verdict::SameSwagger(c) => {
                    if count {
                        same += 1;
                    }
                    format!("as the v1.47 swagger says; dockerd 20.10 not asked ({})", c.join(", "))
                }
                Verdict::Differs(r, c) => {
                    if count {
                        differs += 1;
                    }
                    format!("**differs**: {r} ({})", c.join(", "))
                }
                Verdict::Decided(k, r) => {
                    if count {
                        decided += 1;
                    }
                    format!("{k}: {r}")
                }
                Verdict::NotYet => {
                    if count {
                        not_yet += 1;
                    }
                    "not yet compared".to_string()
                }
            };
            let text = match note.get(&(ep.clone(), label.trim_matches('`').to_string())) {
                Some(n) => format!("{text}; **note**: {n}"),
                None => text,
            };
            rows.push_str(&format!("| `{ep}` | {label} | {} |\n", text.replace('|', "\\|")));
        };
        render("(endpoint)", verdict_for(None), false);
        for p in &params {
            n_params += 1;
            render(&format!("`{p}`"), verdict_for(Some(p)), true);
        }
    }
    let summary = format!(
        "{n_eps} endpoints, {n_params} parameters; {eps_compared} endpoints compared by {} cases; parameters: {same} same, {differs} documented differences, {decided} decided by design, {not_yet} not yet compared",
        outcomes.len()
    );
    md.push_str("# Docker Engine API coverage\n\n");
    md.push_str("Generated by the differential harness (`crates/berth-cli/tests/api_diff.rs`; `API_DIFF_UPDATE=1 cargo test -p berth-cli --test api_diff` rewrites it; the test fails when this file is stale). ");
    md.push_str("The harness starts a private dockerd (Debian's docker.io 20.10, API 1.41) and a Berth daemon, imports the BusyBox fixture on both, sends both the same request sequence at `/v1.41` and compares status codes, header names (case-sensitive) and values, JSON structure and values, JSON-lines streams and Docker's 8-byte stream framing, after normalising ids, timestamps, addresses, sizes, versions and data roots.\n\n");
    md.push_str("Endpoints and parameters are those of the v1.47 swagger (`crates/berth-cli/tests/api_diff/endpoints.txt`). A parameter is *same* when a case that exercises it answered as dockerd; *differs* lists the documented reason (`known-differences.txt`); decisions not driven by a case are in `decisions.txt`; a *note* (`notes.txt`) tells a difference the compared cases do not show. Features dockerd 20.10 lacks (API 1.42+) are checked against the swagger on Berth alone and say so.\n\n");
    md.push_str(&format!("**{summary}.**\n\n"));
    md.push_str("| Endpoint | Parameter | Berth vs dockerd |\n|---|---|---|\n");
    md.push_str(&rows);
    Table { markdown: md, summary }
}
