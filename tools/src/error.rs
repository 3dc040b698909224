//! The error every command returns: one line for a person (what, where, what to do) and the
//! process exit code (1 for a failure, 2 for bad usage).

use std::fmt;

/// A command failed.
#[derive(Debug)]
pub struct CliError {
    /// The line printed after `error: `.
    pub message: String,
    /// The process exit code.
    pub code: u8,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn fail(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }

    /// Bad usage (exit code 2): an argument the command cannot work with.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 2,
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::fail(e.to_string())
            }
        }
    )*};
}

from_error!(
    shoal_store::Error,
    shoal_format::Error,
    shoal_producer::Error,
    shoal_consumer::Error,
    std::io::Error,
    serde_json::Error
);

/// A command's result.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
