//! Training images: decoded (JPEG, PNG, WebP), EXIF orientation applied, resized so that the
//! short side is the resolution (bilinear, as diffusers' transforms.Resize), cropped to a square
//! (center, or a random crop drawn once per image), mapped to [-1, 1] as [3, R, R].

use std::path::{Path, PathBuf};

use image::{imageops::FilterType, DynamicImage, ImageDecoder, ImageReader};

use crate::error::{Error, Result};
use crate::rng::Rng;

/// The dog photos built into the binary for the embedded run (assets/dog, CC-BY 4.0).
pub const EMBEDDED_DOG: [(&str, &[u8]); 5] = [
    ("00.jpg", include_bytes!("../../assets/dog/00.jpg")),
    ("01.jpg", include_bytes!("../../assets/dog/01.jpg")),
    ("02.jpg", include_bytes!("../../assets/dog/02.jpg")),
    ("03.jpg", include_bytes!("../../assets/dog/03.jpg")),
    ("04.jpg", include_bytes!("../../assets/dog/04.jpg")),
];

const EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "JPG"];

fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    let mut dec = reader.into_decoder().map_err(|e| e.to_string())?;
    let orientation = dec.orientation().map_err(|e| e.to_string())?;
    let mut img = DynamicImage::from_decoder(dec).map_err(|e| e.to_string())?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Resize (short side to `res`) and crop to res x res; pixels as [3, res, res] in [-1, 1].
pub fn prepare(img: &DynamicImage, res: usize, center: bool, rng: &mut Rng) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let scale = res as f64 / w.min(h) as f64;
    let (nw, nh) = (((w as f64 * scale).round() as usize).max(res), ((h as f64 * scale).round() as usize).max(res));
    let resized = img.resize_exact(nw as u32, nh as u32, FilterType::Triangle).to_rgb8();
    let (x0, y0) =
        if center { ((nw - res) / 2, (nh - res) / 2) } else { (rng.below(nw - res + 1), rng.below(nh - res + 1)) };
    let mut out = vec![0f32; 3 * res * res];
    for y in 0..res {
        for x in 0..res {
            let p = resized.get_pixel((x0 + x) as u32, (y0 + y) as u32);
            for c in 0..3 {
                out[(c * res + y) * res + x] = p[c] as f32 / 127.5 - 1.0;
            }
        }
    }
    out
}

/// [3, R, R] mirrored left to right.
pub fn hflip(px: &[f32], res: usize) -> Vec<f32> {
    let mut out = px.to_vec();
    for c in 0..3 {
        for y in 0..res {
            let row = &mut out[(c * res + y) * res..(c * res + y + 1) * res];
            row.reverse();
        }
    }
    out
}

/// Every image file of `dir` that decodes, sorted by name; files that don't are skipped with a
/// warning naming them. An error if the folder is missing or holds no image.
pub fn load_dir(dir: &Path, what: &str) -> Result<Vec<(PathBuf, DynamicImage)>> {
    if !dir.is_dir() {
        return Err(Error::invalid("train", format!("the {what} directory {} does not exist", dir.display())));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&f).map_err(|e| Error::io(format!("reading {}", f.display()), e))?;
        match decode(&bytes) {
            Ok(img) => {
                check_image(&f, &bytes, &img)?;
                out.push((f, img))
            }
            Err(e) => {
                let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
                let why =
                    if EXTENSIONS.contains(&ext) { format!("does not decode: {e}") } else { "is not an image".into() };
                eprintln!("warning: skipping {} ({why})", f.display());
            }
        }
    }
    Ok(out)
}

/// The smallest side an instance or class image may have: anything smaller is not a photo of
/// a subject (a 1x1 placeholder, a favicon), and training on it cannot be what was meant.
pub const MIN_IMAGE_SIDE: u32 = 16;

/// Refuses an image too small to be a photo, and warns about a JPEG that ends before its
/// end-of-image marker (the decoder fills the missing rows in grey, and trains on them).
fn check_image(path: &Path, bytes: &[u8], img: &DynamicImage) -> Result<()> {
    let (w, h) = (img.width(), img.height());
    if w.min(h) < MIN_IMAGE_SIDE {
        return Err(Error::invalid(
            "train",
            format!("{} is {w}x{h} pixels, too small to train on (at least {MIN_IMAGE_SIDE} a side); remove it or replace it with the photo it stands for", path.display()),
        ));
    }
    let is_jpeg = bytes.starts_with(&[0xFF, 0xD8]);
    let end = bytes.iter().rposition(|&b| b != 0 && b != b'\n' && b != b'\r').map_or(0, |i| i + 1);
    if is_jpeg && !bytes[..end].ends_with(&[0xFF, 0xD9]) {
        eprintln!(
            "warning: {} looks truncated (the JPEG has no end-of-image marker): its lower part may be grey; re-download or re-export it",
            path.display()
        );
    }
    Ok(())
}

/// Warns about images that `resolution` enlarges by more than 2x (they train blurry).
pub fn warn_small(images: &[(PathBuf, DynamicImage)], resolution: usize) {
    for (p, img) in images {
        let side = img.width().min(img.height()) as usize;
        if side * 2 < resolution {
            eprintln!(
                "warning: {} is {}x{}: its shorter side is scaled up {:.1}x to --resolution {resolution}, which blurs it",
                p.display(),
                img.width(),
                img.height(),
                resolution as f64 / side as f64
            );
        }
    }
}

/// The embedded dog photos, decoded.
pub fn embedded_dog() -> Result<Vec<(PathBuf, DynamicImage)>> {
    EMBEDDED_DOG
        .iter()
        .map(|(n, b)| {
            decode(b)
                .map(|img| (PathBuf::from(format!("embedded/{n}")), img))
                .map_err(|e| Error::invalid("train", format!("embedded photo {n}: {e}")))
        })
        .collect()
}
