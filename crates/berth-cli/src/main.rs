//! `berth`: the client verbs, and the `daemon` and `registry` servers, in one executable.

mod cli;
mod cmd;
mod render;
mod sys;

use clap::FromArgMatches;
use cli::{BuilderCmd, Cli, Command, ContainerCmd, ImageCmd, SystemCmd};
use std::io::Write;
use std::process::ExitCode;

/// The parsed command line, or the exit status after a parse error (reported as docker's CLI does).
fn parse() -> Result<Cli, ExitCode> {
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let parsed = cli::parse_server(&argv).unwrap_or_else(|| cli::command().try_get_matches_from(&argv).and_then(|m| Cli::from_arg_matches(&m)));
    parsed.map_err(|e| {
        let r = cli::parse_error::report(&e, &argv);
        let _ = if r.stdout { std::io::stdout().write_all(r.text.as_bytes()) } else { std::io::stderr().write_all(r.text.as_bytes()) };
        ExitCode::from(r.code)
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    // The shim must stay single-threaded (libcontainer clones without exec): no async runtime.
    if let Command::Shim(s) = &args.command {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
        let code = berth_shim::run(berth_shim::ShimArgs { id: s.id.clone(), dir: s.dir.clone(), state_root: s.state_root.clone(), exec_dir: s.exec_dir.clone() });
        return ExitCode::from(code as u8);
    }
    // An ordinary user's daemon is rootless: this process becomes the namespaces' owner, and the
    // daemon runs in its child (which enters the namespaces here, before any thread starts).
    if matches!(args.command, Command::Daemon(_)) {
        if let cmd::rootless::Entry::Exit(code) = cmd::rootless::enter() {
            return code;
        }
    }
    if matches!(args.command, Command::Registry(_)) {
        if let Some(code) = exec_registry() {
            return code;
        }
    }
    if matches!(args.command, Command::Daemon(_) | Command::Registry(_)) {
        sys::single_malloc_arena();
    }
    if matches!(args.command, Command::Registry(_)) {
        sys::return_freed_memory();
    }
    // The daemon and the registry get a worker per core (blocking work has its own pool: see
    // berth-daemon's `service::offload`); a client needs no more than two. The registry's blocking
    // threads (file I/O) end after 2 s idle rather than 10, so their stacks and malloc caches do not
    // stay resident on an idle registry after a burst.
    let workers = match args.command {
        Command::Daemon(_) | Command::Registry(_) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2),
        _ => 2,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    if matches!(args.command, Command::Registry(_)) {
        builder.thread_keep_alive(std::time::Duration::from_secs(2));
    }
    // The daemon's runtime threads run above its own CPU priority (its blocking work, shims and
    // containers stay at it), so the control path is served first on a busy machine.
    if matches!(args.command, Command::Daemon(_)) {
        builder.on_thread_start(berth_daemon::priority::thread_started);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", cmd::describe(&e));
            ExitCode::FAILURE
        }
    };
    // A read of our stdin may still be blocked (after a detach, or when the container ended first):
    // do not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    code
}

/// Replaces this process with `berth-registry` from beside this executable, given the arguments
/// that followed `registry` (already checked by the parse above): the registry alone keeps far
/// fewer pages of its executable resident than `berth` with the client and daemon. Returns only if
/// that failed; `None` if it is not installed, and the registry runs in this process.
fn exec_registry() -> Option<ExitCode> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().ok()?.with_file_name("berth-registry");
    if !exe.is_file() {
        return None;
    }
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let at = argv.iter().skip(1).position(|a| a == "registry")? + 1;
    let err = std::process::Command::new(&exe).arg0("berth-registry").args(&argv[at + 1..]).exec();
    eprintln!("berth: cannot run {}: {err}", exe.display());
    Some(ExitCode::FAILURE)
}

