//! `berth --help` grouped as docker's: common commands, management commands, the servers this
//! executable also is, then every other command (docker's swarm group has no counterpart).

/// The commands a newcomer needs first, in docker's order.
pub const COMMON: &[&str] = &["run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"];
/// The commands that manage one kind of object through subcommands.
pub const MANAGEMENT: &[&str] = &["builder", "container", "context", "image", "network", "system", "volume"];
/// The servers: `berth` is also the daemon and the registry.
pub const SERVERS: &[&str] = &["daemon", "registry"];

/// The root help template: the visible subcommands of `cmd` under docker's headings (the rest
/// under `Commands:`, sorted), then the global options.
pub fn template(cmd: &clap::Command) -> String {
    let visible: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    let width = visible.iter().map(|c| c.get_name().len()).max().unwrap_or(0) + 2;
    let line = |c: &clap::Command| format!("  {:width$}{}\n", c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default().trim_end_matches('.'));
    let section = |title: &str, names: &[&str]| {
        let mut s = format!("{title}:\n");
        for n in names {
            if let Some(c) = visible.iter().find(|c| c.get_name() == *n) {
                s.push_str(&line(c));
            }
        }
        s
    };
    let grouped: Vec<&str> = COMMON.iter().chain(MANAGEMENT).chain(SERVERS).copied().collect();
    let mut rest: Vec<&str> = visible.iter().map(|c| c.get_name()).filter(|n| !grouped.contains(n)).collect();
    rest.sort_unstable();
    format!(
        "Usage:  berth [OPTIONS] COMMAND\n\n{{about}}\n\n{}\n{}\n{}\n{}\nGlobal Options:\n{{options}}\n\nRun 'berth COMMAND --help' for more information on a command.\n",
        section("Common Commands", COMMON),
        section("Management Commands", MANAGEMENT),
        section("Server Commands", SERVERS),
        section("Commands", &rest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_is_listed_once() {
        let cmd = crate::cli::command();
        let help = cmd.clone().render_help().to_string();
        for c in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
            let n = help.lines().filter(|l| l.split_whitespace().next() == Some(c.get_name()) && l.starts_with("  ")).count();
            assert_eq!(n, 1, "{} listed {n} times in:\n{help}", c.get_name());
        }
        for n in COMMON.iter().chain(MANAGEMENT).chain(SERVERS) {
            assert!(cmd.find_subcommand(n).is_some(), "{n} is not a command");
        }
        assert!(!help.contains("shim"), "internal commands stay hidden");
        assert!(!help.contains("[env:"), "no environment hint: {help}");
    }
}
