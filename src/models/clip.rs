//! The CLIP text encoder (Radford et al. 2021, "Learning Transferable Visual Models From Natural
//! Language Supervision"), as transformers' `CLIPTextModel`: token + position embeddings, pre-norm
//! transformer layers with causal self-attention and a quick_gelu MLP, a final layer norm.
//! Stable Diffusion 1.x conditions on `last_hidden_state` (ViT-L/14: 12 layers, width 768).

use crate::error::{Error, Result};
use crate::models::config::ClipConfig;
use crate::nn::{multi_head_attention, LayerNorm, Linear, Loader};
use crate::ops::cast::autocast_input;
use crate::ops::embedding::embedding;
use crate::tensor::Tensor;

struct EncoderLayer {
    layer_norm1: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

pub struct ClipTextModel {
    pub config: ClipConfig,
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
}

impl ClipTextModel {
    /// `vb` points at the model root (the keys start with `text_model.`).
    pub fn new(vb: &Loader, config: &ClipConfig) -> Result<ClipTextModel> {
        let (d, i) = (config.hidden_size, config.intermediate_size);
        let tm = vb.pp("text_model");
        let emb = tm.pp("embeddings");
        let token_embedding = emb.pp("token_embedding").get("weight", &[config.vocab_size, d])?;
        let position_embedding = emb.pp("position_embedding").get("weight", &[config.max_position_embeddings, d])?;
        let mut layers = Vec::new();
        for l in 0..config.num_hidden_layers {
            let lv = tm.pp("encoder.layers").pp(l);
            let at = lv.pp("self_attn");
            layers.push(EncoderLayer {
                layer_norm1: LayerNorm::new(&lv.pp("layer_norm1"), d, config.layer_norm_eps)?,
                q_proj: Linear::new(&at.pp("q_proj"), d, d, true)?,
                k_proj: Linear::new(&at.pp("k_proj"), d, d, true)?,
                v_proj: Linear::new(&at.pp("v_proj"), d, d, true)?,
                out_proj: Linear::new(&at.pp("out_proj"), d, d, true)?,
                layer_norm2: LayerNorm::new(&lv.pp("layer_norm2"), d, config.layer_norm_eps)?,
                fc1: Linear::new(&lv.pp("mlp.fc1"), d, i, true)?,
                fc2: Linear::new(&lv.pp("mlp.fc2"), i, d, true)?,
            });
        }
        let final_layer_norm = LayerNorm::new(&tm.pp("final_layer_norm"), d, config.layer_norm_eps)?;
        Ok(ClipTextModel { config: config.clone(), token_embedding, position_embedding, layers, final_layer_norm })
    }

    /// ids: B prompts of L token ids each (L ≤ max_position_embeddings) -> last_hidden_state [B, L, D].
    pub fn forward(&self, ids: &[Vec<u32>]) -> Result<Tensor> {
        let b = ids.len();
        let l = ids.first().map_or(0, |v| v.len());
        let c = &self.config;
        if b == 0 || l == 0 || l > c.max_position_embeddings || ids.iter().any(|v| v.len() != l) {
            return Err(Error::invalid(
                "clip",
                format!("needs B prompts of the same length, at most {} tokens", c.max_position_embeddings),
            ));
        }
        let flat: Vec<u32> = ids.iter().flatten().copied().collect();
        if let Some(&bad) = flat.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::invalid(
                "clip",
                format!("token id {bad} is outside the text encoder's vocabulary of {}; the tokenizer does not belong to this text encoder", c.vocab_size),
            ));
        }
        let d = c.hidden_size;
        let positions: Vec<u32> = (0..l as u32).collect();
        let tok = embedding(&self.token_embedding, &flat)?.reshape(&[b, l, d])?;
        let pos = embedding(&self.position_embedding, &positions)?;
        let mut x = tok.add(&pos)?;
        for layer in &self.layers {
            // Rounded once for the three projections under --mixed-precision.
            let h = autocast_input(&layer.layer_norm1.forward(&x)?)?;
            let (q, k, v) = (layer.q_proj.forward(&h)?, layer.k_proj.forward(&h)?, layer.v_proj.forward(&h)?);
            let a = multi_head_attention(&q, &k, &v, c.num_attention_heads, true)?;
            x = x.add(&layer.out_proj.forward(&a)?)?;
            let h = layer.layer_norm2.forward(&x)?;
            let h = layer.fc1.forward(&h)?;
            let h = if c.hidden_act == "gelu" { h.gelu()? } else { h.quick_gelu()? };
            x = x.add(&layer.fc2.forward(&h)?)?;
        }
        self.final_layer_norm.forward(&x)
    }
}
