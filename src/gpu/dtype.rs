//! Storage dtypes of GPU buffers (a tensor's `dtype()`). Tuning keys and pipeline
//! specialisations carry one, so that a variant tuned for f32 is not taken for half operands.
//!
//! The half dtypes are stored two to a 32-bit word (element i in word i/2, the low 16 bits
//! first, as a little-endian `[u16]` lays them out) and unpacked in the kernel: that needs
//! neither `SHADER_F16` nor 16-bit storage access, so f16 and bf16 tensors work on every adapter,
//! GL and lavapipe included. Kernels compute and accumulate in f32.

use std::fmt;

/// The element type a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DType {
    #[default]
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16: the upper 16 bits of an f32 (f32's range, 8 bits of mantissa).
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        }
    }

    /// The number kernels specialise on (`B_DTYPE`, `A_DTYPE`, `SRC_DTYPE`): 0 f32, 1 f16, 2 bf16.
    pub fn code(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::BF16 => 2,
        }
    }

    /// accelerate's names as `--mixed-precision` takes them: `no`, `fp16`, `bf16`.
    pub fn from_mixed_precision(s: &str) -> Option<DType> {
        match s {
            "no" => Some(DType::F32),
            "fp16" => Some(DType::F16),
            "bf16" => Some(DType::BF16),
            _ => None,
        }
    }

    /// `v` rounded to this dtype (round to nearest even), as an f32.
    pub fn round(self, v: f32) -> f32 {
        match self {
            DType::F32 => v,
            DType::F16 => half::f16::from_f32(v).to_f32(),
            DType::BF16 => half::bf16::from_f32(v).to_f32(),
        }
    }

    /// The bytes a buffer of this dtype holds for `data` (rounded to nearest even for the half
    /// dtypes, as torch's `.to(dtype)` does), padded to whole 32-bit words.
    pub fn encode(self, data: &[f32]) -> Vec<u8> {
        let mut out: Vec<u8> = match self {
            DType::F32 => return bytemuck::cast_slice(data).to_vec(),
            DType::F16 => data.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
            DType::BF16 => data.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
        };
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    /// The values of `n` elements of this dtype in `bytes`, as f32 (exact).
    pub fn decode(self, bytes: &[u8], n: usize) -> Vec<f32> {
        match self {
            DType::F32 => bytemuck::pod_collect_to_vec(&bytes[..n * 4]),
            DType::F16 => {
                bytes[..n * 2].chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
            DType::BF16 => {
                bytes[..n * 2].chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            }
        }
    }

    /// Bytes of `n` elements, rounded up to whole 32-bit words (what a buffer or binding holds).
    pub fn bytes(self, n: usize) -> u64 {
        (n as u64 * self.size() as u64).next_multiple_of(4)
    }
}

/// WGSL that reads one half element out of its packed word, appended to every module whose
/// kernels take half operands (GEMM, conv, cast), so the unpacking is written once.
pub const HALF_WGSL: &str = "
// ---- appended from gpu::dtype::HALF_WGSL ----
// Element i of a packed word w of f16 (dtype 1) or bf16 (dtype 2) halves, as f32: the low half
// for even i, the upper for odd.
fn half_at(w: u32, i: u32, dtype: u32) -> f32 {
    if (dtype == 1u) {
        return unpack2x16float(w)[i & 1u];
    }
    return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
}

// Both halves of a packed word as f32: the low (even element) first.
fn half_pair(w: u32, dtype: u32) -> vec2<f32> {
    if (dtype == 1u) {
        return unpack2x16float(w);
    }
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}
";

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::DType;

    #[test]
    fn half_dtypes_round_to_nearest_even_and_decode_exactly() {
        let v = [1.0f32, -2.5, 1.0 + 1.0 / 256.0 + 1.0 / 512.0, 65504.0, 3.0e-8, f32::MAX];
        for dt in [DType::F16, DType::BF16] {
            let bytes = dt.encode(&v);
            assert_eq!(bytes.len(), (v.len() * 2).next_multiple_of(4));
            let back = dt.decode(&bytes, v.len());
            for (x, y) in v.iter().zip(&back) {
                assert_eq!(dt.round(*x).to_bits(), y.to_bits(), "{dt} {x}");
            }
        }
        // 1 + 2^-8 + 2^-9 lies between bf16's 1 + 2^-7 neighbours 1 and 1 + 2^-7, above the
        // midpoint: rounds up. f16 holds it exactly.
        assert_eq!(DType::BF16.round(1.0 + 1.0 / 256.0 + 1.0 / 512.0), 1.0 + 1.0 / 128.0);
        assert_eq!(DType::F16.round(1.0 + 1.0 / 256.0 + 1.0 / 512.0), 1.0 + 1.0 / 256.0 + 1.0 / 512.0);
        assert_eq!(DType::BF16.round(1.0 + 1.0 / 256.0), 1.0, "ties go to even");
        assert!(DType::F16.round(f32::MAX).is_infinite());
        assert_eq!(DType::BF16.size(), 2);
        assert_eq!(DType::F16.bytes(3), 8);
    }
}
