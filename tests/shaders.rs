//! Every WGSL file, in every specialisation the engine builds, parses and validates with
//! naga and translates to SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL), so that
//! Metal and DX12 users are not the first to find a shader that does not compile.
//! Needs no GPU.

use engine::gpu::kernel::specialise;
use engine::gpu::Spec;
use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn check(name: &str, source: &str) {
    let module =
        naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: validation: {}", e.emit_to_string(source)));

    let spv_out = spv::write_vec(&module, &info, &spv::Options::default(), None)
        .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e}"));
    assert!(!spv_out.is_empty());

    let mut hlsl_src = String::new();
    let hlsl_opts = hlsl::Options::default();
    hlsl::Writer::new(&mut hlsl_src, &hlsl_opts, &hlsl::PipelineOptions::default())
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("{name}: HLSL: {e}"));

    for ep in &module.entry_points {
        // MSL and GLSL are written one entry point at a time, as wgpu's Metal and GL backends do.
        let msl_opts = msl::Options { lang_version: (2, 4), fake_missing_bindings: true, ..Default::default() };
        let pipeline = msl::PipelineOptions { entry_point: Some((ep.stage, ep.name.clone())), ..Default::default() };
        msl::write_string(&module, &info, &msl_opts, &pipeline)
            .unwrap_or_else(|e| panic!("{name}::{}: MSL: {e}", ep.name));

        let mut glsl_src = String::new();
        let opts = glsl::Options { version: glsl::Version::Desktop(430), ..Default::default() };
        let pipe = glsl::PipelineOptions { shader_stage: ep.stage, entry_point: ep.name.clone(), multiview: None };
        let mut w =
            glsl::Writer::new(&mut glsl_src, &module, &info, &opts, &pipe, naga::proc::BoundsCheckPolicies::default())
                .unwrap_or_else(|e| panic!("{name}::{}: GLSL: {e}", ep.name));
        w.write().unwrap_or_else(|e| panic!("{name}::{}: GLSL: {e}", ep.name));
    }
}

#[test]
fn every_shader_translates_for_every_backend() {
    let shaders = engine::ops::all_shaders();
    assert!(shaders.len() >= 8);
    let mut n = 0;
    for shader in shaders {
        for variant in shader.variants {
            let spec = Spec::from_values(variant);
            check(&format!("{}.wgsl {variant:?}", shader.name), &specialise(shader, &spec));
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} shader variants checked");
}

#[test]
fn every_shader_file_is_registered() {
    // A new WGSL file that is not in ops::all_shaders() would escape the test above.
    let registered: Vec<&str> = engine::ops::all_shaders().iter().map(|s| s.name).collect();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(registered.contains(&stem.as_str()), "shaders/{stem}.wgsl is not in ops::all_shaders()");
        }
    }
}
