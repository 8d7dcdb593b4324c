//! Errors are values with messages a user can act on: which shader, which tensor, both shapes.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// No GPU adapter could be opened. The message says what to install.
    #[error("{0}")]
    NoAdapter(String),

    /// A WGSL shader failed to parse, validate or compile into a pipeline.
    #[error("shader `{shader}` entry point `{entry}` failed to compile: {message}")]
    Shader { shader: String, entry: String, message: String },

    /// Two operands whose shapes don't fit together.
    #[error("{op}: shape mismatch: {lhs:?} vs {rhs:?}{hint}")]
    Shape { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize>, hint: String },

    /// An argument that is out of range or otherwise invalid for an op.
    #[error("{op}: {message}")]
    Invalid { op: &'static str, message: String },

    /// The device ran out of memory.
    #[error("GPU out of memory: {0}")]
    OutOfMemory(String),

    /// The device was lost (driver reset, GPU hang, unplugged).
    #[error("GPU device lost: {0}")]
    DeviceLost(String),

    /// Any other error the GPU runtime reported.
    #[error("GPU error: {0}")]
    Gpu(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Self {
        Error::Shape { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), hint: String::new() }
    }

    pub fn shape_hint(op: &'static str, lhs: &[usize], rhs: &[usize], hint: impl Into<String>) -> Self {
        Error::Shape { op, lhs: lhs.to_vec(), rhs: rhs.to_vec(), hint: format!(" ({})", hint.into()) }
    }

    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { op, message: message.into() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}
