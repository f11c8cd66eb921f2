//! The Dockerfile parser and the word expansion the builder applies to its arguments: any text either
//! parses or is refused with a line-numbered error, and expansion never panics or loops.
#![no_main]

use berth_build::expand::process_word;
use berth_build::{parse, Command, Instruction};
use libfuzzer_sys::fuzz_target;

fn vars(name: &str) -> Option<String> {
    // A few set variables (one empty, one holding expansion syntax), the rest unset.
    match name {
        "A" => Some("alpha".into()),
        "E" => Some(String::new()),
        "S" => Some("${A:-$B}".into()),
        _ => None,
    }
}

fn words(i: &Instruction) -> Vec<&str> {
    match &i.command {
        Command::From { image, .. } => vec![image.as_str()],
        Command::Env(w) | Command::Label(w) | Command::Arg(w) | Command::Expose(w) | Command::Volume(w) => {
            w.iter().map(String::as_str).collect()
        }
        Command::Copy(c) | Command::Add(c) => c.sources.iter().chain([&c.dest]).map(String::as_str).collect(),
        Command::Workdir(w) | Command::User(w) | Command::StopSignal(w) => vec![w.as_str()],
        Command::Onbuild(t) => words(t),
        _ => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text, "Dockerfile") {
        Ok(df) => {
            let escape = df.directives.escape;
            for i in df.meta_args.iter().chain(df.stages.iter().flat_map(|s| std::iter::once(&s.from).chain(&s.instructions))) {
                assert!(i.line >= 1, "instruction line numbers start at 1");
                for w in words(i) {
                    let _ = process_word(w, &vars, escape);
                }
                let _ = (i.flag("from"), i.flag_all("exclude"), i.flag_bool("link"));
            }
        }
        Err(e) => {
            assert!(e.line <= text.split('\n').count() + 1, "error line {} past the end: {e}", e.line);
        }
    }
    // Expansion alone, with both escape characters, on the raw text.
    let _ = process_word(text, &vars, '\\');
    let _ = process_word(text, &vars, '`');
});
