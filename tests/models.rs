//! The SD 1.x models on real weight files: parity with diffusers/transformers on the committed
//! reference cases, single-file checkpoints, the tokenizer, and the errors a user meets.

mod common;

use std::path::{Path, PathBuf};

use engine::models::{ClipTokenizer, Model};
use engine::weights::{save, OutData, SafeFile};
use engine::Tensor;

use common::copy_dir;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check_case(name: &str) -> engine::parity::Report {
    let report = check_case_sections(name);
    for section in ["tokenizer", "clip", "vae encode", "vae decode", "unet"] {
        assert!(report.rows.iter().any(|r| r.section == section), "{name}: no {section} rows");
    }
    report
}

/// Every row of case `name` passes (whatever sections it holds).
fn check_case_sections(name: &str) -> engine::parity::Report {
    let report = engine::parity::run(&fixtures().join("reference").join(name), |_| {}).unwrap();
    common::assert_parity_passes(name, "", &report);
    report
}

#[test]
fn parity_with_diffusers_on_the_diffusers_test_components() {
    check_case("tiny");
}

/// `--mixed-precision fp16`'s step (a case holds one `mixed.dtype`; sd-shaped's is bf16): every
/// U-Net gradient as close to float64 as PyTorch's float16 autocast with loss scaling.
#[test]
fn parity_of_the_fp16_training_step_with_torch_autocast() {
    let report = check_case_sections("sd-shaped-fp16");
    let n = SafeFile::open(&fixtures().join("reference/sd-shaped/model/unet/diffusion_pytorch_model.safetensors"))
        .unwrap()
        .entries
        .len();
    let mixed = report.rows.iter().filter(|r| r.tensor.starts_with("mixed.grad.")).count();
    assert_eq!(mixed, n, "one fp16 gradient row per U-Net parameter");
}

#[test]
fn parity_with_diffusers_on_the_sd_shaped_case_including_a_training_step() {
    let report = check_case("sd-shaped");
    let grads = report.rows.iter().filter(|r| r.tensor.starts_with("train.grad.")).count();
    let deltas = report.rows.iter().filter(|r| r.tensor.starts_with("train.delta.")).count();
    // Every U-Net parameter has a gradient row and a delta row.
    let n = SafeFile::open(&fixtures().join("reference/sd-shaped/model/unet/diffusion_pytorch_model.safetensors"))
        .unwrap()
        .entries
        .len();
    assert_eq!((grads, deltas), (n, n));
    // LoRA (format 1.1, peft): kohya's module set on every transformer, A and B gradients of each.
    let lora = report.rows.iter().filter(|r| r.tensor.starts_with("lora.grad.")).count();
    let lora_modules = n_lora_modules();
    assert!(
        lora_modules >= 8 * 2 && lora == 2 * lora_modules,
        "{lora} adapter gradient rows for {lora_modules} modules"
    );
}

