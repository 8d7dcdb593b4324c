//! `builtin:emoji`: SD 1.x's architecture at `builtin:tiny`'s size (VAE 0.98 M, U-Net 1.49 M,
//! CLIP text encoder 3.27 M parameters) trained on 7,562 captioned emoji by
//! `tools/train_emoji_model.py` (issue 16), built into the binary as a diffusers folder in f16,
//! so that the embedded DreamBooth run starts from a model that has a prior to preserve.
//!
//! The folder is written once into the cache (`$ENGINE_CACHE_DIR`, else the per-user cache) under
//! a name that carries a hash of its contents, and then opened like any diffusers folder. It
//! appears whole or not at all: the files are written into a temporary sibling folder that is
//! renamed into place, so an interrupted first run leaves nothing that a later run would trust.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder's files, relative to its root. The tokenizer is the engine's own CLIP vocabulary
/// (the one the model was trained with), not a second copy.
const FILES: &[(&str, &[u8])] = &[
    ("model_index.json", include_bytes!("../../assets/emoji/model_index.json")),
    ("ATTRIBUTION.md", include_bytes!("../../assets/emoji/ATTRIBUTION.md")),
    ("unet/config.json", include_bytes!("../../assets/emoji/unet/config.json")),
    (
        "unet/diffusion_pytorch_model.safetensors",
        include_bytes!("../../assets/emoji/unet/diffusion_pytorch_model.safetensors"),
    ),
    ("vae/config.json", include_bytes!("../../assets/emoji/vae/config.json")),
    (
        "vae/diffusion_pytorch_model.safetensors",
        include_bytes!("../../assets/emoji/vae/diffusion_pytorch_model.safetensors"),
    ),
    ("text_encoder/config.json", include_bytes!("../../assets/emoji/text_encoder/config.json")),
    ("text_encoder/model.safetensors", include_bytes!("../../assets/emoji/text_encoder/model.safetensors")),
    ("scheduler/scheduler_config.json", include_bytes!("../../assets/emoji/scheduler/scheduler_config.json")),
    ("tokenizer/tokenizer_config.json", include_bytes!("../../assets/tokenizer/tokenizer_config.json")),
    ("tokenizer/special_tokens_map.json", include_bytes!("../../assets/tokenizer/special_tokens_map.json")),
    ("tokenizer/vocab.json", include_bytes!("../../assets/tokenizer/vocab.json")),
    ("tokenizer/merges.txt", include_bytes!("../../assets/tokenizer/merges.txt")),
];

/// FNV-1a over every file's name and bytes: a new model gets a new folder. Computed once per
/// process (12 MB).
fn content_hash() -> u64 {
    static HASH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HASH.get_or_init(|| {
        use crate::nn::{fnv1a_extend, FNV1A_OFFSET};
        FILES.iter().fold(FNV1A_OFFSET, |h, (name, bytes)| {
            fnv1a_extend(fnv1a_extend(fnv1a_extend(h, name.as_bytes()), &[0]), bytes)
        })
    })
}

/// Where the folder goes: `models/` in the cache folder the pipeline cache uses (the options'
/// `ENGINE_CACHE_DIR`, else the per-user cache), else in the system's temporary folder.
fn cache_root() -> Result<PathBuf> {
    let dir = crate::gpu::options()?.cache_dir.clone().or_else(crate::fsutil::user_cache_dir);
    Ok(dir.unwrap_or_else(|| std::env::temp_dir().join("engine")).join("models"))
}

/// True when `dir` holds every file at its size (a folder renamed into place is complete; this
/// also notices one that somebody has since changed or emptied).
fn complete(dir: &Path) -> bool {
    FILES.iter().all(|(name, bytes)| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.len() == bytes.len() as u64))
}

/// The model's folder in the cache, written on first use.
pub fn folder() -> Result<PathBuf> {
    folder_in(&cache_root()?)
}

/// The model's folder under `root` (`emoji-<hash>`), written if it is missing or damaged.
pub fn folder_in(root: &Path) -> Result<PathBuf> {
    let (root, hash) = (root.to_path_buf(), content_hash());
    let dir = root.join(format!("emoji-{hash:016x}"));
    if complete(&dir) {
        return Ok(dir);
    }
    let io = |what: String| move |e| Error::io(what, e);
    std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
    let tmp = root.join(format!(".emoji-{hash:016x}.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let r = (|| {
        for (name, bytes) in FILES {
            let path = tmp.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
            }
            crate::fsutil::write_bytes(&path, bytes)?;
        }
        // A damaged folder of the same name (an edited file) is replaced; one that another
        // process has just completed is kept and ours dropped.
        if dir.exists() && !complete(&dir) {
            std::fs::remove_dir_all(&dir).map_err(io(format!("removing the damaged {}", dir.display())))?;
        }
        match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(()),
            Err(_) if complete(&dir) => Ok(()),
            Err(e) => Err(Error::io(format!("renaming {} to {}", tmp.display(), dir.display()), e)),
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    r.map(|()| dir)
}
