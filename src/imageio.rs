//! Images in and out: PNG files with their generation settings in text chunks, and numbered
//! output names that never overwrite an earlier run's files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes 8-bit RGB `pixels` ([H, W, 3], row-major) as a PNG with `text` as tEXt/iTXt chunks.
pub fn save_png(path: &Path, width: usize, height: usize, pixels: &[u8], text: &[(&str, String)]) -> Result<()> {
    let bad = |e: png::EncodingError| match e {
        png::EncodingError::IoError(e) => Error::io(format!("writing {}", path.display()), e),
        e => Error::invalid("png", format!("{}: {e}", path.display())),
    };
    crate::fsutil::write_atomic(path, |out| {
        let mut enc = png::Encoder::new(out, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        for (k, v) in text {
            // tEXt is Latin-1 only; prompts may hold any character, so those go in iTXt.
            if v.is_ascii() {
                enc.add_text_chunk(k.to_string(), v.clone())
            } else {
                enc.add_itxt_chunk(k.to_string(), v.clone())
            }
            .map_err(bad)?;
        }
        let mut w = enc.write_header().map_err(bad)?;
        w.write_image_data(pixels).map_err(bad)?;
        w.finish().map_err(bad)
    })
}

/// The text chunks of a PNG (tEXt, zTXt and iTXt), for tests and for reading settings back.
pub fn png_text(path: &Path) -> Result<Vec<(String, String)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_ignore_text_chunk(false);
    let reader = dec.read_info().map_err(|e| Error::invalid("png", format!("{}: {e}", path.display())))?;
    let info = reader.info();
    let mut out: Vec<(String, String)> =
        info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.text.clone())).collect();
    for t in &info.utf8_text {
        out.push((t.keyword.clone(), t.get_text().unwrap_or_default()));
    }
    Ok(out)
}

/// A short file-name-safe form of a prompt.
pub fn slug(text: &str, max: usize) -> String {
    let mut s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s: String = s.chars().take(max).collect();
    if s.is_empty() {
        "image".into()
    } else {
        s.trim_end_matches('-').to_string()
    }
}

/// The next free number in `dir`: one above the largest `NNNNN-` prefix there.
pub fn next_index(dir: &Path) -> Result<usize> {
    let mut next = 0;
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(n) = name.split('-').next().and_then(|p| p.parse::<usize>().ok()) {
            next = next.max(n + 1);
        }
    }
    Ok(next)
}

/// Makes `dir` (and its parents) and proves it writable, before any GPU work starts.
pub fn writable_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create the output directory {}", dir.display()), e))?;
    let probe = dir.join(format!(".engine-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| Error::io(format!("cannot write into the output directory {}", dir.display()), e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir.to_path_buf())
}
