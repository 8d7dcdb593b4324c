//! Every shader module (WGSL files and the entries generated from the kernel tables), in every
//! specialisation the engine builds, parses and validates with naga and translates to SPIR-V
//! (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL), so that Metal and DX12 users are not the
//! first to find a shader that does not compile; every uniform block matches the Rust struct
//! its launcher fills, field by field; the kernel tables and their generated entries agree.
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
    // Cooperative matrices exist on Vulkan and Metal only (naga writes them for SPIR-V and
    // MSL); the engine compiles those modules only on adapters that report them.
    let coop = source.lines().any(|l| l.trim() == "enable wgpu_cooperative_matrix;");
    if coop {
        for ep in &module.entry_points {
            let msl_opts = msl::Options { lang_version: (2, 4), fake_missing_bindings: true, ..Default::default() };
            let pipeline =
                msl::PipelineOptions { entry_point: Some((ep.stage, ep.name.clone())), ..Default::default() };
            msl::write_string(&module, &info, &msl_opts, &pipeline)
                .unwrap_or_else(|e| panic!("{name}::{}: MSL: {e}", ep.name));
        }
        return;
    }

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
    let shaders = engine::all_shaders();
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
    let registered: Vec<&str> = engine::all_shaders().iter().map(|s| s.file).collect();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(registered.contains(&stem.as_str()), "shaders/{stem}.wgsl is not in engine::all_shaders()");
        }
    }
}

/// The uniform struct that `global` (binding 0) has, as (struct name, span, [(member, offset, size)]).
fn uniform_struct(module: &naga::Module, ty: naga::Handle<naga::Type>) -> (String, usize, Vec<(String, usize, usize)>) {
    let t = &module.types[ty];
    let naga::TypeInner::Struct { members, span } = &t.inner else { panic!("uniform of a non-struct type {t:?}") };
    let fields = members
        .iter()
        .map(|m| {
            let size = module.types[m.ty].inner.size(module.to_ctx()) as usize;
            (m.name.clone().unwrap_or_default(), m.offset as usize, size)
        })
        .collect();
    (t.name.clone().unwrap_or_default(), *span as usize, fields)
}

#[test]
fn every_uniform_block_matches_its_rust_struct() {
    let mut checked = 0;
    for shader in engine::all_shaders() {
        let spec = Spec::from_values(shader.variants[0]);
        let source = specialise(shader, &spec);
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let mut seen = Vec::new();
        for (_, var) in module.global_variables.iter() {
            if var.space != naga::AddressSpace::Uniform {
                continue;
            }
            let binding = var.binding.as_ref().expect("uniform without binding");
            assert_eq!((binding.group, binding.binding), (0, 0), "{}: uniforms sit at binding 0", shader.name);
            let (name, span, fields) = uniform_struct(&module, var.ty);
            let rust = shader
                .uniforms
                .iter()
                .find(|l| l.name == name)
                .unwrap_or_else(|| panic!("{}: no Rust struct for the WGSL uniform struct {name}", shader.name));
            assert_eq!(rust.size, span, "{}: {name}: Rust size vs WGSL span", shader.name);
            let rust_fields: Vec<(String, usize, usize)> =
                rust.fields.iter().map(|f| (f.name.to_string(), f.offset, f.size)).collect();
            assert_eq!(rust_fields, fields, "{}: {name}: (field, offset, size) in Rust vs WGSL", shader.name);
            seen.push(name);
            checked += 1;
        }
        for l in shader.uniforms {
            assert!(seen.contains(&l.name.to_string()), "{}: Rust struct {} has no WGSL uniform", shader.name, l.name);
        }
    }
    assert!(checked >= 15, "only {checked} uniform blocks checked");
}

#[test]
fn kernel_tables_and_generated_entries_agree() {
    use engine::ops::{conv, gemm};
    // Every table row's entry exists in its module, with the workgroup layout its block needs
    // (1-D for subgroup broadcasts), and names follow the rows (no entry typed twice).
    let entries = |shader: &engine::gpu::Shader| -> Vec<(String, [u32; 3])> {
        let spec = Spec::from_values(shader.variants[0]);
        let module = naga::front::wgsl::parse_str(&specialise(shader, &spec)).unwrap();
        module.entry_points.iter().map(|e| (e.name.clone(), e.workgroup_size)).collect()
    };
    let (plain, sg) = (entries(&gemm::SHADER), entries(&gemm::SUBGROUP_SHADER));
    for k in &gemm::KERNELS {
        let b = k.block;
        let module = if b.broadcast { &sg } else { &plain };
        let (_, wg) =
            module.iter().find(|(n, _)| n == k.kernel.entry).unwrap_or_else(|| panic!("no entry {}", k.kernel.entry));
        if k.generated {
            let kind = if b.broadcast {
                "subgroup"
            } else if b.quads {
                "tiled_vec4"
            } else if b.tiled {
                "tiled"
            } else {
                ""
            }
            .to_string()
                + if b.pipelined { "_pipelined" } else { "" };
            let want = format!("gemm{}x{}{}{kind}", b.rows, b.cols, if kind.is_empty() { "" } else { "_" });
            assert_eq!(k.kernel.entry, want);
            let name =
                format!("{}x{}{}{}", b.rows, b.cols, if kind.is_empty() { "" } else { " " }, kind.replace('_', " "));
            assert_eq!(k.name, name);
            assert_eq!(wg[1], if b.broadcast { 1 } else { 16 }, "{}: workgroup {wg:?}", k.kernel.entry);
        }
    }
    let (plain, sg) = (entries(&conv::SHADER), entries(&conv::SUBGROUP_SHADER));
    for k in &conv::KERNELS {
        let module = if k.block.broadcast { &sg } else { &plain };
        for e in [k.conv.entry, k.dw.entry] {
            assert!(module.iter().any(|(n, _)| n == e), "no conv entry {e}");
        }
    }
    // No generated entry without a row.
    assert_eq!(plain.len() + sg.len(), 2 * conv::KERNELS.len());
    let names: Vec<&str> = gemm::variant_names().collect();
    assert_eq!(names.len(), gemm::KERNELS.len());
}
