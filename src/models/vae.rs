//! The variational autoencoder of latent diffusion (Rombach et al. 2022, "High-Resolution Image
//! Synthesis with Latent Diffusion Models"; Kingma & Welling 2014), as diffusers' `AutoencoderKL`:
//! an encoder to the latent distribution (mean, log-variance) and a decoder back to pixels, each a
//! stack of ResNet blocks with one self-attention block in the middle.

use crate::error::{Error, Result};
use crate::models::config::VaeConfig;
use crate::models::resnet::ResnetBlock2D;
use crate::nn::{multi_head_attention, Conv2d, GroupNorm, Linear, Loader};
use crate::ops::cast::autocast_input;
use crate::ops::copy::cat;
use crate::tensor::Tensor;

/// The VAE's norms use eps 1e-6 throughout (diffusers hard-codes it).
const EPS: f64 = 1e-6;

/// `n` ResNet blocks (`resnets.0` … under `vb`), the first taking `cin` channels to `cout`.
fn resnet_stack(vb: &Loader, groups: usize, cin: usize, cout: usize, n: usize) -> Result<Vec<ResnetBlock2D>> {
    (0..n)
        .map(|j| ResnetBlock2D::new(&vb.pp(j), (groups, EPS), if j == 0 { cin } else { cout }, cout, None, 1.0))
        .collect()
}

/// The mid block's single-head spatial self-attention (diffusers `Attention` with a group norm
/// and a residual connection).
struct SpatialAttention {
    group_norm: GroupNorm,
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
}

impl SpatialAttention {
    fn new(vb: &Loader, groups: usize, c: usize) -> Result<SpatialAttention> {
        Ok(SpatialAttention {
            group_norm: GroupNorm::new(&vb.pp("group_norm"), groups, c, EPS)?,
            to_q: Linear::new(&vb.pp("to_q"), c, c, true)?,
            to_k: Linear::new(&vb.pp("to_k"), c, c, true)?,
            to_v: Linear::new(&vb.pp("to_v"), c, c, true)?,
            to_out: Linear::new(&vb.pp("to_out.0"), c, c, true)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3));
        let t = self.group_norm.forward(x)?.reshape(&[b, c, h * w])?.transpose(1, 2)?;
        let t = autocast_input(&t)?; // once for the three projections under --mixed-precision
        let (q, k, v) = (self.to_q.forward(&t)?, self.to_k.forward(&t)?, self.to_v.forward(&t)?);
        let o = self.to_out.forward(&multi_head_attention(&q, &k, &v, 1, false)?)?;
        o.transpose(1, 2)?.reshape(&[b, c, h, w])?.add(x)
    }
}

/// diffusers `UNetMidBlock2D`: resnet, attention, resnet.
struct MidBlock {
    resnet0: ResnetBlock2D,
    attention: Option<SpatialAttention>,
    resnet1: ResnetBlock2D,
}

impl MidBlock {
    fn new(vb: &Loader, groups: usize, c: usize, attention: bool) -> Result<MidBlock> {
        Ok(MidBlock {
            resnet0: ResnetBlock2D::new(&vb.pp("resnets.0"), (groups, EPS), c, c, None, 1.0)?,
            attention: if attention { Some(SpatialAttention::new(&vb.pp("attentions.0"), groups, c)?) } else { None },
            resnet1: ResnetBlock2D::new(&vb.pp("resnets.1"), (groups, EPS), c, c, None, 1.0)?,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.resnet0.forward(x, None)?;
        if let Some(a) = &self.attention {
            h = a.forward(&h)?;
        }
        self.resnet1.forward(&h, None)
    }
}

/// Zero padding of one column on the right and one row at the bottom: diffusers' VAE
/// downsampler pads (0, 1, 0, 1) and then runs a stride-2 conv without padding.
fn pad_right_bottom(x: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3));
    let x = cat(&[x, &Tensor::zeros(&[b, c, h, 1])?], 3)?;
    cat(&[&x, &Tensor::zeros(&[b, c, 1, w + 1])?], 2)
}

struct EncoderBlock {
    resnets: Vec<ResnetBlock2D>,
    downsample: Option<Conv2d>,
}

struct DecoderBlock {
    resnets: Vec<ResnetBlock2D>,
    upsample: Option<Conv2d>,
}

