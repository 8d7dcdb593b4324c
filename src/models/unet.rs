//! The conditional U-Net of latent diffusion (Rombach et al. 2022; Ronneberger et al. 2015 for
//! the U-Net, Ho et al. 2020 for the time-conditioned ResNet blocks), as diffusers'
//! `UNet2DConditionModel` of the Stable Diffusion 1.x family. Every size comes from the config.
//!
//! Shapes: sample \[B, in, h, w\], timesteps \[B\], encoder_hidden_states \[B, L, cross_dim\]
//! -> noise prediction [B, out, h, w]; h and w must be multiples of 2^(levels - 1).

use crate::autograd::checkpoint;
use crate::error::{Error, Result};
use crate::models::config::UNetConfig;
use crate::models::resnet::ResnetBlock2D;
use crate::nn::{multi_head_attention, Conv2d, GroupNorm, LayerNorm, Linear, Loader};
use crate::ops::cast::autocast_input;
use crate::ops::copy::cat;
use crate::ops::embedding::timestep_embedding;
use crate::tensor::Tensor;

/// diffusers `Attention` (no norm, no residual): self-attention when `context` is None.
#[derive(Clone)]
struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
}

impl Attention {
    fn new(vb: &Loader, dim: usize, context_dim: usize, heads: usize) -> Result<Attention> {
        Ok(Attention {
            to_q: Linear::new(&vb.pp("to_q"), dim, dim, false)?,
            to_k: Linear::new(&vb.pp("to_k"), context_dim, dim, false)?,
            to_v: Linear::new(&vb.pp("to_v"), context_dim, dim, false)?,
            to_out: Linear::new(&vb.pp("to_out.0"), dim, dim, true)?,
            heads,
        })
    }
    fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        // Under --mixed-precision the projections' shared input is rounded once, not per projection.
        let x = &autocast_input(x)?;
        let ctx = &match context {
            Some(c) => autocast_input(c)?,
            None => x.clone(),
        };
        let (q, k, v) = (self.to_q.forward(x)?, self.to_k.forward(ctx)?, self.to_v.forward(ctx)?);
        self.to_out.forward(&multi_head_attention(&q, &k, &v, self.heads, false)?)
    }
}

/// diffusers `BasicTransformerBlock`: self-attention, cross-attention, GEGLU feed-forward,
/// each pre-normed with a layer norm and added back (Vaswani et al. 2017; Shazeer 2020 for GEGLU).
#[derive(Clone)]
struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff_proj: Linear,
    ff_out: Linear,
    inner: usize,
}

impl TransformerBlock {
    fn new(vb: &Loader, dim: usize, context_dim: usize, heads: usize) -> Result<TransformerBlock> {
        let inner = 4 * dim;
        Ok(TransformerBlock {
            norm1: LayerNorm::new(&vb.pp("norm1"), dim, 1e-5)?,
            attn1: Attention::new(&vb.pp("attn1"), dim, dim, heads)?,
            norm2: LayerNorm::new(&vb.pp("norm2"), dim, 1e-5)?,
            attn2: Attention::new(&vb.pp("attn2"), dim, context_dim, heads)?,
            norm3: LayerNorm::new(&vb.pp("norm3"), dim, 1e-5)?,
            ff_proj: Linear::new(&vb.pp("ff.net.0.proj"), dim, 2 * inner, true)?,
            ff_out: Linear::new(&vb.pp("ff.net.2"), inner, dim, true)?,
            inner,
        })
    }
    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let x = x.add(&self.attn1.forward(&self.norm1.forward(x)?, None)?)?;
        let x = x.add(&self.attn2.forward(&self.norm2.forward(&x)?, Some(context))?)?;
        let hg = self.ff_proj.forward(&self.norm3.forward(&x)?)?;
        let parts = hg.split(-1, &[self.inner, self.inner])?;
        let h = parts[0].mul(&parts[1].gelu()?)?;
        x.add(&self.ff_out.forward(&h)?)
    }
}

