//! Shared helpers of the format's integration tests.
#![allow(dead_code)]

pub mod mutate;
pub mod random;