pub struct Encoder {
    conv_in: Conv2d,
    blocks: Vec<EncoderBlock>,
    mid: MidBlock,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

pub struct Decoder {
    conv_in: Conv2d,
    mid: MidBlock,
    blocks: Vec<DecoderBlock>,
    conv_norm_out: GroupNorm,
    conv_out: Conv2d,
}

pub struct AutoencoderKL {
    pub config: VaeConfig,
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Conv2d,
    post_quant_conv: Conv2d,
}

/// The latent distribution: a diagonal Gaussian (diffusers `DiagonalGaussianDistribution`).
pub struct LatentDist {
    /// [B, latent, h, w]
    pub mean: Tensor,
    /// [B, latent, h, w], clamped to [-30, 20] as diffusers does.
    pub logvar: Vec<f32>,
}

impl AutoencoderKL {
    pub fn new(vb: &Loader, cfg: &VaeConfig) -> Result<AutoencoderKL> {
        let ch = &cfg.block_out_channels;
        let g = cfg.norm_num_groups;
        let n = ch.len();
        let top = ch[n - 1];
        let lat = cfg.latent_channels;

        let ev = vb.pp("encoder");
        let mut blocks = Vec::new();
        let mut cout = ch[0];
        for (i, &c) in ch.iter().enumerate() {
            let cin = cout;
            cout = c;
            let bv = ev.pp("down_blocks").pp(i);
            let resnets = resnet_stack(&bv.pp("resnets"), g, cin, cout, cfg.layers_per_block)?;
            let downsample =
                if i + 1 < n { Some(Conv2d::new(&bv.pp("downsamplers.0.conv"), cout, cout, 3, 2, 0)?) } else { None };
            blocks.push(EncoderBlock { resnets, downsample });
        }
        let encoder = Encoder {
            conv_in: Conv2d::new(&ev.pp("conv_in"), cfg.in_channels, ch[0], 3, 1, 1)?,
            blocks,
            mid: MidBlock::new(&ev.pp("mid_block"), g, top, cfg.mid_block_add_attention)?,
            conv_norm_out: GroupNorm::new(&ev.pp("conv_norm_out"), g, top, EPS)?,
            conv_out: Conv2d::new(&ev.pp("conv_out"), top, 2 * lat, 3, 1, 1)?,
        };

        let dv = vb.pp("decoder");
        let mut blocks = Vec::new();
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut cout = rev[0];
        for (i, &c) in rev.iter().enumerate() {
            let cin = cout;
            cout = c;
            let bv = dv.pp("up_blocks").pp(i);
            let resnets = resnet_stack(&bv.pp("resnets"), g, cin, cout, cfg.layers_per_block + 1)?;
            let upsample =
                if i + 1 < n { Some(Conv2d::new(&bv.pp("upsamplers.0.conv"), cout, cout, 3, 1, 1)?) } else { None };
            blocks.push(DecoderBlock { resnets, upsample });
        }
        let decoder = Decoder {
            conv_in: Conv2d::new(&dv.pp("conv_in"), lat, top, 3, 1, 1)?,
            mid: MidBlock::new(&dv.pp("mid_block"), g, top, cfg.mid_block_add_attention)?,
            blocks,
            conv_norm_out: GroupNorm::new(&dv.pp("conv_norm_out"), g, ch[0], EPS)?,
            conv_out: Conv2d::new(&dv.pp("conv_out"), ch[0], cfg.out_channels, 3, 1, 1)?,
        };
        Ok(AutoencoderKL {
            config: cfg.clone(),
            encoder,
            decoder,
            quant_conv: Conv2d::new(&vb.pp("quant_conv"), 2 * lat, 2 * lat, 1, 1, 0)?,
            post_quant_conv: Conv2d::new(&vb.pp("post_quant_conv"), lat, lat, 1, 1, 0)?,
        })
    }

    /// Images [B, C, H, W] in [-1, 1] -> the latent distribution (unscaled).
    pub fn encode(&self, x: &Tensor) -> Result<LatentDist> {
        let f = self.config.downscale();
        if x.rank() != 4
            || x.dim(1) != self.config.in_channels
            || !x.dim(2).is_multiple_of(f)
            || !x.dim(3).is_multiple_of(f)
        {
            return Err(Error::invalid(
                "vae encode",
                format!(
                    "images must be [B, {}, H, W] with H and W multiples of {f}, got {:?}",
                    self.config.in_channels,
                    x.shape()
                ),
            ));
        }
        let e = &self.encoder;
        let mut h = e.conv_in.forward(x)?;
        for b in &e.blocks {
            for r in &b.resnets {
                h = r.forward(&h, None)?;
            }
            if let Some(d) = &b.downsample {
                h = d.forward(&pad_right_bottom(&h)?)?;
            }
        }
        h = e.mid.forward(&h)?;
        h = e.conv_out.forward(&e.conv_norm_out.forward(&h)?.silu()?)?;
        let moments = self.quant_conv.forward(&h)?;
        let lat = self.config.latent_channels;
        let mean = moments.narrow(1, 0, lat)?;
        let logvar = moments.narrow(1, lat, lat)?.to_vec()?.into_iter().map(|v| v.clamp(-30.0, 20.0)).collect();
        Ok(LatentDist { mean, logvar })
    }

    /// Latents [B, latent, h, w] (already divided by the scaling factor) -> images [B, C, H, W].
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        if z.rank() != 4 || z.dim(1) != self.config.latent_channels {
            return Err(Error::invalid(
                "vae decode",
                format!("latents must be [B, {}, h, w], got {:?}", self.config.latent_channels, z.shape()),
            ));
        }
        let d = &self.decoder;
        let mut h = d.conv_in.forward(&self.post_quant_conv.forward(z)?)?;
        h = d.mid.forward(&h)?;
        for b in &d.blocks {
            for r in &b.resnets {
                h = r.forward(&h, None)?;
            }
            if let Some(u) = &b.upsample {
                h = u.forward(&h.upsample_nearest2x()?)?;
            }
        }
        d.conv_out.forward(&d.conv_norm_out.forward(&h)?.silu()?)
    }
}
