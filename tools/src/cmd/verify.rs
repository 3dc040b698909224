//! `shoal verify` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Runs `shoal verify`.
pub async fn run(_g: &Global, _a: &VerifyArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
