//! Kernel descriptions: which WGSL file, which entry point, which bindings it reads and writes,
//! and the compile-time constants ("specialisation") it is built with.
//!
//! Specialisation is done by prepending `const NAME: T = value;` lines to the WGSL source
//! (module-scope declarations in WGSL are order-independent). Unlike pipeline-overridable
//! constants this needs nothing from the backend, so every backend and naga's offline
//! translators see exactly the same module.

use std::fmt::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpecValue {
    U32(u32),
    Bool(bool),
}

/// One shader module: a kernel family with its forward and backward entry points. Its source
/// is a WGSL file, followed, for the register-blocked families, by entry points that Rust
/// writes from the family's kernel table (`generated`), so that the table is the one list of
/// those kernels.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    /// The WGSL file in `shaders/` (without `.wgsl`) that holds the hand-written part.
    pub file: &'static str,
    pub source: &'static str,
    /// Writes the entry points that follow `source`, if any.
    pub generated: Option<fn() -> String>,
    /// `source` and the generated entries, put together on first use.
    pub full: OnceLock<String>,
    /// Every specialisation the engine builds this shader with, so that the offline
    /// validation test can translate each of them for every backend.
    pub variants: &'static [&'static [(&'static str, SpecValue)]],
    /// The uniform blocks (binding 0) of its entry points, as the Rust structs the launchers
    /// fill; the offline test checks each against the WGSL struct of the same name.
    pub uniforms: &'static [&'static Layout],
}

impl Shader {
    /// A shader whose whole source is a WGSL file.
    pub const fn file(
        name: &'static str,
        source: &'static str,
        variants: &'static [&'static [(&'static str, SpecValue)]],
        uniforms: &'static [&'static Layout],
    ) -> Shader {
        Shader { name, file: name, source, generated: None, full: OnceLock::new(), variants, uniforms }
    }

    /// [`Shader::file`] followed by the half-unpacking helpers ([`super::HALF_WGSL`]), for a
    /// file that reads half storage.
    pub const fn file_reading_halves(
        name: &'static str,
        source: &'static str,
        variants: &'static [&'static [(&'static str, SpecValue)]],
        uniforms: &'static [&'static Layout],
    ) -> Shader {
        fn halves() -> String {
            super::HALF_WGSL.to_string()
        }
        Shader { name, file: name, source, generated: Some(halves), full: OnceLock::new(), variants, uniforms }
    }

    /// The complete WGSL source (before specialisation).
    pub fn source(&self) -> &str {
        match self.generated {
            None => self.source,
            Some(write) => self.full.get_or_init(|| format!("{}{}", self.source, write())),
        }
    }

    /// What an error names: the file, and that entries were generated where they were.
    pub fn file_name(&self) -> String {
        match self.generated {
            None => format!("{}.wgsl", self.file),
            Some(_) => format!("{}.wgsl + entries generated for `{}`", self.file, self.name),
        }
    }
}

/// One field of a uniform block: its name (as in the WGSL struct), byte offset and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A uniform block's layout: the struct's name (as in the WGSL), size and fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

/// A `#[repr(C)]` parameter struct that mirrors a WGSL uniform struct. Made by `uniforms!`.
pub trait Uniforms: bytemuck::Pod {
    const LAYOUT: Layout;
}

/// Declares a kernel's parameter struct, field for field as the WGSL struct of the same name,
/// with its [`Layout`] for the offline check (`tests/shaders.rs` compares both with naga's
/// reflection of the shader).
#[macro_export]
macro_rules! uniforms {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name { $($(#[$fmeta])* $fvis $field: $ty),* }

        impl $crate::gpu::Uniforms for $name {
            const LAYOUT: $crate::gpu::Layout = $crate::gpu::Layout {
                name: stringify!($name),
                size: ::core::mem::size_of::<$name>(),
                fields: &[$($crate::gpu::Field {
                    name: stringify!($field),
                    offset: ::core::mem::offset_of!($name, $field),
                    size: ::core::mem::size_of::<$ty>(),
                }),*],
            };
        }
    };
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
    let src = shader.source();
    let split = src.lines().take_while(|l| l.starts_with("enable ")).map(|l| l.len() + 1).sum::<usize>();
    let (directives, body) = src.split_at(split.min(src.len()));
    format!("{directives}{}{body}", spec.wgsl())
}
