//! Buffer pool and autograd memory: tests in a process of their own, taking turns (`ALONE`), so
//! that no other test allocates while one reads the pool's counters.

mod common;

use engine::Tensor;
use std::path::Path;

static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn pool_reuses_buffers_and_bind_groups_and_backward_frees_saved_activations() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = engine::gpu::context().unwrap();
    let n = 1 << 20; // 4 MiB per tensor
    let x = Tensor::ones(&[n]).unwrap().requires_grad_();

    // Steady state: the same shapes again allocate nothing new.
    for _ in 0..2 {
        let y = x.exp().unwrap().silu().unwrap().sum_all().unwrap();
        y.backward().unwrap();
        x.zero_grad();
    }
    ctx.sync().unwrap();
    let before = ctx.pool.stats();
    let (groups, dispatches) = (ctx.bind_group_counts(), ctx.dispatches_recorded());
    let y = x.exp().unwrap().silu().unwrap().sum_all().unwrap();
    let with_graph = ctx.pool.stats().live_bytes;
    y.backward().unwrap();
    ctx.sync().unwrap();
    let after = ctx.pool.stats();
    assert_eq!(after.allocations, before.allocations, "a repeated step allocated new buffers: {before:?} -> {after:?}");
    // ... and got the same buffers in the same order (the pool's lowest-first order), so every
    // dispatch found the bind group an earlier step made.
    let (hits, misses) = (ctx.bind_group_counts().0 - groups.0, ctx.bind_group_counts().1 - groups.1);
    assert_eq!((hits, misses), (ctx.dispatches_recorded() - dispatches, 0), "a repeated step made new bind groups");
    assert!(hits >= 4, "{hits} dispatches");
    assert!(after.reuses > before.reuses);
    // The graph saved exp(x) and x for backward (two 4 MiB activations besides x itself);
    // after backward only x and its 4 MiB gradient remain live, however long `y` lives.
    let tensor = 4u64 << 20;
    assert!(
        with_graph >= before.live_bytes + tensor,
        "forward kept its activation: {with_graph} vs {}",
        before.live_bytes
    );
    assert!(
        after.live_bytes <= before.live_bytes + tensor + 4096,
        "backward left saved activations alive: live {} vs {} before (+ one gradient)",
        after.live_bytes,
        before.live_bytes
    );
    assert!(x.grad().is_some());
    drop(y);
    assert!(after.peak_bytes >= with_graph);
}

/// The pool hands out the lowest-numbered free buffer of a size class, whatever order the
/// buffers came back in: a step that frees its buffers in another order than it took them
/// (as backward does) gets the same ones the next time, and with them the same bind groups.
#[test]
fn pool_hands_out_its_free_buffers_in_creation_order() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let ctx = engine::gpu::context().unwrap();
    ctx.sync().unwrap();
    let bytes = 3 << 20; // a size class no other test of this file uses
    let take = |n: usize| -> Vec<Option<engine::gpu::PooledBuffer>> {
        (0..n).map(|_| Some(ctx.alloc(bytes).unwrap())).collect()
    };
    let mut taken = take(3);
    let made: Vec<wgpu::Buffer> = taken.iter().map(|b| b.as_ref().unwrap().buffer().clone()).collect();
    for order in [[2, 0, 1], [0, 2, 1], [1, 2, 0], [2, 1, 0]] {
        // Back in `order`, then taken again: the first made first.
        for i in order {
            drop(taken[i].take());
        }
        taken = take(3);
        for (got, want) in taken.iter().zip(&made) {
            assert!(
                got.as_ref().unwrap().buffer() == want,
                "freed in the order {order:?}, the pool did not hand out its oldest free buffer first"
            );
        }
    }
}

/// `--gradient-checkpointing` keeps each block's input only, and `--mixed-precision bf16` the
/// Linear and Conv2d inputs in half, so the pool's peak over forward and backward of the
/// sd-shaped U-Net is lower with either than without (that its gradients are bit-identical
/// is tests/models.rs's; SD 1.5's figures are `engine bench memory`'s).
#[test]
fn gradient_checkpointing_lowers_the_peak_of_forward_and_backward() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/sd-shaped/model");
    let model = engine::models::Model::open(&dir).unwrap();
    let pool = &engine::gpu::context().unwrap().pool;
    let peak = |checkpointing: bool, dtype: engine::tensor::DType| -> u64 {
        let _a = engine::autograd::autocast(dtype);
        let (mut unet, _vb) = model.unet(true).unwrap();
        unet.gradient_checkpointing = checkpointing;
        let c = unet.config.clone();
        let lat = unet.size_multiple() * 2;
        let mut rng = common::Rng::new(5);
        let x = common::param(&rng.vec(2 * c.in_channels * lat * lat, -1.0, 1.0), &[2, c.in_channels, lat, lat]);
        let ctx = common::t(&rng.vec(2 * 7 * c.cross_attention_dim(), -1.0, 1.0), &[2, 7, c.cross_attention_dim()]);
        let ts = Tensor::from_slice(&[10.0, 700.0], &[2]).unwrap();
        pool.reset_peak();
        let y = unet.forward(&x, &ts, &ctx).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        pool.stats().peak_bytes
    };
    use engine::tensor::DType;
    let (plain, checkpointed) = (peak(false, DType::F32), peak(true, DType::F32));
    eprintln!("gradient checkpointing: pool peak {plain} -> {checkpointed} bytes");
    assert!(checkpointed < plain, "peak {checkpointed} bytes with checkpointing vs {plain} without");
    // --mixed-precision bf16 keeps the inputs of Linear and Conv2d (most of what backward
    // holds) in half.
    let half = peak(false, DType::BF16);
    eprintln!("mixed precision bf16: pool peak {plain} -> {half} bytes");
    assert!(half < plain, "peak {half} bytes in bf16 vs {plain} in f32");
}
