//! `shoal bench` (being written).

use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

/// Runs `shoal bench`.
pub async fn run(_a: &BenchArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
