//! A Parquet data set: the part files a warehouse engine (Spark, Trino, pyarrow) writes into
//! a folder or under an S3 prefix, and the partition values their folders carry.
//!
//! As Hive and Spark read a data set: every file is a part file unless a segment of its path
//! starts with `.` or `_` (Spark's `.crc` side files, `_SUCCESS`, `_temporary/`, `_delta_log/`),
//! whatever its name (Trino's part files have no extension); a file that is then not Parquet
//! is an error, not skipped. A folder named `key=value` gives every part file below it the
//! partition value `value` for `key` (Hive's `%XX` escaping undone). Parts are read in the
//! order of their paths, so a data set is read the same way every time.

use std::path::{Path, PathBuf};

use super::InputError;

/// One part file of a data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its path below the data set's root, `/`-separated (`year=1995/part-00000.parquet`).
    pub key: String,
    /// The partition values of its folders, outermost first: (`year`, `1995`).
    pub partitions: Vec<(String, String)>,
}

impl Part {
    /// The part at `key` (below the root), or `None` when a segment of the path is hidden
    /// (`.`) or private (`_`) to the engine that wrote it.
    pub fn from_key(key: &str) -> Option<Part> {
        let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
        let (file, folders) = segments.split_last()?;
        if segments
            .iter()
            .any(|s| s.starts_with('.') || s.starts_with('_'))
        {
            return None;
        }
        let partitions = folders
            .iter()
            .filter_map(|folder| folder.split_once('='))
            .map(|(k, v)| (unescape(k), unescape(v)))
            .collect();
        Some(Part {
            key: format!("{}/{file}", folders.join("/"))
                .trim_start_matches('/')
                .to_string(),
            partitions,
        })
    }
}

/// The parts of the data set in the folder `root`, in the order of their paths. Fails when
/// the folder cannot be read or holds no part file.
pub fn list_folder(root: &Path) -> Result<Vec<Part>, InputError> {
    let mut keys = Vec::new();
    walk(root, root, &mut keys)?;
    let parts = parts_of(keys);
    if parts.is_empty() {
        return Err(no_parts(&root.display().to_string()));
    }
    Ok(parts)
}

/// The parts among `keys` (paths below a data set's root), sorted by path.
pub fn parts_of(keys: impl IntoIterator<Item = String>) -> Vec<Part> {
    let mut parts: Vec<Part> = keys
        .into_iter()
        .filter_map(|k| Part::from_key(&k))
        .collect();
    parts.sort_by(|a, b| a.key.cmp(&b.key));
    parts
}

/// The error for a data set without a part file.
pub fn no_parts(location: &str) -> InputError {
    InputError::file(
        location,
        "no part file here (every file is hidden, `.`, or private, `_`): nothing to read",
    )
}

/// Collects the paths of the files below `dir`, relative to `root`, skipping hidden and
/// private folders without entering them.
fn walk(root: &Path, dir: &Path, keys: &mut Vec<String>) -> Result<(), InputError> {
    let name = dir.display().to_string();
    let unreadable = |e: std::io::Error| InputError::file(&name, format!("cannot list: {e}"));
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') || file_name.starts_with('_') {
            continue;
        }
        let path: PathBuf = entry.path();
        if entry.file_type().map_err(unreadable)?.is_dir() {
            walk(root, &path, keys)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let segments: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            keys.push(segments.join("/"));
        }
    }
    Ok(())
}

/// Undoes Hive's escaping of partition folder names (`%2F` for `/`, `%3D` for `=`); a `%`
/// not followed by two hex digits stays as it is.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_files_are_skipped_and_partition_folders_give_values() {
        let keys = [
            "_SUCCESS",
            "year=1995/.part-00001-a.c000.snappy.parquet.crc",
            "year=1995/part-00001-a.c000.snappy.parquet",
            "year=1994/country=US/part-00000-a.c000.snappy.parquet",
            "_temporary/0/part-00009.parquet",
            "year=__HIVE_DEFAULT_PARTITION__/20240101_trino_part",
            "title=a%2Fb%3Dc/part-0.parquet",
        ];
        let parts = parts_of(keys.iter().map(|k| k.to_string()));
        let seen: Vec<(&str, Vec<(&str, &str)>)> = parts
            .iter()
            .map(|p| {
                let values = p.partitions.iter();
                (
                    p.key.as_str(),
                    values.map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("title=a%2Fb%3Dc/part-0.parquet", vec![("title", "a/b=c")]),
                (
                    "year=1994/country=US/part-00000-a.c000.snappy.parquet",
                    vec![("year", "1994"), ("country", "US")]
                ),
                (
                    "year=1995/part-00001-a.c000.snappy.parquet",
                    vec![("year", "1995")]
                ),
                (
                    "year=__HIVE_DEFAULT_PARTITION__/20240101_trino_part",
                    vec![("year", "__HIVE_DEFAULT_PARTITION__")]
                ),
            ]
        );
    }

    #[test]
    fn a_folder_is_walked_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("year=2001/_temporary")).unwrap();
        std::fs::write(root.join("year=2001/part-0.parquet"), b"x").unwrap();
        std::fs::write(root.join("year=2001/_temporary/part-1.parquet"), b"x").unwrap();
        std::fs::write(root.join("_SUCCESS"), b"").unwrap();
        let parts = list_folder(root).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].key, "year=2001/part-0.parquet");
        std::fs::remove_file(root.join("year=2001/part-0.parquet")).unwrap();
        let e = list_folder(root).unwrap_err();
        assert!(e.message.contains("no part file"), "{e}");
    }
}
