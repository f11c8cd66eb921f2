//! Command-line mistakes reported as the docker CLI reports them: one `berth: …` line naming the
//! flag or argument, a pointer to the command's `--help`, and docker's exit statuses (125 for a bad
//! flag, 1 for a missing or unknown command or argument, 0 for help and version).

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// What to print for a failed parse, where, and the exit status.
pub struct Report {
    /// The text, ending in a newline.
    pub text: String,
    /// Whether it goes to stdout (help, version) rather than stderr.
    pub stdout: bool,
    /// The exit status.
    pub code: u8,
}

/// The `run`/`create` flags of docker's CLI that Berth's daemon cannot honour, with the reason;
/// they are refused by name rather than reported as unknown (docs/CLI.md lists them).
pub const UNSUPPORTED_RUN_FLAGS: &[(&str, &str)] = &[
    ("--cpu-count", "a Windows-only option"),
    ("--cpu-percent", "a Windows-only option"),
    ("--io-maxbandwidth", "a Windows-only option"),
    ("--io-maxiops", "a Windows-only option"),
    ("--isolation", "a Windows-only option"),
    ("--kernel-memory", "kernel memory limits are deprecated and not set"),
    ("--use-api-socket", "the daemon socket is not mounted into containers"),
];

/// The report for clap's error `e`, for the command line `argv` (program name first).
pub fn report(e: &clap::Error, argv: &[String]) -> Report {
    let path = command_path(argv);
    let see = format!("See '{path} --help'.\n");
    let fail = |text: String, code: u8| Report { text: format!("berth: {text}\n{see}"), stdout: false, code };
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            Report { text: e.render().to_string(), stdout: true, code: 0 }
        }
        ErrorKind::UnknownArgument => {
            let arg = context(e, ContextKind::InvalidArg);
            if arg.starts_with('-') {
                let flag = arg.split_once('=').map_or(arg.as_str(), |(f, _)| f);
                let is_run = path.ends_with(" run") || path.ends_with(" create");
                match UNSUPPORTED_RUN_FLAGS.iter().find(|(f, _)| *f == flag).filter(|_| is_run) {
                    Some((f, why)) => fail(format!("{f} is not supported: {why}"), 125),
                    None => fail(format!("unknown flag: {flag}"), 125),
                }
            } else {
                fail(format!("'{path}' does not take the argument \"{arg}\""), 1)
            }
        }
        // pflag's words for a value its type refuses.
        ErrorKind::ValueValidation | ErrorKind::InvalidValue if e.get(ContextKind::InvalidValue).is_some() => {
            let flag = context(e, ContextKind::InvalidArg);
            let flag = flag.split([' ', '=']).next().unwrap_or_default();
            let why = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_else(|| {
                let rendered = e.render().to_string();
                rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string()
            });
            fail(format!("invalid argument \"{}\" for \"{flag}\" flag: {why}", context(e, ContextKind::InvalidValue)), 125)
        }
        ErrorKind::InvalidSubcommand => fail(format!("unknown command: {path} {}", context(e, ContextKind::InvalidSubcommand)), 1),
        ErrorKind::MissingRequiredArgument => fail(format!("'{path}' requires {}", context(e, ContextKind::InvalidArg)), 1),
        ErrorKind::TooFewValues if context(e, ContextKind::InvalidArg).starts_with('<') => {
            fail(format!("'{path}' requires at least {} arguments", context(e, ContextKind::MinValues)), 1)
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            fail(first.trim_start_matches("error: ").to_string(), 125)
        }
    }
}

/// A context value of `e` as text (a list joined with spaces).
fn context(e: &clap::Error, kind: ContextKind) -> String {
    match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(" "),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// `berth network create` for `berth -H x network create --driver bridge n`: the program name and
/// the subcommands named on the command line, as far as they are known.
fn command_path(argv: &[String]) -> String {
    let root = super::command();
    let mut cmd = &root;
    let mut path = vec!["berth".to_string()];
    let mut words = argv.iter().skip(1);
    while let Some(w) = words.next() {
        if w == "--" {
            break;
        }
        if w.starts_with('-') {
            // The global options that take a separate value.
            if path.len() == 1 && ["-H", "--host", "--log-level"].contains(&w.as_str()) {
                words.next();
            }
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cmd = sub;
            }
            None => break,
        }
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Report {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = super::super::command().try_get_matches_from(&argv).expect_err("must fail");
        report(&e, &argv)
    }

    #[test]
    fn unknown_flag_before_the_image_is_named() {
        let r = parse(&["berth", "run", "--bogus", "busybox"]);
        assert_eq!((r.code, r.stdout), (125, false));
        assert_eq!(r.text, "berth: unknown flag: --bogus\nSee 'berth run --help'.\n");
        let r = parse(&["berth", "-H", "unix:///x", "container", "create", "--bogus=1", "busybox"]);
        assert_eq!(r.text, "berth: unknown flag: --bogus\nSee 'berth container create --help'.\n");
    }

    #[test]
    fn unsupported_docker_flags_say_why() {
        let r = parse(&["berth", "run", "--use-api-socket", "busybox"]);
        assert_eq!(r.code, 125);
        assert!(r.text.starts_with("berth: --use-api-socket is not supported: "), "{}", r.text);
        let r = parse(&["berth", "ps", "--use-api-socket"]);
        assert!(r.text.starts_with("berth: unknown flag: --use-api-socket"), "{}", r.text);
    }

    #[test]
    fn refused_flags_are_not_flags_of_run() {
        let cmd = super::super::command();
        let run = cmd.find_subcommand("run").unwrap();
        for (flag, _) in UNSUPPORTED_RUN_FLAGS {
            assert!(run.get_arguments().all(|a| a.get_long() != flag.strip_prefix("--")), "{flag} is both accepted and refused");
        }
    }

    #[test]
    fn a_refused_value_is_named_as_pflag_names_it() {
        let r = parse(&["berth", "run", "--device-read-bps", "sda:1mb", "busybox"]);
        assert_eq!(r.code, 125);
        assert_eq!(r.text, "berth: invalid argument \"sda:1mb\" for \"--device-read-bps\" flag: bad format for device path: sda:1mb\nSee 'berth run --help'.\n");
        let r = parse(&["berth", "create", "--blkio-weight=x", "busybox"]);
        assert!(r.text.starts_with("berth: invalid argument \"x\" for \"--blkio-weight\" flag: "), "{}", r.text);
    }

    #[test]
    fn missing_arguments_and_unknown_commands_exit_1() {
        let r = parse(&["berth", "rename", "a"]);
        assert_eq!(r.code, 1);
        assert!(r.text.starts_with("berth: 'berth rename' requires <NEW_NAME>"), "{}", r.text);
        let r = parse(&["berth", "exec", "box"]);
        assert_eq!(r.code, 1);
        assert!(r.text.starts_with("berth: 'berth exec' requires at least 2 arguments"), "{}", r.text);
        let r = parse(&["berth", "frobnicate"]);
        assert_eq!(r.code, 1);
        assert!(r.text.starts_with("berth: unknown command: berth frobnicate"), "{}", r.text);
    }

    #[test]
    fn help_goes_to_stdout_with_status_0() {
        let r = parse(&["berth", "network"]);
        assert_eq!((r.code, r.stdout), (0, true));
        assert!(r.text.contains("connect"), "{}", r.text);
    }
}
