//! Kernel descriptions: which WGSL file, which entry point, which bindings it reads and writes,
//! and the compile-time constants ("specialisation") it is built with.
//!
//! Specialisation is done by prepending `const NAME: T = value;` lines to the WGSL source
//! (module-scope declarations in WGSL are order-independent). Unlike pipeline-overridable
//! constants this needs nothing from the backend, so every backend and naga's offline
//! translators see exactly the same module.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpecValue {
    U32(u32),
    Bool(bool),
}

/// One WGSL file: a kernel family with its forward and backward entry points.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Every specialisation the engine builds this shader with, so that the offline
    /// validation test can translate each of them for every backend.
    pub variants: &'static [&'static [(&'static str, SpecValue)]],
}

/// How a kernel uses a storage binding. Bindings are numbered from 1 in this order;
/// binding 0 is always the uniform parameter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

#[derive(Debug)]
pub struct Kernel {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub bindings: &'static [Access],
}

/// The constants a pipeline is specialised with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Spec(Vec<(&'static str, u32, bool)>);

impl Spec {
    pub fn new() -> Self {
        Spec(Vec::new())
    }
    pub fn u32(mut self, name: &'static str, v: u32) -> Self {
        self.0.push((name, v, false));
        self
    }
    pub fn bool(mut self, name: &'static str, v: bool) -> Self {
        self.0.push((name, v as u32, true));
        self
    }
    pub fn from_values(values: &[(&'static str, SpecValue)]) -> Self {
        let mut s = Spec::new();
        for (n, v) in values {
            s = match *v {
                SpecValue::U32(x) => s.u32(n, x),
                SpecValue::Bool(b) => s.bool(n, b),
            };
        }
        s
    }
    /// The value of constant `name`, if set.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.0.iter().find(|(n, _, _)| *n == name).map(|(_, v, _)| *v)
    }
    /// The WGSL prelude that defines these constants.
    pub fn wgsl(&self) -> String {
        let mut out = String::new();
        for (name, v, is_bool) in &self.0 {
            if *is_bool {
                let _ = writeln!(out, "const {name}: bool = {};", *v != 0);
            } else {
                let _ = writeln!(out, "const {name}: u32 = {v}u;");
            }
        }
        out
    }
}

/// The full source of `shader` specialised with `spec`. Directives (`enable subgroups;`) must
/// precede every declaration, so leading directive lines stay first.
pub fn specialise(shader: &Shader, spec: &Spec) -> String {
    let src = shader.source;
    let split = src.lines().take_while(|l| l.starts_with("enable ")).map(|l| l.len() + 1).sum::<usize>();
    let (directives, body) = src.split_at(split.min(src.len()));
    format!("{directives}{}{body}", spec.wgsl())
}
