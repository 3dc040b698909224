//! `shoal versions` (being written).

use crate::cli::Global;
use crate::error::{CliError, Result};
use crate::ui::Out;

/// Runs `shoal versions`.
pub async fn run(_g: &Global, _out: Out) -> Result<()> {
    Err(CliError::fail("not written yet"))
}