/// The modules the sd-shaped case's `lora` section adapts.
fn n_lora_modules() -> usize {
    let f = SafeFile::open(&fixtures().join("reference/sd-shaped/reference.safetensors")).unwrap();
    f.entries.keys().filter(|k| k.starts_with("lora.A.")).count()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("engine-models-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    common::Rng::new(seed).vec(n, -1.0, 1.0)
}

#[test]
fn a_single_file_checkpoint_loads_the_same_weights_as_the_diffusers_folder() {
    let dir = fixtures().join("single_file");
    let folder = Model::open(&dir.join("model")).unwrap();
    let single = Model::single_file_with_configs(&dir.join("sd1-tiny.safetensors"), &dir.join("model")).unwrap();
    let _g = engine::no_grad();

    let (u1, p1) = folder.unet(false).unwrap();
    let (u2, p2) = single.unet(false).unwrap();
    let names1: Vec<String> = p1.parameters().into_iter().map(|(n, _)| n).collect();
    let names2: Vec<String> = p2.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names1, names2);
    let cfg = folder.unet_config().unwrap();
    let x = Tensor::from_slice(&rand_vec(2 * 4 * 8 * 8, 1), &[2, 4, 8, 8]).unwrap();
    let t = Tensor::from_slice(&[3.0, 700.0], &[2]).unwrap();
    let ctx = Tensor::from_slice(&rand_vec(2 * 77 * cfg.cross_attention_dim(), 2), &[2, 77, cfg.cross_attention_dim()])
        .unwrap();
    assert_eq!(
        u1.forward(&x, &t, &ctx).unwrap().to_vec().unwrap(),
        u2.forward(&x, &t, &ctx).unwrap().to_vec().unwrap()
    );

    let (v1, v2) = (folder.vae().unwrap(), single.vae().unwrap());
    let img = Tensor::from_slice(&rand_vec(3 * 16 * 16, 3), &[1, 3, 16, 16]).unwrap();
    let (d1, d2) = (v1.encode(&img).unwrap(), v2.encode(&img).unwrap());
    assert_eq!(d1.mean.to_vec().unwrap(), d2.mean.to_vec().unwrap());
    assert_eq!(v1.decode(&d1.mean).unwrap().to_vec().unwrap(), v2.decode(&d1.mean).unwrap().to_vec().unwrap());

    let (c1, _) = folder.text_encoder(false).unwrap();
    let (c2, _) = single.text_encoder(false).unwrap();
    let ids = vec![(0..77u32).map(|i| (i * 13) % 1000).collect::<Vec<u32>>()];
    assert_eq!(c1.forward(&ids).unwrap().to_vec().unwrap(), c2.forward(&ids).unwrap().to_vec().unwrap());
}

