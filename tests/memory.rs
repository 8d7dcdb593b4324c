//! Buffer pool and autograd memory: a single test in its own process, so that no other test
//! allocates while it reads the pool's counters.

use engine::Tensor;

#[test]
fn pool_reuses_buffers_and_backward_frees_saved_activations() {
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
    let y = x.exp().unwrap().silu().unwrap().sum_all().unwrap();
    let with_graph = ctx.pool.stats().live_bytes;
    y.backward().unwrap();
    ctx.sync().unwrap();
    let after = ctx.pool.stats();
    assert_eq!(after.allocations, before.allocations, "a repeated step allocated new buffers: {before:?} -> {after:?}");
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
