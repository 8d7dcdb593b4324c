//! Embeddings: token lookup (torch.nn.Embedding) with a deterministic scatter-add backward,
//! and diffusers' sinusoidal timestep embedding.

use super::launch::{chunks, grid, u, win};
use crate::autograd::record;
use crate::error::{Error, Result};
use crate::gpu::{Access, Kernel, Shader, Spec, Uniforms};
use crate::tensor::Tensor;

pub static SHADER: Shader =
    Shader::file("embedding", include_str!("../../shaders/embedding.wgsl"), &[&[]], &[&Params::LAYOUT]);
const BINDINGS: &[Access] = &[Access::Read, Access::Read, Access::ReadWrite];
static FORWARD: Kernel = Kernel { shader: &SHADER, entry: "embedding_forward", bindings: BINDINGS };
static BACKWARD: Kernel = Kernel { shader: &SHADER, entry: "embedding_backward", bindings: BINDINGS };
static TIMESTEP: Kernel = Kernel { shader: &SHADER, entry: "timestep_embedding", bindings: BINDINGS };

crate::uniforms! {
    /// The uniform block of `embedding.wgsl`.
    struct Params {
        n: u32,
        d: u32,
        row0: u32,
        rows: u32,
        ids_shift: u32,
        src_shift: u32,
        dst_shift: u32,
        flip: u32,
        shift: f32,
        scale: f32,
        log_max_period: f32,
        _p0: u32,
    }
}

/// Rows of `table` [V, D] for each id: [ids.len(), D]. Backward accumulates into the rows
/// of the table's gradient, repeated ids adding up.
pub fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
    if table.rank() != 2 {
        return Err(Error::invalid("embedding", format!("the table must be [V, D], got {:?}", table.shape())));
    }
    let (v, d) = (table.dim(0), table.dim(1));
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= v) {
        return Err(Error::invalid("embedding", format!("id {bad} is outside a table of {v} rows")));
    }
    let ctx = Tensor::ctx()?;
    let n = ids.len();
    let out = Tensor::empty(&[n, d])?;
    if n == 0 || d == 0 {
        return Ok(out);
    }
    let ids_buf = std::sync::Arc::new(ctx.alloc(n as u64 * 4)?);
    ctx.write(ids_buf.buffer(), 0, bytemuck::cast_slice(ids));
    let rows_per = (ctx.max_binding_elems() / d).max(1);
    if n * d > ctx.max_binding_elems() {
        return Err(Error::invalid("embedding", format!("{n} x {d} looked-up values exceed the binding limit")));
    }
    let (ov, os) = win(ctx, &out, 0, n * d)?;
    let (iv, is) = ctx.window(ids_buf.buffer(), 0, n)?;
    for (r0, rn) in chunks(v, rows_per) {
        let (tv, ts) = win(ctx, table, r0 * d, rn * d)?;
        let p = Params {
            n: u(n),
            d: u(d),
            row0: u(r0),
            rows: u(rn),
            ids_shift: is,
            src_shift: ts,
            dst_shift: os,
            ..Default::default()
        };
        ctx.dispatch(&FORWARD, &Spec::new(), &p, &[iv, tv, ov], grid((n * d).div_ceil(256)))?;
    }
    let shape = table.shape().to_vec();
    Ok(record(out, "embedding", &[table], move |g| {
        let ctx = Tensor::ctx()?;
        let dt = Tensor::zeros(&shape)?;
        let (iv, is) = ctx.window(ids_buf.buffer(), 0, n)?;
        let (gv, gs) = win(ctx, g, 0, n * d)?;
        for (r0, rn) in chunks(v, rows_per) {
            let (dv, ds) = win(ctx, &dt, r0 * d, rn * d)?;
            let p = Params {
                n: u(n),
                d: u(d),
                row0: u(r0),
                rows: u(rn),
                ids_shift: is,
                src_shift: gs,
                dst_shift: ds,
                ..Default::default()
            };
            ctx.dispatch(&BACKWARD, &Spec::new(), &p, &[iv, gv, dv], grid(d.div_ceil(256)))?;
        }
        Ok(vec![Some(dt)])
    }))
}

/// diffusers' `get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift,
/// scale=1, max_period=10000)`: timesteps \[B\] -> \[B, dim\]. No gradient (timesteps are data).
pub fn timestep_embedding(
    timesteps: &Tensor,
    dim: usize,
    flip_sin_to_cos: bool,
    downscale_freq_shift: f32,
) -> Result<Tensor> {
    if timesteps.rank() != 1 {
        return Err(Error::invalid(
            "timestep_embedding",
            format!("timesteps must be 1-D, got {:?}", timesteps.shape()),
        ));
    }
    if dim < 2 || (dim / 2) as f32 == downscale_freq_shift {
        return Err(Error::invalid(
            "timestep_embedding",
            format!("dim {dim} is too small for shift {downscale_freq_shift}"),
        ));
    }
    let ctx = Tensor::ctx()?;
    let n = timesteps.numel();
    let out = Tensor::empty(&[n, dim])?;
    let (tv, ts) = win(ctx, timesteps, 0, n)?;
    let (ov, os) = win(ctx, &out, 0, n * dim)?;
    let p = Params {
        n: u(n),
        d: u(dim),
        src_shift: ts,
        dst_shift: os,
        flip: flip_sin_to_cos as u32,
        shift: downscale_freq_shift,
        scale: 1.0,
        // diffusers computes -math.log(max_period) in f64 and multiplies in f32.
        log_max_period: (10000f64).ln() as f32,
        ..Default::default()
    };
    let dummy = super::elementwise::dummy_binding()?;
    ctx.dispatch(&TIMESTEP, &Spec::new(), &p, &[dummy, tv, ov], grid((n * dim).div_ceil(256)))?;
    Ok(out)
}