/// diffusers `Transformer2DModel` (continuous input): group norm, projection in (a 1x1 conv, or a
/// linear layer with `use_linear_projection`), transformer blocks over the h·w positions,
/// projection out, residual.
#[derive(Clone)]
struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<TransformerBlock>,
    proj_out: Projection,
}

#[derive(Clone)]
enum Projection {
    Conv(Conv2d),
    Linear(Linear),
}

impl SpatialTransformer {
    fn new(vb: &Loader, c: &UNetConfig, ch: usize, heads: usize, layers: usize) -> Result<SpatialTransformer> {
        if heads == 0 || !ch.is_multiple_of(heads) {
            return Err(Error::invalid("config", format!("{ch} channels do not split into {heads} attention heads")));
        }
        let proj = |name: &str| -> Result<Projection> {
            Ok(if c.use_linear_projection {
                Projection::Linear(Linear::new(&vb.pp(name), ch, ch, true)?)
            } else {
                Projection::Conv(Conv2d::new(&vb.pp(name), ch, ch, 1, 1, 0)?)
            })
        };
        let norm = GroupNorm::new(&vb.pp("norm"), c.norm_num_groups, ch, 1e-6)?;
        let proj_in = proj("proj_in")?;
        let blocks = (0..layers)
            .map(|i| TransformerBlock::new(&vb.pp("transformer_blocks").pp(i), ch, c.cross_attention_dim(), heads))
            .collect::<Result<_>>()?;
        Ok(SpatialTransformer { norm, proj_in, blocks, proj_out: proj("proj_out")? })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, ch, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3));
        let to_tokens = |t: &Tensor| t.reshape(&[b, ch, h * w])?.transpose(1, 2);
        let n = self.norm.forward(x)?;
        let mut t = match &self.proj_in {
            Projection::Conv(c) => to_tokens(&c.forward(&n)?)?,
            Projection::Linear(l) => l.forward(&to_tokens(&n)?)?,
        };
        for blk in &self.blocks {
            t = blk.forward(&t, context)?;
        }
        let from_tokens = |t: &Tensor| t.transpose(1, 2)?.reshape(&[b, ch, h, w]);
        let out = match &self.proj_out {
            Projection::Conv(c) => c.forward(&from_tokens(&t)?)?,
            Projection::Linear(l) => from_tokens(&l.forward(&t)?)?,
        };
        out.add(x)
    }
}

struct Block {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<SpatialTransformer>,
    /// Down blocks: a stride-2 conv; up blocks: nearest 2x upsampling then a conv.
    resample: Option<Conv2d>,
}

pub struct UNet2DConditionModel {
    pub config: UNetConfig,
    conv_in: Conv2d,
    time_linear_1: Linear,
    time_linear_2: Linear,
    down: Vec<Block>,
    mid_resnets: [ResnetBlock2D; 2],
    mid_attention: SpatialTransformer,
    up: Vec<Block>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
    /// Recompute each ResNet and transformer block's forward during backward instead of keeping
    /// its activations (diffusers' `enable_gradient_checkpointing`); gradients are bit-identical.
    pub gradient_checkpointing: bool,
}

