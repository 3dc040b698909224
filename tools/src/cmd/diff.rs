//! `shoal diff` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {}

/// Runs `shoal diff`.
pub async fn run(_g: &Global, _a: &DiffArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
