//! The `engine` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engine::bench::{self, BenchRow};
use engine::gpu::{self, BackendChoice, GpuOptions};
use engine::Result;

#[derive(Parser)]
#[command(name = "engine", version, about = "Fine-tune Stable Diffusion 1.x with DreamBooth on any GPU (wgpu + WGSL)")]
struct Cli {
    /// Graphics backend to use (default: ENGINE_BACKEND, else auto).
    #[arg(long, global = true, value_enum)]
    backend: Option<BackendChoice>,
    /// Adapter index, as listed by `engine info`.
    #[arg(long, global = true, env = "ENGINE_ADAPTER")]
    adapter: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the adapters found, the chosen one, its backend, features and limits.
    Info,
    /// Time kernels next to the adapter's measured peaks.
    Bench {
        /// Which suites to run: gemm, conv, norm, reduce, copy, attention, adamw, e2e (default: all of these),
        /// or memory: one DreamBooth training step of SD 1.5's real configuration (random
        /// weights) per memory setting, reporting the GPU memory peak (minutes per setting on a
        /// CPU adapter, so never part of the default run).
        kernels: Vec<String>,
        /// memory: the training resolution in pixels.
        #[arg(long, default_value_t = 512)]
        resolution: usize,
        /// memory: which settings, by index (0: f32, 1: + gradient checkpointing, 2: f32 + text
        /// encoder trained, 3: both, 4: checkpointing + 8-bit AdamW, 5: 4 + fused backward pass,
        /// 6: 5 + text encoder, 7: LoRA rank 4 on an f32 base, 8: 7 + checkpointing, 9: LoRA rank 4 on
        /// a bf16 base, 10: 9 + checkpointing, 11: --mixed-precision bf16, 12: 11 + checkpointing,
        /// 13: 12 + 8-bit AdamW, 14: 13 + fused backward pass, 15: 14 + text encoder, 16: 13 in fp16);
        /// default all.
        #[arg(long, value_delimiter = ',')]
        settings: Vec<usize>,
        /// Also write the rows as a JSON array to this file.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
        /// Autotune first: time every launch variant of each kernel's shape class and keep the
        /// fastest in the tuning cache, which later runs (train, sample) read. Same as
        /// ENGINE_TUNE=1.
        #[arg(long)]
        tune: bool,
    },
    /// Text to image with a Stable Diffusion 1.x model (PNG files with the settings in their text chunks).
    Sample(engine::sample::SampleArgs),
    /// DreamBooth fine-tuning (with no arguments: a complete small run on the built-in emoji
    /// model and the embedded dog photos).
    Train {
        /// A TOML file with the same settings (kebab-case keys); flags override it.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        options: Box<engine::train::TrainOptions>,
    },
    /// Check the engine against reference cases written by tools/make_reference.py
    /// (diffusers/transformers outputs, gradients and an AdamW step); exits 0 only if all pass.
    Parity {
        /// Case folders (each holds model/ and reference.safetensors).
        #[arg(required = true)]
        cases: Vec<std::path::PathBuf>,
        /// Print the rows as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Print only failing rows and the summary (the train section has a row per parameter).
        #[arg(long, short)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut opts = match GpuOptions::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(b) = cli.backend {
        if let Err(e) = b.check_platform(&format!("--backend {}", format!("{b:?}").to_lowercase())) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        opts.backend = b;
    }
    opts.adapter = cli.adapter;
    if let Command::Bench { tune: true, .. } = cli.command {
        opts.tune = true;
    }
    let r = gpu::configure(opts.clone()).and_then(|_| match cli.command {
        Command::Info => info(&opts),
        Command::Bench { kernels, json, tune, resolution, settings } => {
            debug_assert!(!tune || gpu::options().is_ok_and(|o| o.tune));
            run_bench(&kernels, json.as_deref(), resolution, &settings)
        }
        Command::Parity { cases, json, quiet } => parity(&cases, json, quiet),
        Command::Train { config, options } => options
            .with_file(config.as_deref())
            .and_then(|o| o.resolve())
            .and_then(|cfg| engine::train::run(&cfg, true))
            .map(|_| ()),
        Command::Sample(mut args) => {
            // The seed is settled here, so that the one used is printed.
            let seed = *args.seed.get_or_insert_with(engine::sample::clock_seed);
            engine::sample::run(&args).map(|paths| {
                for p in paths {
                    println!("{}", p.display());
                }
                eprintln!("seed {seed}");
            })
        }
    });
    if let Ok(ctx) = gpu::context() {
        ctx.save_pipeline_cache();
    }
    if gpu::profile::requested() {
        match gpu::context().ok().and_then(|c| c.profile()) {
            Some(profile) => eprint!("{}", gpu::profile::format(&profile)),
            None => eprintln!("ENGINE_PROFILE=1: no profile (the adapter lacks timestamp queries)"),
        }
    }
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parity(cases: &[std::path::PathBuf], json: bool, quiet: bool) -> Result<()> {
    let mut all = Vec::new();
    for case in cases {
        let t0 = std::time::Instant::now();
        let report = engine::parity::run(case, |s| eprintln!("[{}] {s} ...", case.display()))?;
        if !json {
            println!("{}", case.display());
            println!(
                "  {:<11} {:<64} {:>18} {:>11} {:>10} {:>9}  verdict",
                "section", "tensor", "shape", "max_abs_err", "rel_err", "tolerance"
            );
            for r in &report.rows {
                if quiet && r.pass {
                    continue;
                }
                let shape = format!("{:?}", r.shape);
                println!(
                    "  {:<11} {:<64} {:>18} {:>11.3e} {:>10.3e} {:>9.0e}  {}",
                    r.section,
                    r.tensor,
                    shape,
                    r.max_abs_err,
                    r.rel_err,
                    r.tolerance,
                    if r.pass { "pass" } else { "FAIL" }
                );
            }
            let failed = report.rows.iter().filter(|r| !r.pass).count();
            let worst =
                |sec: &str| report.rows.iter().filter(|r| r.section == sec).map(|r| r.rel_err).fold(f64::NAN, f64::max);
            let mut secs: Vec<&str> = report.rows.iter().map(|r| r.section.as_str()).collect();
            secs.dedup();
            for s in secs {
                println!("  {s}: worst rel_err {:.3e}", worst(s));
            }
            for (s, why) in &report.skipped {
                println!("  skipped {s}: {why}");
            }
            println!(
                "  {} of {} tensors pass ({:.1} s)",
                report.rows.len() - failed,
                report.rows.len(),
                t0.elapsed().as_secs_f64()
            );
        } else {
            for (s, why) in &report.skipped {
                eprintln!("[{}] skipped {s}: {why}", case.display());
            }
        }
        all.extend(report.rows);
    }
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|r| {
                serde_json::json!({"section": r.section, "tensor": r.tensor, "shape": r.shape,
                    "max_abs_err": r.max_abs_err, "rel_err": r.rel_err, "tolerance": r.tolerance, "pass": r.pass})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
    }
    let failed = all.iter().filter(|r| !r.pass).count();
    if failed > 0 || all.is_empty() {
        return Err(engine::Error::invalid("parity", format!("{failed} of {} tensors out of tolerance", all.len())));
    }
    Ok(())
}

fn info(opts: &GpuOptions) -> Result<()> {
    let instance = gpu::new_instance(opts.backend);
    let adapters = gpu::enumerate(&instance, opts.backend);
    println!("Adapters found ({} for backend {:?}):", adapters.len(), opts.backend);
    for (i, a) in adapters.iter().enumerate() {
        let info = a.get_info();
        println!(
            "  [{i}] {} ({:?}, {:?}) driver: {} {}",
            info.name, info.backend, info.device_type, info.driver, info.driver_info
        );
    }
    let ctx = gpu::context()?;
    let i = &ctx.info;
    println!();
    println!("Chosen: {} ({:?}, {:?})", i.name, i.backend, i.device_type);
    println!("  driver: {} {}", i.driver, i.driver_info);
    println!("  vendor: {:#06x}  device: {:#06x}", i.vendor, i.device);
    println!("  optional features enabled: {:?}", ctx.features);
    println!("  optional features missing: {:?}", gpu::OPTIONAL_FEATURES.difference(ctx.features));
    let l = &ctx.limits;
    println!("  limits:");
    println!("    max_buffer_size                     {}", l.max_buffer_size);
    println!("    max_storage_buffer_binding_size     {}", l.max_storage_buffer_binding_size);
    println!("    max_storage_buffers_per_shader_stage {}", l.max_storage_buffers_per_shader_stage);
    println!("    min_storage_buffer_offset_alignment {}", l.min_storage_buffer_offset_alignment);
    println!("    max_compute_workgroup_storage_size  {}", l.max_compute_workgroup_storage_size);
    println!("    max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
    println!(
        "    max_compute_workgroup_size          {} x {} x {}",
        l.max_compute_workgroup_size_x, l.max_compute_workgroup_size_y, l.max_compute_workgroup_size_z
    );
    println!("    max_compute_workgroups_per_dimension {}", l.max_compute_workgroups_per_dimension);
    println!("    subgroup size (min / max)           {} / {}", i.subgroup_min_size, i.subgroup_max_size);
    let caps = &ctx.caps;
    println!("  capabilities:");
    println!(
        "    adapter kind                        {}",
        if caps.cpu {
            "CPU (software)"
        } else if i.device_type == wgpu::DeviceType::Cpu {
            "CPU (software), choosing as a GPU (ENGINE_AS_GPU=1)"
        } else if caps.discrete {
            "discrete GPU"
        } else {
            "GPU"
        }
    );
    println!(
        "    subgroups                           {}",
        if caps.subgroups {
            format!("yes, {}-{} lanes", caps.subgroup_sizes.0, caps.subgroup_sizes.1)
        } else {
            "no".into()
        }
    );
    println!("    f16 in shaders                      {}", if caps.shader_f16 { "yes" } else { "no" });
    println!("    timestamp queries                   {}", if caps.timestamps { "yes" } else { "no" });
    if caps.cooperative_matrix.is_empty() {
        println!("    cooperative matrices                none reported");
    } else {
        let shapes: Vec<String> = caps
            .cooperative_matrix
            .iter()
            .map(|c| format!("{}x{}x{} {:?}->{:?}", c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type))
            .collect();
        println!("    cooperative matrices                {}", shapes.join(", "));
    }
    match ctx.pipeline_cache_path() {
        Some(p) => println!("  pipeline cache: {}", p.display()),
        None => println!("  pipeline cache: none (adapter lacks PIPELINE_CACHE, or disabled)"),
    }
    println!(
        "  shader runtime checks: {}",
        match (ctx.shader_checks(), ctx.loop_bounding()) {
            (true, _) => "on (ENGINE_SHADER_CHECKS=1)",
            (false, true) => "off (trusted modules, loop bounding kept; ENGINE_SHADER_CHECKS=1 turns them on)",
            (false, false) => "off (trusted modules, no loop bounding; ENGINE_SHADER_CHECKS=1 turns them on)",
        }
    );
    match engine::ops::gemm::subgroup_kernels()? {
        Some(w) => println!("  GEMM subgroup kernels: in use (workgroup width {w})"),
        None => println!(
            "  GEMM subgroup kernels: not used (no SUBGROUP feature, sizes outside 8-64, or a failed self-test)"
        ),
    }
    let pipelined =
        |p: bool| if p { "plain and pipelined entries" } else { "plain entry; the pipelined one does not fit" };
    match engine::ops::gemm::coop()? {
        Some(shape) => println!(
            "  cooperative-matrix GEMM: available ({0}x{0}x{0} {1} -> f32, workgroup {4}, {3}{2}); runs where \
             `engine bench --tune` found it faster or ENGINE_GEMM_VARIANT=coop (or \"coop pipelined\"), else the \
             plain kernels; tile rows skewed by {5} elements, {6} matrix depth(s) per k step, half operands \
             staged {7} (ENGINE_COOP_SKEW, ENGINE_COOP_DEPTH, ENGINE_COOP_INVOCATIONS, ENGINE_STAGE_PAIRS)",
            shape.size,
            if shape.half { "f16" } else { "f32" },
            if shape.half { "; f16 products only under --mixed-precision fp16, gradients included" } else { "" },
            pipelined(engine::ops::gemm::coop_pipelined()?),
            opts.coop_layout.invocations,
            opts.coop_layout.skew,
            opts.coop_layout.depth,
            if gpu::stage_pairs() { "two elements per load" } else { "element by element" },
        ),
        None => println!(
            "  cooperative-matrix GEMM: not used (no shape it is written for, no feature, ENGINE_NO_COOP=1, a driver known to crash on \
             them, or a failed self-test)"
        ),
    }
    if engine::ops::gemm::coop()?.is_some() {
        match engine::ops::conv::coop()? {
            Some(_) => println!(
                "  cooperative-matrix conv2d: available (forward and both gradients, {}; f16 matrices only under \
                 --mixed-precision fp16); runs where `engine bench --tune` found it faster or ENGINE_CONV_VARIANT=coop",
                pipelined(engine::ops::conv::coop_pipelined()?)
            ),
            None => println!("  cooperative-matrix conv2d: not used (a failed self-test)"),
        }
    }
    match gpu::tune::cache_path()? {
        Some(p) => println!(
            "  tuning cache: {}{}",
            p.display(),
            if p.exists() { "" } else { " (none yet: `engine bench --tune` writes it)" }
        ),
        None => println!("  tuning cache: none (no HOME or XDG_CACHE_HOME)"),
    }
    Ok(())
}

fn print_row(r: &BenchRow) {
    let rate = match (r.gflops, r.gbps, r.peak_gib) {
        (Some(g), _, _) => format!("{g:9.2} GFLOP/s"),
        (_, Some(b), _) => format!("{b:9.2} GB/s   "),
        (_, _, Some(m)) => format!("{m:9.2} GiB peak"),
        _ => String::new(),
    };
    let frac = r.peak_fraction.map_or(String::new(), |p| format!("{:6.1}% of peak", p * 100.0));
    println!("{:<18} {:<42} {:>10.3} ms  {rate}  {frac}  ({})", r.kernel, r.shape, r.seconds * 1e3, r.timer);
}

fn run_bench(kernels: &[String], json: Option<&std::path::Path>, resolution: usize, settings: &[usize]) -> Result<()> {
    let known = ["gemm", "conv", "norm", "reduce", "copy", "attention", "adamw", "e2e", "memory"];
    for k in kernels {
        if !known.contains(&k.as_str()) {
            return Err(engine::Error::invalid("bench", format!("unknown suite `{k}`; known: {}", known.join(", "))));
        }
    }
    let want = |k: &str| (kernels.is_empty() && k != "memory") || kernels.iter().any(|x| x == k);
    let ctx = gpu::context()?;
    println!(
        "Adapter: {} ({:?}), driver {} {}",
        ctx.info.name, ctx.info.backend, ctx.info.driver, ctx.info.driver_info
    );
    let mut rows = Vec::new();
    let fma = bench::fma_peak()?;
    print_row(&fma);
    let copy = bench::copy_peak()?;
    print_row(&copy);
    let peaks = (fma.gflops.unwrap(), copy.gbps.unwrap());
    rows.push(fma);
    rows.push(copy);
    type Suite = fn((f64, f64)) -> Result<Vec<BenchRow>>;
    let suites: [(&str, Suite); 8] = [
        ("gemm", |p| bench::gemm_suite(p.0)),
        ("conv", bench::conv_suite),
        ("norm", bench::norm_suite),
        ("reduce", bench::reduce_suite),
        ("copy", bench::copy_suite),
        ("attention", bench::attention_suite),
        ("adamw", bench::adamw_suite),
        ("e2e", bench::e2e_suite),
    ];
    for (name, suite) in suites {
        if want(name) {
            for r in suite(peaks)? {
                print_row(&r);
                rows.push(r);
            }
        }
    }
    if want("memory") {
        let settings: Vec<usize> =
            if settings.is_empty() { (0..bench::MEMORY_SETTINGS.len()).collect() } else { settings.to_vec() };
        // One row at a time: each setting is minutes on a CPU adapter.
        for i in settings {
            for r in bench::memory_suite(resolution, &[i])? {
                print_row(&r);
                rows.push(r);
            }
        }
    }
    if let Some(path) = json {
        let body = rows.iter().map(|r| format!("  {}", r.to_json())).collect::<Vec<_>>().join(",\n");
        std::fs::write(path, format!("[\n{body}\n]\n"))
            .map_err(|e| engine::Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}
