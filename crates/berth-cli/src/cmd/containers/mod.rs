//! Container verbs, one module per concern: the create request, run/create, attaching, lifecycle
//! changes, listing and logs, exec, and filesystem changes.

mod attach;
mod changes;
mod exec;
mod kv_file;
mod lifecycle;
mod list;
mod ports_mounts;
mod run;
mod spec;

pub use attach::*;
pub use changes::*;
pub use exec::*;
pub use kv_file::*;
pub use lifecycle::*;
pub use list::*;
pub use ports_mounts::*;
pub use run::*;
pub use spec::*;

use super::filters_param;
use super::system::{event_time, short_id};
use crate::cli::{ExecArgs, KillArgs, LogsArgs, NamesArgs, PruneArgs, PsArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs, UpdateArgs};
use crate::render::template::Format;
use crate::render::units::{created_at, human_size, since};
use berth_client::{Client, ClientError};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
