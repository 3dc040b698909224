//! `shoal inspect` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {}

/// Runs `shoal inspect`.
pub async fn run(_g: &Global, _a: &InspectArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
