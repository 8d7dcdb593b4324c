//! The crate's layers only point down: each module uses only modules of lower layers (and
//! itself), so that the runtime knows nothing of ops, ops nothing of models, and so on. Read
//! from the source (`crate::NAME` paths); no GPU needed. `main.rs` (the CLI) and `lib.rs`
//! (which lists every shader module) are the top and are not checked.

use std::path::Path;

/// Layer of each top-level module, bottom up. Utilities (0) may be used from any layer but use
/// only each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("Error", 0), // error's, re-exported at the crate root
    ("Result", 0),
    ("fsutil", 0),
    ("rng", 0),
    ("weights", 0),
    ("imageio", 0),
    ("progress", 0),
    ("gpu", 1),
    ("uniforms", 1), // the gpu layer's macro, exported at the crate root
    ("tensor", 2),
    ("Tensor", 2), // re-exported at the crate root
    ("autograd", 2),
    ("no_grad", 2), // autograd's, re-exported at the crate root
    ("with_no_grad", 2),
    ("ops", 3),
    ("optim", 4),
    ("nn", 4),
    ("models", 5),
    ("diffusion", 6),
    ("train", 7),
    ("sample", 7),
    ("parity", 7),
    ("bench", 7),
];

fn layer(name: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

/// Same-layer pairs that are allowed: the tensor type and its autograd are one layer.
fn same_layer_ok(from: &str, to: &str) -> bool {
    matches!((from, to), ("tensor", "autograd") | ("autograd", "tensor"))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_only_use_layers_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let module = rel.split(['/', '.']).next().unwrap().to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(mine) = layer(&module) else { panic!("src/{rel}: module `{module}` has no layer in tests/layers.rs") };
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for (pos, _) in code.match_indices("crate::") {
                let used: String =
                    code[pos + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used == module {
                    continue;
                }
                let Some(theirs) = layer(&used) else {
                    bad.push(format!("src/{rel}:{}: `crate::{used}` has no layer", i + 1));
                    continue;
                };
                if theirs > mine || (theirs == mine && mine > 0 && !same_layer_ok(&module, &used)) {
                    bad.push(format!("src/{rel}:{}: `{module}` (layer {mine}) uses `{used}` (layer {theirs})", i + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "imports that point up or sideways:\n{}", bad.join("\n"));
}