impl UNet2DConditionModel {
    pub fn new(vb: &Loader, c: &UNetConfig) -> Result<UNet2DConditionModel> {
        let ch = &c.block_out_channels;
        let n = ch.len();
        let heads = c.heads()?;
        let layers = c.layers_per_block.expand(n, "layers_per_block")?;
        let tlayers = c.transformer_layers_per_block.expand(n, "transformer_layers_per_block")?;
        let temb = ch[0] * 4;
        let norm = (c.norm_num_groups, c.norm_eps);
        let (kin, kout) = (c.conv_in_kernel, c.conv_out_kernel);

        let mut down = Vec::new();
        let mut cout = ch[0];
        for i in 0..n {
            let cin = cout;
            cout = ch[i];
            let bv = vb.pp("down_blocks").pp(i);
            let cross = c.down_block_types[i] == "CrossAttnDownBlock2D";
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..layers[i] {
                resnets.push(ResnetBlock2D::new(
                    &bv.pp("resnets").pp(j),
                    norm,
                    if j == 0 { cin } else { cout },
                    cout,
                    Some(temb),
                    1.0,
                )?);
                if cross {
                    attentions.push(SpatialTransformer::new(
                        &bv.pp("attentions").pp(j),
                        c,
                        cout,
                        heads[i],
                        tlayers[i],
                    )?);
                }
            }
            let resample = if i + 1 < n {
                Some(Conv2d::new(&bv.pp("downsamplers.0.conv"), cout, cout, 3, 2, c.downsample_padding)?)
            } else {
                None
            };
            down.push(Block { resnets, attentions, resample });
        }

        let top = ch[n - 1];
        let mv = vb.pp("mid_block");
        let s = c.mid_block_scale_factor;
        let mid_resnets = [
            ResnetBlock2D::new(&mv.pp("resnets.0"), norm, top, top, Some(temb), s)?,
            ResnetBlock2D::new(&mv.pp("resnets.1"), norm, top, top, Some(temb), s)?,
        ];
        let mid_attention = SpatialTransformer::new(&mv.pp("attentions.0"), c, top, heads[n - 1], tlayers[n - 1])?;

        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let rheads: Vec<usize> = heads.iter().rev().copied().collect();
        let rlayers: Vec<usize> = layers.iter().rev().copied().collect();
        let rtlayers: Vec<usize> = tlayers.iter().rev().copied().collect();
        let mut up = Vec::new();
        let mut cout = rev[0];
        for i in 0..n {
            let prev = cout;
            cout = rev[i];
            let cin = rev[(i + 1).min(n - 1)];
            let bv = vb.pp("up_blocks").pp(i);
            let cross = c.up_block_types[i] == "CrossAttnUpBlock2D";
            let num = rlayers[i] + 1;
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..num {
                let skip = if j == num - 1 { cin } else { cout };
                let rin = if j == 0 { prev } else { cout };
                resnets.push(ResnetBlock2D::new(&bv.pp("resnets").pp(j), norm, rin + skip, cout, Some(temb), 1.0)?);
                if cross {
                    attentions.push(SpatialTransformer::new(
                        &bv.pp("attentions").pp(j),
                        c,
                        cout,
                        rheads[i],
                        rtlayers[i],
                    )?);
                }
            }
            let resample =
                if i + 1 < n { Some(Conv2d::new(&bv.pp("upsamplers.0.conv"), cout, cout, 3, 1, 1)?) } else { None };
            up.push(Block { resnets, attentions, resample });
        }

        Ok(UNet2DConditionModel {
            config: c.clone(),
            conv_in: Conv2d::new(&vb.pp("conv_in"), c.in_channels, ch[0], kin, 1, (kin - 1) / 2)?,
            time_linear_1: Linear::new(&vb.pp("time_embedding.linear_1"), ch[0], temb, true)?,
            time_linear_2: Linear::new(&vb.pp("time_embedding.linear_2"), temb, temb, true)?,
            down,
            mid_resnets,
            mid_attention,
            up,
            conv_norm_out: GroupNorm::new(&vb.pp("conv_norm_out"), c.norm_num_groups, ch[0], c.norm_eps)?,
            conv_out: Conv2d::new(&vb.pp("conv_out"), ch[0], c.out_channels, kout, 1, (kout - 1) / 2)?,
            gradient_checkpointing: false,
        })
    }

    /// The latent side lengths must be multiples of this.
    pub fn size_multiple(&self) -> usize {
        1 << (self.config.block_out_channels.len() - 1)
    }

