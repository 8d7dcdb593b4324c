//! diffusers' `ResnetBlock2D`, one block for the U-Net (with its time embedding) and the VAE
//! (without): norm → SiLU → 3x3 conv, plus the projected time embedding where there is one,
//! norm → SiLU → 3x3 conv, the skip (a 1x1 conv where the widths differ) added, the sum divided
//! by `output_scale_factor`.

use crate::error::{Error, Result};
use crate::nn::{Conv2d, GroupNorm, Linear, Loader};
use crate::tensor::Tensor;

#[derive(Clone)]
pub struct ResnetBlock2D {
    norm1: GroupNorm,
    conv1: Conv2d,
    time_emb_proj: Option<Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    conv_shortcut: Option<Conv2d>,
    output_scale: f32,
}

impl ResnetBlock2D {
    /// `temb`: the time embedding's width (U-Net), or None (VAE). Parameters are taken in
    /// diffusers' order, which is also the order checkpoints and exports list them in.
    pub fn new(
        vb: &Loader,
        (groups, eps): (usize, f64),
        cin: usize,
        cout: usize,
        temb: Option<usize>,
        output_scale: f64,
    ) -> Result<ResnetBlock2D> {
        let norm1 = GroupNorm::new(&vb.pp("norm1"), groups, cin, eps)?;
        let conv1 = Conv2d::new(&vb.pp("conv1"), cin, cout, 3, 1, 1)?;
        let time_emb_proj = match temb {
            Some(t) => Some(Linear::new(&vb.pp("time_emb_proj"), t, cout, true)?),
            None => None,
        };
        Ok(ResnetBlock2D {
            norm1,
            conv1,
            time_emb_proj,
            norm2: GroupNorm::new(&vb.pp("norm2"), groups, cout, eps)?,
            conv2: Conv2d::new(&vb.pp("conv2"), cout, cout, 3, 1, 1)?,
            conv_shortcut: if cin != cout {
                Some(Conv2d::new(&vb.pp("conv_shortcut"), cin, cout, 1, 1, 0)?)
            } else {
                None
            },
            output_scale: output_scale as f32,
        })
    }

    /// x [B, cin, h, w], temb_act = silu(temb) [B, temb] where the block has a time embedding
    /// -> [B, cout, h, w].
    pub fn forward(&self, x: &Tensor, temb_act: Option<&Tensor>) -> Result<Tensor> {
        let mut h = self.conv1.forward(&self.norm1.forward(x)?.silu()?)?;
        match (&self.time_emb_proj, temb_act) {
            (Some(proj), Some(t)) => {
                let t = proj.forward(t)?;
                h = h.add(&t.reshape(&[t.dim(0), t.dim(1), 1, 1])?)?;
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "resnet",
                    "a time embedding goes with a block that has time_emb_proj, and only there",
                ))
            }
        }
        let h = self.conv2.forward(&self.norm2.forward(&h)?.silu()?)?;
        let skip = match &self.conv_shortcut {
            Some(c) => c.forward(x)?,
            None => x.clone(),
        };
        let out = skip.add(&h)?;
        if self.output_scale == 1.0 {
            Ok(out)
        } else {
            out.scale(1.0 / self.output_scale)
        }
    }
}
