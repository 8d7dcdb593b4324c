//! The kernels' launchers, each op's forward beside its backward rule.
//!
//! Every launcher binds windows of at most the adapter's per-binding limit and splits its
//! work into chunks where a tensor is larger (see [`launch`]).

/// A module with cooperative matrices (GEMM's and conv2d's coop entries, one per matrix shape):
/// the `enable`s, the family's hand-written file `shaders/$file.wgsl`, then `$generate`'s
/// entries; compiled only on adapters opened with the feature. `Params` is the family's.
macro_rules! coop_module {
    ($name:ident, $label:literal, $file:literal, $generate:expr, $variants:expr) => {
        pub static $name: Shader = Shader {
            name: $label,
            file: $file,
            source: concat!(
                "enable f16;\nenable wgpu_cooperative_matrix;\n",
                include_str!(concat!("../../shaders/", $file, ".wgsl"))
            ),
            generated: Some($generate),
            full: OnceLock::new(),
            variants: $variants,
            uniforms: &[&Params::LAYOUT],
        };
    };
}

pub mod attention;
mod blocked;
pub mod cast;
pub mod conv;
pub mod copy;
pub mod elementwise;
pub mod embedding;
pub mod gemm;
pub mod launch;
pub mod loss;
pub mod norm;
pub mod reduce;
pub mod softmax;