async fn run(args: Cli) -> anyhow::Result<ExitCode> {
    let sel = berth_client::context::Selection::new(args.host.clone(), args.context.clone());
    let tls = args.tls.clone();
    let client = || cmd::client(&sel, &tls);
    match args.command {
        Command::Daemon(a) => return cmd::daemon::run(a).await,
        Command::Registry(a) => return cmd::registry::run(a).await,
        Command::Completion(a) => return cmd::docs::completion(a.shell),
        Command::Man(a) => return cmd::docs::man(&a.dir),
        _ => init_client_logging(&args.log_level),
    }
    match args.command {
        Command::Daemon(_) | Command::Registry(_) | Command::Shim(_) | Command::Completion(_) | Command::Man(_) => unreachable!("handled above"),
        Command::Run(a) | Command::Container(ContainerCmd::Run(a)) => cmd::containers::run(&client()?, a.resolved()).await,
        Command::Create(a) | Command::Container(ContainerCmd::Create(a)) => cmd::containers::create(&client()?, a.resolved()).await,
        Command::Start(a) | Command::Container(ContainerCmd::Start(a)) => cmd::containers::start(&client()?, a).await,
        Command::Stop(a) | Command::Container(ContainerCmd::Stop(a)) => cmd::containers::stop(&client()?, a, "stop").await,
        Command::Restart(a) | Command::Container(ContainerCmd::Restart(a)) => cmd::containers::stop(&client()?, a, "restart").await,
        Command::Kill(a) | Command::Container(ContainerCmd::Kill(a)) => cmd::containers::kill(&client()?, a).await,
        Command::Rm(a) | Command::Container(ContainerCmd::Rm(a)) => cmd::containers::rm(&client()?, a).await,
        Command::Ps(a) | Command::Container(ContainerCmd::Ls(a)) => cmd::containers::ps(&client()?, a).await,
        Command::Logs(a) | Command::Container(ContainerCmd::Logs(a)) => cmd::containers::logs(&client()?, a).await,
        Command::Wait(a) | Command::Container(ContainerCmd::Wait(a)) => cmd::containers::wait(&client()?, a).await,
        Command::Container(ContainerCmd::Inspect(a)) => cmd::containers::inspect(&client()?, a.images, a.format).await,
        Command::Container(ContainerCmd::Prune(a)) => cmd::containers::prune(&client()?, a).await,
        Command::Build(a) => cmd::build::build(&client()?, a).await,
        Command::Commit { message, author, change, container, reference } => {
            cmd::containers::commit(&client()?, &container, reference.as_deref(), message.as_deref(), author.as_deref(), &change).await
        }
        Command::Diff { container } => cmd::containers::diff(&client()?, &container).await,
        Command::Update(a) => cmd::containers::update(&client()?, a).await,
        Command::Export { output, container } => cmd::containers::export(&client()?, &container, output.as_deref()).await,
        Command::Attach(a) => cmd::containers::attach(&client()?, a).await,
        Command::Pull(a) => cmd::registry_client::pull(&client()?, a).await,
        Command::Push(a) => cmd::registry_client::push(&client()?, a).await,
        Command::Login(a) => cmd::registry_client::login(&client()?, a).await,
        Command::Logout { server } => cmd::registry_client::logout(server).await,
        Command::Pause(a) => cmd::containers::pause(&client()?, a, "pause").await,
        Command::Unpause(a) => cmd::containers::pause(&client()?, a, "unpause").await,
        Command::Rename { container, new_name } => cmd::containers::rename(&client()?, &container, &new_name).await,
        Command::Top { container } => cmd::containers::top(&client()?, &container).await,
        Command::Stats(a) => cmd::containers::stats(&client()?, a).await,
        Command::Exec(a) | Command::Container(ContainerCmd::Exec(a)) => cmd::containers::exec(&client()?, a.resolved()).await,
        Command::Cp(a) | Command::Container(ContainerCmd::Cp(a)) => cmd::cp::run(&client()?, a).await,
        Command::Network(n) => cmd::networks::run(&client()?, n).await,
        Command::Port { container, private } => cmd::containers::port(&client()?, &container, private.as_deref()).await,
        Command::Volume(v) => cmd::volumes::run(&client()?, v).await,
        Command::Builder(BuilderCmd::Prune { all, filter, keep_storage, force }) => cmd::build::prune(&client()?, all, filter, keep_storage, force).await,
        Command::Version(a) => cmd::system::version(&client()?, a).await,
        Command::Info(a) | Command::System(SystemCmd::Info(a)) => cmd::system::info(&client()?, a).await,
        Command::Context(c) => cmd::context::run(&sel, c),
        Command::Rootless(cli::RootlessCmd::Setup { install_unit }) => cmd::rootless::setup::run(install_unit),
        Command::System(SystemCmd::DialStdio) => cmd::dial_stdio::run(&client()?).await,
        Command::System(SystemCmd::Df(a)) => cmd::system::df(&client()?, a).await,
        Command::System(SystemCmd::Check { quick, repair, force, format }) => cmd::system::check(&client()?, quick, repair, force, format).await,
        Command::System(SystemCmd::Prune { all, volumes, force, filter }) => cmd::system::prune(&client()?, all, volumes, force, filter).await,
        Command::Events(a) | Command::System(SystemCmd::Events(a)) => cmd::system::events(&client()?, a).await,
        Command::Images(a) | Command::Image(ImageCmd::Ls(a)) => cmd::images::list(&client()?, a).await,
        Command::Image(ImageCmd::Inspect(a)) => cmd::images::inspect(&client()?, a.images, a.format).await,
        Command::Inspect(a) => cmd::images::inspect_any(&client()?, a).await,
        Command::History(a) | Command::Image(ImageCmd::History(a)) => cmd::images::history(&client()?, a).await,
        Command::Search(a) => cmd::images::search(&client()?, a).await,
        Command::Tag(a) | Command::Image(ImageCmd::Tag(a)) => cmd::images::tag(&client()?, a).await,
        Command::Rmi(a) | Command::Image(ImageCmd::Rm(a)) => cmd::images::rmi(&client()?, a).await,
        Command::Image(ImageCmd::Prune(a)) => cmd::images::prune(&client()?, a).await,
        Command::Import(a) | Command::Image(ImageCmd::Import(a)) => cmd::images::import(&client()?, a).await,
        Command::Save(a) | Command::Image(ImageCmd::Save(a)) => cmd::images::save(&client()?, a).await,
        Command::Load(a) | Command::Image(ImageCmd::Load(a)) => cmd::images::load(&client()?, a).await,
    }
}

fn init_client_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init();
}
