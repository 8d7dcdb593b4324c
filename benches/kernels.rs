//! `cargo bench`: the same suites as `engine bench`, one JSON row per line.
//! (harness = false: the GPU timings come from the engine's own timer, not libtest's.)

use engine::bench;

fn main() {
    let fma = bench::fma_peak().expect("fma probe");
    let copy = bench::copy_peak().expect("copy probe");
    let peaks = (fma.gflops.unwrap(), copy.gbps.unwrap());
    let mut rows = vec![fma, copy];
    rows.extend(bench::gemm_suite(peaks.0).expect("gemm suite"));
    rows.extend(bench::conv_suite(peaks).expect("conv suite"));
    rows.extend(bench::norm_suite(peaks).expect("norm suite"));
    rows.extend(bench::attention_suite(peaks).expect("attention suite"));
    rows.extend(bench::adamw_suite(peaks).expect("adamw suite"));
    rows.extend(bench::e2e_suite(peaks).expect("end-to-end suite"));
    for r in rows {
        println!("{}", r.to_json());
    }
}
