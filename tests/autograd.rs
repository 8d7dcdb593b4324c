//! The autograd layer's semantics: accumulation, no-grad mode, errors, and runtime facts
//! (pipeline cache, shader errors, chosen backend).

mod common;
use common::*;
use engine::gpu::{self, Access, Kernel, Shader, Spec};
use engine::{no_grad, Tensor};

#[test]
fn gradients_accumulate_over_every_use() {
    // y = x*x + x  ->  dy/dx = 2x + 1
    let xs = [0.5f32, -1.0, 2.0];
    let x = param(&xs, &[3]);
    let y = x.mul(&x).unwrap().add(&x).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let want: Vec<f64> = xs.iter().map(|&v| 2.0 * v as f64 + 1.0).collect();
    assert_close("d(x^2+x)", &x.grad().unwrap().to_vec().unwrap(), &want, 1e-6, 1e-6);
    // A second graph adds into the same .grad until it is cleared.
    x.sum_all().unwrap().backward().unwrap();
    let want2: Vec<f64> = want.iter().map(|v| v + 1.0).collect();
    assert_close("accumulated", &x.grad().unwrap().to_vec().unwrap(), &want2, 1e-6, 1e-6);
    x.zero_grad();
    assert!(x.grad().is_none());
}

/// torch's rule, which lets fp16's gradients run on f16 matrix units: a backward runs under the
/// autocast dtype its forward ran under, even after that guard is gone, and leaves the
/// thread's own setting as it was.
#[test]
fn backward_runs_under_the_forward_autocast() {
    use engine::autograd::{autocast, autocast_dtype, record};
    use engine::tensor::DType;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let x = param(&[1.0, 2.0], &[2]);
    let mut outs = Vec::new();
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        let _a = autocast(dtype);
        let seen = seen.clone();
        outs.push(record(x.detach(), "probe", &[&x], move |g| {
            seen.lock().unwrap().push(autocast_dtype());
            Ok(vec![Some(g.clone())])
        }));
    }
    let sum = outs[0].add(&outs[1]).unwrap().add(&outs[2]).unwrap().sum_all().unwrap();
    {
        let _other = autocast(DType::BF16);
        sum.backward().unwrap();
        assert_eq!(autocast_dtype(), DType::BF16, "backward restored the thread's autocast");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        assert!(seen.contains(&dtype), "no backward ran under {dtype}: {seen:?}");
    }
    assert_close("dx", &x.grad().unwrap().to_vec().unwrap(), &[3.0, 3.0], 0.0, 0.0);
}

#[test]
fn no_grad_records_nothing() {
    let x = param(&[1.0, 2.0], &[2]);
    let y = {
        let _g = no_grad();
        x.exp().unwrap()
    };
    assert!(!y.requires_grad());
    let z = x.exp().unwrap();
    assert!(z.requires_grad());
    let e = y.sum_all().unwrap().backward().unwrap_err().to_string();
    assert!(e.contains("does not require grad"), "{e}");
}

#[test]
fn backward_twice_is_an_error_not_a_wrong_answer() {
    let x = param(&[1.0, 2.0], &[2]);
    let y = x.exp().unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("second time"), "{e}");
}

#[test]
fn backward_needs_a_scalar_or_a_seed_of_the_right_shape() {
    let x = param(&[1.0, 2.0], &[2]);
    let y = x.exp().unwrap();
    assert!(y.backward().unwrap_err().to_string().contains("one-element"));
    let e = y.backward_with(&Tensor::ones(&[3]).unwrap()).unwrap_err().to_string();
    assert!(e.contains("[2]") && e.contains("[3]"), "{e}");
}

#[test]
fn detached_inputs_get_no_gradient() {
    let a = param(&[1.0, 2.0], &[2]);
    let b = param(&[3.0, 4.0], &[2]);
    a.mul(&b.detach()).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close("da", &a.grad().unwrap().to_vec().unwrap(), &[3.0, 4.0], 0.0, 1e-7);
    assert!(b.grad().is_none());
}

#[test]
fn user_errors_are_values_with_both_shapes() {
    let e = Tensor::from_slice(&[1.0, 2.0, 3.0], &[2, 2]).unwrap_err().to_string();
    assert!(e.contains("[2, 2]"), "{e}");
    let a = Tensor::zeros(&[2, 3]).unwrap();
    let e = a.reshape(&[4, 2]).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 2]"), "{e}");
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.sum(2, false).is_err());
    assert!(a.narrow0(1, 2).is_err());
    let e = a.layer_norm(&Tensor::ones(&[2]).unwrap(), &Tensor::zeros(&[3]).unwrap(), 1e-5).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[2]"), "{e}");
}

static BROKEN: Shader = Shader::file(
    "broken",
    "@group(0) @binding(0) var<uniform> p: vec4<u32>;\n@compute @workgroup_size(1) fn main_entry() { let x: f32 = p.x; }\n",
    &[],
    &[],
);
static BROKEN_KERNEL: Kernel = Kernel { shader: &BROKEN, entry: "main_entry", bindings: &[] };

#[test]
fn a_shader_error_names_the_shader_and_entry_point() {
    let ctx = gpu::context().unwrap();
    let e = ctx.pipeline(&BROKEN_KERNEL, &Spec::new()).unwrap_err().to_string();
    assert!(e.contains("broken.wgsl") && e.contains("main_entry"), "{e}");
    // The device is still usable afterwards.
    let v = Tensor::from_slice(&[1.0], &[1]).unwrap().exp().unwrap().item().unwrap();
    assert!((v - 1.0f32.exp()).abs() < 1e-6, "{v}");
}

#[test]
fn pipelines_are_compiled_once_per_process() {
    let x = Tensor::ones(&[4]).unwrap();
    x.softmax().unwrap().to_vec().unwrap();
    let ctx = gpu::context().unwrap();
    static SOFTMAX_FWD: Kernel = Kernel {
        shader: &engine::ops::softmax::SHADER,
        entry: "softmax_forward",
        bindings: &[Access::Read, Access::ReadWrite],
    };
    let p1 = ctx.pipeline(&SOFTMAX_FWD, &Spec::new()).unwrap();
    let p2 = ctx.pipeline(&SOFTMAX_FWD, &Spec::new()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&p1, &p2));
}

#[test]
fn the_backend_asked_for_is_the_one_used() {
    let ctx = gpu::context().unwrap();
    if let Ok(b) = std::env::var("ENGINE_BACKEND") {
        let want = match b.to_ascii_lowercase().as_str() {
            "gl" => Some(wgpu::Backend::Gl),
            "vulkan" => Some(wgpu::Backend::Vulkan),
            _ => None,
        };
        if let Some(want) = want {
            assert_eq!(ctx.info.backend, want);
        }
    }
    eprintln!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
}

#[test]
fn a_tensor_larger_than_any_buffer_is_an_out_of_memory_error() {
    let ctx = gpu::context().unwrap();
    let max = ctx.limits.max_buffer_size;
    if max > 1 << 40 {
        eprintln!("skipped: max_buffer_size {max} is too large to exceed safely");
        return;
    }
    let e = Tensor::zeros(&[(max / 4 + 1) as usize]).unwrap_err();
    assert!(matches!(e, engine::Error::OutOfMemory(_)), "{e}");
    assert!(e.to_string().contains("max_buffer_size"), "{e}");
}