#[test]
fn the_tokenizer_matches_clip_and_reads_both_folder_layouts() {
    let shipped = ClipTokenizer::shipped().unwrap();
    // shared/tokenizer/README.md's reference, from transformers' CLIPTokenizer.
    let want = [49406, 320, 1125, 539, 48136, 1929, 49407, 49407];
    let enc = shipped.encode("a photo of sks dog").unwrap();
    assert_eq!(enc.ids.len(), 77);
    assert_eq!(&enc.ids[..8], &want);
    assert!(enc.ids[8..].iter().all(|&i| i == 49407));
    assert!(!enc.truncated);
    let long = shipped.encode(&"dog ".repeat(100)).unwrap();
    assert!(long.truncated && long.ids[76] == 49407 && long.ids[75] != 49407);

    // The tokenizer.json layout: the same pipeline, serialised, must encode the same.
    let dir = temp_dir("tokjson");
    let folder = ClipTokenizer::from_dir(&fixtures().join("reference/tiny/model/tokenizer")).unwrap();
    folder.save_json(&dir.join("tokenizer.json")).unwrap();
    std::fs::copy(
        fixtures().join("reference/tiny/model/tokenizer/tokenizer_config.json"),
        dir.join("tokenizer_config.json"),
    )
    .unwrap();
    let from_json = ClipTokenizer::from_dir(&dir).unwrap();
    for p in ["a photo of sks dog", "A  photo, of a DOG!!", "café 3.14"] {
        assert_eq!(from_json.encode(p).unwrap().ids, shipped.encode(p).unwrap().ids, "{p}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn expect_err<T>(r: engine::Result<T>, needles: &[&str]) {
    let msg = match r {
        Ok(_) => panic!("expected an error containing {needles:?}"),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} lacks {n:?}");
    }
}

#[test]
fn broken_model_folders_give_errors_that_name_the_file_the_tensor_and_both_shapes() {
    let src = fixtures().join("reference/tiny/model");
    let unet_file = "unet/diffusion_pytorch_model.safetensors";

    // A missing component.
    let d = temp_dir("missing");
    copy_dir(&src, &d);
    std::fs::remove_dir_all(d.join("vae")).unwrap();
    expect_err(Model::open(&d).unwrap().vae().map(|_| ()), &["has no vae/ folder"]);

    // A missing weight file.
    std::fs::remove_file(d.join(unet_file)).unwrap();
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &["holds no diffusion_pytorch_model.safetensors"]);

    // A tensor missing, and one with the wrong shape.
    let f = SafeFile::open(&src.join(unet_file)).unwrap();
    let mut tensors = Vec::new();
    let mut datas = Vec::new();
    for (name, e) in &f.entries {
        let (shape, data) = f.read_f32(name).unwrap();
        let _ = e;
        datas.push((name.clone(), shape, data));
    }
    let victim = "down_blocks.1.attentions.0.proj_in.weight";
    for (name, shape, data) in &datas {
        if name == victim {
            continue;
        }
        tensors.push((name.clone(), shape.clone(), OutData::F32(data)));
    }
    let meta = Default::default();
    save(&d.join(unet_file), &tensors, &meta).unwrap();
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &[victim, "[64, 64, 1, 1]", "has no tensor"]);

    let (_, shape, data) = datas.iter().find(|(n, _, _)| n == victim).unwrap();
    assert_eq!(shape, &[64, 64, 1, 1]);
    let reshaped: Vec<f32> = data.clone();
    tensors.push((victim.to_string(), vec![32, 128, 1, 1], OutData::F32(&reshaped)));
    save(&d.join(unet_file), &tensors, &meta).unwrap();
    expect_err(
        Model::open(&d).unwrap().unet(false).map(|_| ()),
        &[victim, "[32, 128, 1, 1]", "[64, 64, 1, 1]", "diffusion_pytorch_model.safetensors"],
    );

    // A truncated download.
    let bytes = std::fs::read(src.join(unet_file)).unwrap();
    std::fs::write(d.join(unet_file), &bytes[..bytes.len() / 2]).unwrap();
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &["truncated", "diffusion_pytorch_model.safetensors"]);
    std::fs::write(d.join(unet_file), b"garbage").unwrap();
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &["not a valid safetensors file"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn unsupported_architectures_say_what_is_supported() {
    let src = fixtures().join("reference/tiny/model");
    let d = temp_dir("arch");
    copy_dir(&src, &d);
    let cfg_path = d.join("unet/config.json");
    let orig = std::fs::read_to_string(&cfg_path).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&orig).unwrap();
        f(&mut v);
        std::fs::write(&cfg_path, v.to_string()).unwrap();
    };
    // SD 2.x: OpenCLIP-H's 1024-wide conditioning.
    edit(&|v| v["cross_attention_dim"] = 1024.into());
    expect_err(
        Model::open(&d).unwrap().unet(false).map(|_| ()),
        &["Stable Diffusion 2.x", "supports the Stable Diffusion 1.x"],
    );
    // SDXL: added conditioning and a second text encoder.
    edit(&|v| v["addition_embed_type"] = "text_time".into());
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &["SDXL", "Stable Diffusion 1.x"]);
    edit(&|v| v["down_block_types"][0] = "SimpleCrossAttnDownBlock2D".into());
    expect_err(Model::open(&d).unwrap().unet(false).map(|_| ()), &["SimpleCrossAttnDownBlock2D"]);
    std::fs::write(&cfg_path, &orig).unwrap();
    let index = d.join("model_index.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    v["_class_name"] = "StableDiffusionXLPipeline".into();
    v["text_encoder_2"] = serde_json::json!(["transformers", "CLIPTextModelWithProjection"]);
    std::fs::write(&index, v.to_string()).unwrap();
    expect_err(Model::open(&d).map(|_| ()), &["Stable Diffusion XL", "supports Stable Diffusion 1.x"]);
    // Pickled checkpoints and files that are not SD 1.x.
    let ckpt = d.join("model.ckpt");
    std::fs::write(&ckpt, b"PK").unwrap();
    expect_err(Model::open(&ckpt).map(|_| ()), &["pickled", ".safetensors"]);
    expect_err(
        Model::open(&src.join("vae/diffusion_pytorch_model.safetensors")).map(|_| ()),
        &["not an original Stable Diffusion 1.x checkpoint"],
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// transformers 5.x saves `CLIPTextModel` without the `text_model.` prefix that 4.x writes. A
/// case's text encoder rewritten into the other layout loads the same parameters under the same
/// names and passes `engine parity` as the original does.
#[test]
fn a_text_encoder_in_either_transformers_layout_loads_the_same_and_passes_parity() {
    let case = fixtures().join("reference/tiny");
    let other = temp_dir("te-layout").join("tiny");
    copy_dir(&case, &other);
    let file = other.join("model/text_encoder/model.safetensors");
    let f = SafeFile::open(&file).unwrap();
    let prefixed = f.entries.keys().all(|k| k.starts_with("text_model."));
    let rewritten: Vec<(String, Vec<usize>, Vec<f32>)> = f
        .entries
        .keys()
        .map(|k| {
            let (shape, data) = f.read_f32(k).unwrap();
            let key =
                if prefixed { k.strip_prefix("text_model.").unwrap().to_string() } else { format!("text_model.{k}") };
            (key, shape, data)
        })
        .collect();
    drop(f);
    let tensors: Vec<(String, Vec<usize>, OutData)> =
        rewritten.iter().map(|(k, s, d)| (k.clone(), s.clone(), OutData::F32(d))).collect();
    save(&file, &tensors, &Default::default()).unwrap();
    assert_ne!(
        SafeFile::open(&file).unwrap().entries.contains_key("text_model.embeddings.token_embedding.weight"),
        prefixed,
        "the copy is in the other layout"
    );

    let params = |dir: &Path| {
        let (_, vb) = Model::open(&dir.join("model")).unwrap().text_encoder(false).unwrap();
        vb.parameters().into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect::<Vec<_>>()
    };
    let (a, b) = (params(&case), params(&other));
    assert!(a.iter().all(|(n, _)| n.starts_with("text_model.")), "the engine names parameters as transformers 4.x");
    assert_eq!(a, b);
    let report = engine::parity::run(&other, |_| {}).unwrap();
    assert!(report.rows.iter().any(|r| r.section == "clip") && report.passed());
    std::fs::remove_dir_all(other.parent().unwrap()).unwrap();
}

/// `--gradient-checkpointing`: with each ResNet and transformer block recomputed during
/// backward instead of keeping its activations, every gradient (all U-Net parameters, the
/// latents, and the text states as when the text encoder trains) is bit-identical to the plain
/// run, on the sd-shaped case's U-Net (cross-attention, skip connections, several levels).
/// That checkpointing lowers the pool's peak is shown by `engine bench memory` (its f32 and
/// f32 + checkpointing rows), not here: the peak is process-wide and the other tests of this
/// binary allocate beside this one. Held by the tests of this file that build the sd-shaped
/// U-Net for training, so that the two do not hold their activations at the same time.
static TRAINING_UNET: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Also under `--mixed-precision bf16` (`autograd::autocast`).
#[test]
fn gradient_checkpointing_gives_bit_identical_gradients() {
    let _one = TRAINING_UNET.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/sd-shaped/model");
    let model = Model::open(&dir).unwrap();
    let run = |checkpointing: bool, dtype: engine::tensor::DType| -> Vec<(String, Vec<u32>)> {
        let (mut unet, vb) = model.unet(true).unwrap();
        unet.gradient_checkpointing = checkpointing;
        let c = unet.config.clone();
        let lat = unet.size_multiple() * 2;
        let mut rng = common::Rng::new(5);
        let x = common::param(&rng.vec(2 * c.in_channels * lat * lat, -1.0, 1.0), &[2, c.in_channels, lat, lat]);
        let ctx = common::param(&rng.vec(2 * 7 * c.cross_attention_dim(), -1.0, 1.0), &[2, 7, c.cross_attention_dim()]);
        let ts = Tensor::from_slice(&[10.0, 700.0], &[2]).unwrap();
        // Mixed precision for the forward only: backward runs after the guard is gone, so the
        // checkpointed blocks must recompute in the dtype they were made with.
        let y = {
            let _a = engine::autograd::autocast(dtype);
            unet.forward(&x, &ts, &ctx).unwrap()
        };
        let w = rng.vec(y.numel(), -1.0, 1.0);
        y.backward_with(&common::t(&w, y.shape())).unwrap();
        let mut grads: Vec<(String, Tensor)> = vb.parameters();
        grads.push(("latents".into(), x));
        grads.push(("encoder_hidden_states".into(), ctx));
        grads
            .into_iter()
            .map(|(n, p)| {
                let g = p.grad().unwrap_or_else(|| panic!("{n} has no gradient"));
                (n, g.to_vec().unwrap().iter().map(|v| v.to_bits()).collect())
            })
            .collect()
    };
    use engine::tensor::DType;
    let mut f32_grads = Vec::new();
    for dtype in [DType::F32, DType::BF16] {
        let plain = run(false, dtype);
        let checkpointed = run(true, dtype);
        assert_eq!(plain.len(), checkpointed.len());
        assert!(plain.len() > 400, "{} gradients", plain.len());
        for ((n, a), (m, b)) in plain.iter().zip(&checkpointed) {
            assert_eq!(n, m);
            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
            assert_eq!(differ, 0, "{dtype} {n}: {differ} of {} gradient values differ with checkpointing", a.len());
        }
        if dtype == DType::F32 {
            f32_grads = plain;
        } else {
            // The bf16 run did round: its gradients are not the f32 ones.
            assert!(plain.iter().zip(&f32_grads).any(|((_, a), (_, b))| a != b), "bf16 changed nothing");
        }
    }
}

/// `--fused-backward-pass`: each parameter's AdamW update applied during backward, as soon as
/// its gradient is complete, gives bit-identical weights to backward followed by one optimizer
/// step (clipping a no-op at this norm), here with gradient checkpointing on (the uses of a
/// parameter inside a recomputed block are counted, so no weight changes before its block's
/// backward has recomputed with it) and 8-bit AdamW. (What it saves is measured by `engine
/// bench memory`: the pool's peak is process-wide, and other tests of this file run beside it.)
#[test]
fn a_fused_backward_pass_gives_the_weights_of_backward_then_step() {
    let _one = TRAINING_UNET.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/sd-shaped/model");
    let model = Model::open(&dir).unwrap();
    let pool = &engine::gpu::context().unwrap().pool;
    let run = |fused: bool| -> (Vec<(String, Vec<u32>)>, u64) {
        let (mut unet, vb) = model.unet(true).unwrap();
        unet.gradient_checkpointing = fused;
        let params: Vec<Tensor> = vb.parameters().into_iter().map(|(_, t)| t).collect();
        let mut opt = engine::optim::AdamW::new(1e-3);
        opt.eight_bit = true;
        let c = unet.config.clone();
        let lat = unet.size_multiple() * 2;
        for step in 0..2 {
            let mut rng = common::Rng::new(7 + step);
            let x =
                Tensor::from_slice(&rng.vec(2 * c.in_channels * lat * lat, -1.0, 1.0), &[2, c.in_channels, lat, lat])
                    .unwrap();
            let ctx = Tensor::from_slice(
                &rng.vec(2 * 7 * c.cross_attention_dim(), -1.0, 1.0),
                &[2, 7, c.cross_attention_dim()],
            )
            .unwrap();
            let ts = Tensor::from_slice(&[10.0, 700.0], &[2]).unwrap();
            pool.reset_peak();
            let y = unet.forward(&x, &ts, &ctx).unwrap();
            let loss = y.mul(&common::t(&rng.vec(y.numel(), -1.0, 1.0), y.shape())).unwrap().sum_all().unwrap();
            if fused {
                engine::optim::fused_backward(&loss, &params, &mut opt, 1e30).unwrap();
            } else {
                loss.backward().unwrap();
                engine::optim::clip_grad_norm(&params, 1e30).unwrap();
                opt.step(&params).unwrap();
                params.iter().for_each(|p| p.zero_grad());
            }
            assert!(params.iter().all(|p| p.grad().is_none()));
        }
        let peak = pool.stats().peak_bytes;
        let bits = vb
            .parameters()
            .into_iter()
            .map(|(n, p)| (n, p.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()))
            .collect();
        (bits, peak)
    };
    let (plain, plain_peak) = run(false);
    let (fused, fused_peak) = run(true);
    eprintln!("fused backward + checkpointing: pool peak {plain_peak} -> {fused_peak} bytes (other tests run beside)");
    assert_eq!(plain.len(), fused.len());
    for ((n, a), (m, b)) in plain.iter().zip(&fused) {
        assert_eq!(n, m);
        let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(differ, 0, "{n}: {differ} of {} weights differ after the fused pass", a.len());
    }
}
