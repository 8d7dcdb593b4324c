//! Files that appear whole or not at all: every writer of the engine goes through
//! [`write_atomic`], which writes a temporary sibling, syncs it and renames it over the final
//! name, and removes the temporary file when anything fails (a full disk, a closed pipe), so a
//! failed write never leaves a half-written file under the real name nor a stray `.tmp` beside it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary sibling of `path`: `.<name>.tmp<pid>`, hidden, and unique per process so that
/// two processes writing the same file do not write into each other's temporary.
fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Writes `path` through `fill`, atomically (see the module's comment).
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let tmp = temp_sibling(path);
    let r = (|| {
        let ctx = |e| Error::io(format!("writing {}", path.display()), e);
        let mut w = BufWriter::new(File::create(&tmp).map_err(ctx)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| ctx(e.into_error()))?;
        f.sync_all().map_err(ctx)?;
        drop(f);
        std::fs::rename(&tmp, path)
            .map_err(|e| Error::io(format!("renaming {} to {}", tmp.display(), path.display()), e))
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// `bytes` as the whole of `path`, atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e)))
}

/// The bytes free for an unprivileged writer on the file system that holds `dir`, where the
/// platform says (statvfs); None elsewhere or when it fails.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Bytes as a person reads them: "3.44 GB".
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.0} kB", n / 1e3)
    }
}

/// The engine's per-user cache folder: `$XDG_CACHE_HOME/engine`, else `~/.cache/engine`; None
/// without either variable. The pipeline cache and the tuning choices live there.
pub fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("engine"))
}
