//! The parsed form of a Dockerfile: stages of instructions, each keeping its raw (unexpanded) words.
//!
//! Variable substitution is NOT done here: Docker substitutes at dispatch time, with the build args and
//! environment in scope at that step (see [`crate::expand`]). Words that Docker later substitutes are
//! kept with their quotes and escapes so the expander sees exactly what the user wrote.

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The file name used in error messages (`Dockerfile`).
    pub file_name: String,
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// `ARG` instructions before the first `FROM` (the global scope, usable in `FROM` lines).
    pub meta_args: Vec<Instruction>,
    /// Build stages in file order; never empty.
    pub stages: Vec<Stage>,
}

/// Parser directives (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Debug, Clone, PartialEq)]
pub struct Directives {
    /// The `syntax` directive (recorded, not acted on: Berth has one frontend).
    pub syntax: Option<String>,
    /// The escape character: `\` (default) or `` ` ``.
    pub escape: char,
    /// The `check` directive, kept as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { syntax: None, escape: '\\', check: None }
    }
}

/// One build stage: a `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The stage's `AS` name, lowercased (Docker matches stage names case-insensitively).
    pub name: Option<String>,
    /// The `FROM` instruction (its command is [`Command::From`]).
    pub from: Instruction,
    /// The instructions after `FROM`.
    pub instructions: Vec<Instruction>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line of the instruction keyword.
    pub line: usize,
    /// The keyword, uppercased (`RUN`).
    pub keyword: String,
    /// The logical line as written, continuations joined (heredoc bodies not included).
    pub original: String,
    /// `--name[=value]` flags in order; a flag without `=` has `None`.
    pub flags: Vec<(String, Option<String>)>,
    /// The instruction's arguments.
    pub command: Command,
    /// Heredocs opened on this line, in order (RUN, COPY and ADD only).
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The value of the last `--name` flag (`Some("")` for a bare `--name`), if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Every value of a repeatable flag (`--mount`, `--exclude`), in order.
    pub fn flag_all(&self, name: &str) -> Vec<&str> {
        self.flags.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or("")).collect()
    }

    /// Whether a boolean flag (`--link`, `--parents`) is on: given bare or as `=true`.
    pub fn flag_bool(&self, name: &str) -> bool {
        matches!(self.flag(name), Some("" | "true" | "1"))
    }
}

/// A heredoc body (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter word.
    pub name: String,
    /// The body, each line ending in `\n` (tabs already stripped for `<<-`).
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no variable expansion in the body.
    pub expand: bool,
    /// True for `<<-`, which strips leading tabs.
    pub strip_tabs: bool,
}

/// The exec (`["a","b"]`) or shell (`a b`) form of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdLine {
    /// JSON array form, run without a shell.
    Exec(Vec<String>),
    /// Shell form, run with the stage's `SHELL` (default `/bin/sh -c`).
    Shell(String),
}

/// `COPY`/`ADD` arguments (raw words; `<<NAME` sources refer to the instruction's heredocs).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyArgs {
    /// Source paths, globs, URLs or heredoc markers.
    pub sources: Vec<String>,
    /// The destination.
    pub dest: String,
}

/// `HEALTHCHECK` arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [opts] CMD …`; durations in nanoseconds.
    Cmd {
        /// The test command.
        cmd: CmdLine,
        /// `--interval`.
        interval: Option<i64>,
        /// `--timeout`.
        timeout: Option<i64>,
        /// `--start-period`.
        start_period: Option<i64>,
        /// `--start-interval`.
        start_interval: Option<i64>,
        /// `--retries`.
        retries: Option<i64>,
    },
}

/// An instruction's arguments, by instruction.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `FROM [--platform=…] image [AS name]` (image unexpanded).
    From {
        /// The image, a stage name or `scratch`.
        image: String,
        /// The `AS` name as written.
        alias: Option<String>,
    },
    /// `RUN`.
    Run(CmdLine),
    /// `CMD`.
    Cmd(CmdLine),
    /// `ENTRYPOINT`.
    Entrypoint(CmdLine),
    /// `ENV` as raw `key=value` words (legacy `ENV k v` is normalised to one word).
    Env(Vec<String>),
    /// `LABEL` as raw `key=value` words.
    Label(Vec<String>),
    /// `ARG name[=default]` raw words.
    Arg(Vec<String>),
    /// `COPY`.
    Copy(CopyArgs),
    /// `ADD`.
    Add(CopyArgs),
    /// `WORKDIR` (raw).
    Workdir(String),
    /// `USER` (raw).
    User(String),
    /// `STOPSIGNAL` (raw).
    StopSignal(String),
    /// `EXPOSE` raw words.
    Expose(Vec<String>),
    /// `VOLUME` raw words.
    Volume(Vec<String>),
    /// `SHELL` (always JSON).
    Shell(Vec<String>),
    /// `HEALTHCHECK`.
    Healthcheck(Health),
    /// `ONBUILD <instruction>`: the trigger, parsed, plus its text for the image config.
    Onbuild(Box<Instruction>),
    /// `MAINTAINER` (deprecated; sets the image author).
    Maintainer(String),
}
