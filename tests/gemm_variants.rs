//! Every GEMM launch variant (plain and subgroup register blocks) against the f64 reference,
//! each forced in turn with ENGINE_GEMM_VARIANT. Its own test binary with one test, because
//! the variable is process-wide. Variants this adapter does not offer (no subgroups) fall back
//! to the default and are checked as that.

mod common;

use common::*;
use engine::ops::gemm::matmul_t;

#[test]
fn every_gemm_variant_matches_the_reference() {
    let variants = [
        "4x4",
        "8x8",
        "8x5",
        "8x8 subgroup",
        "16x8 subgroup",
        "32x8 subgroup",
        "64x8 subgroup",
        "8x5 subgroup",
        "16x5 subgroup",
        "32x5 subgroup",
    ];
    // Shapes that offer each variant: wide products (every block height), ragged edges, and
    // the narrow products of attention heads.
    let shapes = [
        (1usize, 1100usize, 300usize, 19usize),
        (2, 131, 257, 8),
        (1, 300, 129, 64),
        (2, 70, 40, 33),
        (1, 259, 80, 5),
        (1, 96, 160, 12),
    ];
    for v in variants {
        std::env::set_var("ENGINE_GEMM_VARIANT", v);
        for &(batch, m, n, k) in &shapes {
            for &(ta, tb) in &[(false, false), (true, true)] {
                let mut rng = Rng::new((m * 31 + n * 7 + k) as u64);
                let sa = if ta { vec![batch, k, m] } else { vec![batch, m, k] };
                let sb = if tb { vec![batch, n, k] } else { vec![batch, k, n] };
                let a = rng.vec(numel(&sa), -1.0, 1.0);
                let b = rng.vec(numel(&sb), -1.0, 1.0);
                let out = matmul_t(&t(&a, &sa), &t(&b, &sb), ta, tb).unwrap();
                let want = gemm_ref(&f64s(&a), &f64s(&b), None, batch, m, n, k, ta, tb);
                let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                assert_close(
                    &format!("gemm {v} b{batch} m{m} n{n} k{k} ta{ta} tb{tb}"),
                    &out.to_vec().unwrap(),
                    &want,
                    tol,
                    tol,
                );
            }
        }
    }
    std::env::remove_var("ENGINE_GEMM_VARIANT");
}