    /// sample \[B, in, h, w\], timesteps \[B\] (float), context \[B, L, cross_dim\] -> \[B, out, h, w\].
    pub fn forward(&self, sample: &Tensor, timesteps: &Tensor, context: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let m = self.size_multiple();
        let b = sample.dim(0);
        if sample.rank() != 4
            || sample.dim(1) != c.in_channels
            || !sample.dim(2).is_multiple_of(m)
            || !sample.dim(3).is_multiple_of(m)
        {
            return Err(Error::invalid(
                "unet",
                format!(
                    "sample must be [B, {}, h, w] with h, w multiples of {m}, got {:?}",
                    c.in_channels,
                    sample.shape()
                ),
            ));
        }
        if timesteps.shape() != [b] {
            return Err(Error::shape_hint("unet", sample.shape(), timesteps.shape(), "one timestep per sample"));
        }
        if context.rank() != 3 || context.dim(0) != b || context.dim(2) != c.cross_attention_dim() {
            return Err(Error::shape_hint(
                "unet",
                sample.shape(),
                context.shape(),
                format!("encoder_hidden_states must be [B, L, {}]", c.cross_attention_dim()),
            ));
        }
        let ch0 = c.block_out_channels[0];
        let t = timestep_embedding(timesteps, ch0, c.flip_sin_to_cos, c.freq_shift as f32)?;
        let temb = self.time_linear_2.forward(&self.time_linear_1.forward(&t)?.silu()?)?;
        let temb_act = temb.silu()?;

        let x = if c.center_input_sample { sample.affine(2.0, -1.0)? } else { sample.clone() };
        let mut h = self.conv_in.forward(&x)?;
        let mut skips = vec![h.clone()];
        for blk in &self.down {
            for (j, r) in blk.resnets.iter().enumerate() {
                h = self.resnet(r, &h, &temb_act)?;
                if let Some(a) = blk.attentions.get(j) {
                    h = self.transformer(a, &h, context)?;
                }
                skips.push(h.clone());
            }
            if let Some(d) = &blk.resample {
                h = d.forward(&h)?;
                skips.push(h.clone());
            }
        }
        h = self.resnet(&self.mid_resnets[0], &h, &temb_act)?;
        h = self.transformer(&self.mid_attention, &h, context)?;
        h = self.resnet(&self.mid_resnets[1], &h, &temb_act)?;
        for blk in &self.up {
            for (j, r) in blk.resnets.iter().enumerate() {
                let skip = skips.pop().ok_or_else(|| Error::invalid("unet", "skip connections ran out"))?;
                h = self.resnet(r, &cat(&[&h, &skip], 1)?, &temb_act)?;
                if let Some(a) = blk.attentions.get(j) {
                    h = self.transformer(a, &h, context)?;
                }
            }
            if let Some(u) = &blk.resample {
                h = u.forward(&h.upsample_nearest2x()?)?;
            }
        }
        self.conv_out.forward(&self.conv_norm_out.forward(&h)?.silu()?)
    }

    /// A ResNet block, checkpointed where asked: only its inputs are kept for backward.
    fn resnet(&self, r: &ResnetBlock2D, h: &Tensor, temb_act: &Tensor) -> Result<Tensor> {
        if !self.gradient_checkpointing {
            return r.forward(h, Some(temb_act));
        }
        let r = r.clone();
        checkpoint("resnet (checkpointed)", &[h, temb_act], move |i| r.forward(&i[0], Some(&i[1])))
    }

    /// A transformer (attention) block, checkpointed where asked.
    fn transformer(&self, a: &SpatialTransformer, h: &Tensor, context: &Tensor) -> Result<Tensor> {
        if !self.gradient_checkpointing {
            return a.forward(h, context);
        }
        let a = a.clone();
        checkpoint("transformer (checkpointed)", &[h, context], move |i| a.forward(&i[0], &i[1]))
    }
}
