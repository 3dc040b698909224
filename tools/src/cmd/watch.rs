//! `shoal watch` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {}

/// Runs `shoal watch`.
pub async fn run(_g: &Global, _a: &WatchArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
