//! CLIP's byte-level BPE tokenizer, as transformers' `CLIPTokenizer` applies it for Stable
//! Diffusion: lower-case, whitespace collapsed, `<|startoftext|>` ids `<|endoftext|>`, truncated and
//! padded to the model's 77 positions with the folder's pad token.
//!
//! A model folder's `tokenizer/` comes in two layouts: `vocab.json` + `merges.txt` (as SD 1.5
//! ships it), for which we build the same pipeline that transformers' `CLIPConverter` builds, or a
//! ready `tokenizer.json`.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The pre-tokenizer regex of CLIP (`clip/simple_tokenizer.py`), as transformers' converter writes it.
const CLIP_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_id: u32,
    pub eos_id: u32,
    pub pad_id: u32,
    /// Positions per prompt, `<|startoftext|>` and `<|endoftext|>` included (77 for SD 1.x).
    pub max_length: usize,
}

/// One encoded prompt: `ids` always holds `max_length` ids; `truncated` says whether words were cut.
pub struct Encoding {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|e| Error::invalid("tokenizer", format!("{}: {e}", path.display())))
}

/// A special token as the config files write it: a string or `{"content": "..."}`.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
        _ => None,
    }
}

impl ClipTokenizer {
    /// Reads `dir` (a model folder's `tokenizer/`).
    pub fn from_dir(dir: &Path) -> Result<ClipTokenizer> {
        if !dir.is_dir() {
            return Err(Error::invalid(
                "tokenizer",
                format!("{} is not a directory; a model folder needs tokenizer/ with vocab.json and merges.txt, or tokenizer.json", dir.display()),
            ));
        }
        // Settings: tokenizer_config.json first, special_tokens_map.json fills what it lacks.
        let mut settings = serde_json::Map::new();
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            let p = dir.join(name);
            if p.is_file() {
                if let Value::Object(o) = read_json(&p)? {
                    settings.extend(o);
                }
            }
        }
        let tok_json = dir.join("tokenizer.json");
        let (vocab_json, merges_txt) = (dir.join("vocab.json"), dir.join("merges.txt"));
        let inner = if vocab_json.is_file() && merges_txt.is_file() {
            let read =
                |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io(format!("reading {}", p.display()), e));
            let label = format!("{} + merges.txt", vocab_json.display());
            Self::from_vocab_merges(&read(&vocab_json)?, &read(&merges_txt)?, &settings, &label)?
        } else if tok_json.is_file() {
            tokenizers::Tokenizer::from_file(&tok_json)
                .map_err(|e| Error::invalid("tokenizer", format!("{}: {e}", tok_json.display())))?
        } else {
            return Err(Error::invalid(
                "tokenizer",
                format!("{} holds neither vocab.json + merges.txt nor tokenizer.json", dir.display()),
            ));
        };
        Self::finish(inner, &settings, &dir.display().to_string())
    }

    /// CLIP's vocabulary as the engine ships it (assets/tokenizer, built into the binary), for
    /// single-file checkpoints and the embedded tiny model, which carry no tokenizer.
    pub fn shipped() -> Result<ClipTokenizer> {
        let settings = match serde_json::from_str(include_str!("../../assets/tokenizer/tokenizer_config.json")) {
            Ok(Value::Object(o)) => o,
            _ => serde_json::Map::new(),
        };
        let vocab = include_str!("../../assets/tokenizer/vocab.json");
        let merges = include_str!("../../assets/tokenizer/merges.txt");
        let inner = Self::from_vocab_merges(vocab, merges, &settings, "the built-in CLIP vocabulary")?;
        Self::finish(inner, &settings, "the built-in CLIP vocabulary")
    }

    fn finish(
        inner: tokenizers::Tokenizer,
        settings: &serde_json::Map<String, Value>,
        label: &str,
    ) -> Result<ClipTokenizer> {
        let id = |name: &str, default: &str| -> Result<u32> {
            let tok = token_string(settings.get(name)).unwrap_or_else(|| default.to_string());
            inner.token_to_id(&tok).ok_or_else(|| {
                Error::invalid("tokenizer", format!("{name} `{tok}` of {label} is not in the vocabulary"))
            })
        };
        let bos_id = id("bos_token", "<|startoftext|>")?;
        let eos_id = id("eos_token", "<|endoftext|>")?;
        let pad_id = id("pad_token", "<|endoftext|>")?;
        // Some folders write a huge sentinel for "no limit"; CLIP's position table has 77.
        let max_length = settings
            .get("model_max_length")
            .and_then(|v| v.as_f64())
            .filter(|&m| (2.0..=4096.0).contains(&m))
            .map(|m| m as usize)
            .unwrap_or(77);
        Ok(ClipTokenizer { inner, bos_id, eos_id, pad_id, max_length })
    }

    /// The pipeline of transformers' `CLIPConverter`, without its post-processor: special tokens,
    /// truncation and padding are ours, so that the pad token comes from the folder.
    fn from_vocab_merges(
        vocab: &str,
        merges_text: &str,
        settings: &serde_json::Map<String, Value>,
        label: &str,
    ) -> Result<tokenizers::Tokenizer> {
        let vocab_v: Value = serde_json::from_str(vocab)
            .map_err(|e| Error::invalid("tokenizer", format!("{label}: vocab.json: {e}")))?;
        // The first line of CLIP's merges.txt is a `#version` header.
        let merges_v: Vec<Value> = merges_text
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .map(|l| Value::String(l.to_string()))
            .collect();
        let unk = token_string(settings.get("unk_token")).unwrap_or_else(|| "<|endoftext|>".into());
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                {"type": "Lowercase"}
            ]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": CLIP_PATTERN}, "behavior": "Removed", "invert": true},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
            ]},
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": "",
                "end_of_word_suffix": "</w>", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab_v, "merges": merges_v
            }
        });
        spec.to_string()
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| Error::invalid("tokenizer", format!("{label}: {e}")))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The word pieces of `text`, without special tokens.
    pub fn pieces(&self, text: &str) -> Result<Vec<u32>> {
        // CLIP strips the text before the whitespace collapse.
        let enc = self
            .inner
            .encode(text.trim(), false)
            .map_err(|e| Error::invalid("tokenizer", format!("cannot encode {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// `<|startoftext|>` pieces `<|endoftext|>` pad..., exactly `max_length` ids.
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        let pieces = self.pieces(text)?;
        let room = self.max_length - 2;
        let truncated = pieces.len() > room;
        let mut ids = Vec::with_capacity(self.max_length);
        ids.push(self.bos_id);
        ids.extend_from_slice(&pieces[..pieces.len().min(room)]);
        ids.push(self.eos_id);
        ids.resize(self.max_length, self.pad_id);
        Ok(Encoding { ids, truncated })
    }

    /// Writes the pipeline as a `tokenizer.json` (the other folder layout).
    pub fn save_json(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| Error::invalid("tokenizer", format!("writing {}: {e}", path.display())))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Every (token, id) of the vocabulary.
    pub fn vocab(&self) -> Vec<(String, u32)> {
        self.inner.get_vocab(false).into_iter().collect()
    }
}
