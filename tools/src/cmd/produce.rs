//! `shoal produce` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {}

/// Runs `shoal produce`.
pub async fn run(_g: &Global, _a: &ProduceArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
