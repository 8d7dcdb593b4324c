//! The models on the GPUs' choices, on lavapipe. With `as_gpu` (`ENGINE_AS_GPU=1`) the CPU
//! adapter makes every choice a GPU makes by adapter kind: the default kernels (128 x 128 tiled
//! GEMMs, conv2d's 8-row subgroup entry, workgroup-per-channel norm gradients), the split
//! rules (split-K for GEMM, attention, conv2d and its weight gradient; long sums in runs side
//! by side) and no loop counters (kept here, `loop_bounding`: they change no result, and
//! lavapipe's compiler unrolls without them). The kernel tests force one GPU path at a time on
//! small shapes; here they all run together, through every layer of the committed reference
//! cases, and must pass `engine parity` as on lavapipe's own choices; then again with every
//! split-K path split in two, which these small models are too small to take by the rules.
//! Before, a GPU user was the first to run them together.

mod common;

use std::path::PathBuf;

use engine::gpu::{self, GpuOptions};

#[test]
fn the_reference_cases_pass_parity_on_the_gpus_choices() {
    let mut o = GpuOptions::from_env().unwrap();
    o.as_gpu = true;
    o.loop_bounding = Some(true);
    // The profiler names the kernels that ran (below).
    o.profile = true;
    gpu::configure(o).unwrap();
    let ctx = gpu::context().unwrap();
    assert!(!ctx.caps.cpu, "as_gpu leaves the adapter a CPU one");
    let cases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
    // The cases' models are too small for the split rules (at least 128 channels a slice, K
    // runs of 256), so a second pass forces two slices everywhere a split applies.
    for split in [None, Some(2)] {
        engine::ops::conv::force_splits(split);
        engine::ops::gemm::force_k_splits(split);
        for case in ["tiny", "sd-shaped", "sd-shaped-fp16"] {
            let report = engine::parity::run(&cases.join(case), |_| {}).unwrap();
            common::assert_parity_passes(case, &format!(" on the GPUs' choices, splits {split:?}"), &report);
        }
    }
    engine::ops::conv::force_splits(None);
    engine::ops::gemm::force_k_splits(None);
    // The GPUs' entries ran, and the CPU adapters' own did not.
    let Some(profile) = ctx.profile() else {
        println!("SKIPPED the kernel census: the adapter has no timestamp queries");
        return;
    };
    let ran = |entry: &str| profile.kernels.iter().filter(|k| k.entry == entry).map(|k| k.dispatches).sum::<u64>();
    let mut gpu_entries = vec!["gemm8x8_tiled", "norm_backward_params_wg"];
    if engine::ops::gemm::subgroup_kernels().unwrap().is_some() {
        // conv2d's forward and input gradient (the 8-row subgroup entry where it fits).
        gpu_entries.push("conv_subgroup8");
    }
    for entry in gpu_entries {
        assert!(ran(entry) > 0, "{entry} never ran on the GPUs' choices");
    }
    assert_eq!(ran("norm_backward_params"), 0, "the CPU adapters' norm gradients ran");
}
