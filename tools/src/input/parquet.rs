//! Parquet input (the helper fills this in).
