//! `cargo bench`: the same suite as `engine bench`, printed as a table.
//! (harness = false: the GPU timings come from the engine's own timer, not libtest's.)

fn main() {
    let fma = engine::bench::fma_peak().expect("fma probe");
    let copy = engine::bench::copy_peak().expect("copy probe");
    let mut rows = vec![fma.clone(), copy];
    rows.extend(engine::bench::gemm_suite(fma.gflops.unwrap()).expect("gemm suite"));
    for r in rows {
        println!("{}", r.to_json());
    }
}
