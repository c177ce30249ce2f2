//! Writing an output folder as one unit.
//!
//! Rationale: a reader (a person, a script, a report build) must never see a folder that
//! mixes files of two runs, or a half-written folder after a failed run. So every file
//! is rendered in memory first (a render failure writes nothing), the files are written
//! into a fresh hidden sibling folder `.<name>.tmp-<pid>` on the same file system, and
//! that folder then takes the place of the old one by renames: the old folder is moved
//! aside to `.<name>.old-<pid>`, the new one is renamed into place and the old one is
//! deleted. A rename within one file system is atomic, so the only window in which
//! `dir` is absent is between the two renames; on any failure the temporary folder is
//! removed and the old folder put back.
//!
//! Because the old folder is replaced as a whole, files in it that this run does not
//! write disappear. To protect folders that were never outputs, an existing non-empty
//! folder is only replaced if it holds at least one file with a name this run writes.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::export::Exporter;
use crate::results::RunResults;

/// Renders `results` with every exporter and writes the files into the folder `dir`,
/// replacing the folder as a whole; returns the paths written, in exporter order.
///
/// Missing parent folders of `dir` are created. If `dir` exists it must be a folder
/// (not a file or symbolic link) that is empty or holds at least one file named like an
/// output of `exporters`; it is then replaced, and files in it that are not written
/// again do not survive. Nothing is written if any exporter fails to render; that
/// exporter's error is returned. I/O failures return [`Error::Write`] after removing
/// the temporary folder and restoring the old `dir`.
///
/// If the old folder cannot be deleted once the new one is in place, it is left behind
/// as `.<name>.old-<pid>` next to `dir` and the call still succeeds, since the outputs
/// are complete.
pub fn write_outputs(
    dir: &Path,
    results: &RunResults,
    exporters: &[Box<dyn Exporter>],
) -> Result<Vec<PathBuf>> {
    let files = render_all(dir, results, exporters)?;
    write_folder(dir, &files)
}

/// Writes already rendered `files` (name, bytes) into the folder `dir`, replacing the
/// folder as a whole, with the guarantees of [`write_outputs`]; returns the paths
/// written. Names may hold one sub-folder (`charts/a.svg`). For every command that
/// writes an output folder (`run`, `compare`, `backtest`).
pub fn write_folder(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<Vec<PathBuf>> {
    let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();

    let Some(dir_name) = dir.file_name() else {
        return Err(write_error(
            dir,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the output path must end in a folder name",
            ),
        ));
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| write_error(&parent, e))?;

    let pid = std::process::id();
    let tmp = parent.join(sibling_name(dir_name, &format!("tmp-{pid}")));
    let old = parent.join(sibling_name(dir_name, &format!("old-{pid}")));

    // A leftover of a crashed run that had the same process id.
    remove_any(&tmp).map_err(|e| write_error(&tmp, e))?;
    fs::create_dir(&tmp).map_err(|e| write_error(&tmp, e))?;

    let fail = |error: Error| {
        // Best effort: the error being returned matters more than a cleanup failure.
        let _ = fs::remove_dir_all(&tmp);
        error
    };

    for (name, bytes) in files {
        let path = tmp.join(name);
        if let Some(sub) = path.parent().filter(|p| *p != tmp) {
            fs::create_dir_all(sub).map_err(|e| fail(write_error(sub, e)))?;
        }
        write_synced(&path, bytes).map_err(|e| fail(write_error(&path, e)))?;
    }

    let existed = match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            check_replaceable(dir, &names).map_err(|e| fail(write_error(dir, e)))?;
            true
        }
        Ok(meta) => {
            let what = if meta.file_type().is_symlink() {
                "is a symbolic link; give the folder it points to instead"
            } else {
                "exists and is not a folder"
            };
            return Err(fail(write_error(
                dir,
                io::Error::new(io::ErrorKind::AlreadyExists, what),
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(fail(write_error(dir, e))),
    };

    if existed {
        remove_any(&old).map_err(|e| fail(write_error(&old, e)))?;
        fs::rename(dir, &old).map_err(|e| fail(write_error(dir, e)))?;
    }
    if let Err(e) = fs::rename(&tmp, dir) {
        if existed {
            // If this fails too, the old outputs stay safe under their temporary name.
            let _ = fs::rename(&old, dir);
        }
        return Err(fail(write_error(dir, e)));
    }
    if existed {
        let _ = fs::remove_dir_all(&old);
    }
    sync_dir(&parent);

    Ok(names.iter().map(|name| dir.join(name)).collect())
}

/// Renders every file in memory, checking that the file names are plain and distinct.
fn render_all(
    dir: &Path,
    results: &RunResults,
    exporters: &[Box<dyn Exporter>],
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut files: Vec<(&'static str, Vec<u8>)> = Vec::with_capacity(exporters.len());
    for exporter in exporters {
        let name = exporter.file_name();
        // A plain file name, or one sub-folder and a file name (`charts/a.svg`).
        let mut components = Path::new(name).components();
        let plain = matches!(
            (components.next(), components.next(), components.next()),
            (Some(Component::Normal(_)), None, None)
                | (Some(Component::Normal(_)), Some(Component::Normal(_)), None)
        );
        if !plain {
            return Err(write_error(
                &dir.join(name),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an output file name must be a plain file name, or one sub-folder and a file name",
                ),
            ));
        }
        if files.iter().any(|(other, _)| *other == name) {
            return Err(write_error(
                &dir.join(name),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "two exporters write the same file",
                ),
            ));
        }
        files.push((name, exporter.render(results)?));
    }
    Ok(files)
}

/// `.<name>.<suffix>`: a hidden sibling of the output folder.
fn sibling_name(dir_name: &std::ffi::OsStr, suffix: &str) -> OsString {
    let mut name = OsString::from(".");
    name.push(dir_name);
    name.push(".");
    name.push(suffix);
    name
}

/// Refuses to replace a non-empty folder that holds none of the files to be written.
fn check_replaceable(dir: &Path, names: &[&str]) -> io::Result<()> {
    let mut empty = true;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        empty = false;
        if names.iter().any(|name| entry.file_name() == **name) {
            return Ok(());
        }
    }
    if empty {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "the folder exists and does not look like an earlier output (it holds none of {}); \
             remove it or choose another folder",
            names.join(", ")
        ),
    ))
}

/// Removes a file or folder at `path` if there is one.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to a new file and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes a folder's entries (the renames) to disk where the OS supports it.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        // Best effort: the renames are done; this only hastens their durability.
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// An [`Error::Write`] for `path`.
fn write_error(path: &Path, source: io::Error) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one file atomically: into a temporary sibling, flushed, then renamed over
/// `path` (parents created as needed). A failure leaves no partial file at `path`.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    }
    let name = path.file_name().unwrap_or_default();
    let tmp = path.with_file_name(sibling_name(name, &format!("tmp-{}", std::process::id())));
    let done = write_synced(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = fs::remove_file(&tmp);
        return Err(write_error(path, e));
    }
    Ok(())
}
