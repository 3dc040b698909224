//! `shoal get` and `shoal dump` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Arguments of `shoal get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {}
/// Arguments of `shoal dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {}

/// Runs `shoal get`.
pub async fn get(_g: &Global, _a: &GetArgs, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
/// Runs `shoal dump`.
pub async fn dump(_g: &Global, _a: &DumpArgs) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
