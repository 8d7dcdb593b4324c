//! Weights on disk: safetensors files read one tensor at a time (a 3.4 GB U-Net never sits in
//! host memory whole), f16/bf16 converted to f32 on load, and written back in the same format.
//!
//! The header is parsed here rather than through the `safetensors` crate so that every failure
//! names the file and the tensor: a truncated download, a corrupt header, a dtype we don't read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// Element types a safetensors file may hold that we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    U8,
}

impl FileDType {
    fn parse(s: &str) -> Option<FileDType> {
        Some(match s {
            "F32" => FileDType::F32,
            "F16" => FileDType::F16,
            "BF16" => FileDType::BF16,
            "F64" => FileDType::F64,
            "I64" => FileDType::I64,
            "I32" => FileDType::I32,
            "U8" => FileDType::U8,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            FileDType::U8 => 1,
            FileDType::F16 | FileDType::BF16 => 2,
            FileDType::F32 | FileDType::I32 => 4,
            FileDType::F64 | FileDType::I64 => 8,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub dtype: FileDType,
    pub shape: Vec<usize>,
    /// Byte range within the data section.
    pub start: u64,
    pub end: u64,
}

/// One opened safetensors file: its header parsed and checked against the file's length.
pub struct SafeFile {
    pub path: PathBuf,
    pub entries: BTreeMap<String, Entry>,
    pub metadata: BTreeMap<String, String>,
    data_start: u64,
}

fn corrupt(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid("weights", format!("{} is not a valid safetensors file: {why}", path.display()))
}

impl SafeFile {
    pub fn open(path: &Path) -> Result<SafeFile> {
        let mut f = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let len = f.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
        let mut n = [0u8; 8];
        f.read_exact(&mut n).map_err(|_| corrupt(path, format!("only {len} bytes long")))?;
        let n = u64::from_le_bytes(n);
        if n > 100 << 20 || 8 + n > len {
            return Err(corrupt(path, format!("its header claims {n} bytes but the file has {len}")));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let v: Value = serde_json::from_slice(&header).map_err(|e| corrupt(path, format!("header: {e}")))?;
        let Value::Object(obj) = v else { return Err(corrupt(path, "header is not a JSON object")) };
        let data_len = len - 8 - n;
        let mut entries = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (name, e) in obj {
            if name == "__metadata__" {
                if let Value::Object(m) = e {
                    for (k, v) in m {
                        metadata.insert(k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                    }
                }
                continue;
            }
            let bad = |why: &str| corrupt(path, format!("tensor `{name}`: {why}"));
            let dtype_s = e.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no dtype"))?;
            let dtype = FileDType::parse(dtype_s).ok_or_else(|| {
                Error::invalid(
                    "weights",
                    format!(
                        "{}: tensor `{name}` is {dtype_s}; the engine reads F32, F16, BF16, F64, I64, I32 and U8",
                        path.display()
                    ),
                )
            })?;
            let shape: Vec<usize> = e
                .get("shape")
                .and_then(|s| s.as_array())
                .ok_or_else(|| bad("no shape"))?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("shape is not a list of sizes"))?;
            let offs = e.get("data_offsets").and_then(|s| s.as_array()).ok_or_else(|| bad("no data_offsets"))?;
            let (start, end) = match offs.as_slice() {
                [a, b] => {
                    (a.as_u64().ok_or_else(|| bad("bad offsets"))?, b.as_u64().ok_or_else(|| bad("bad offsets"))?)
                }
                _ => return Err(bad("data_offsets must be [start, end]")),
            };
            let want = shape.iter().product::<usize>() as u64 * dtype.size() as u64;
            if end < start || end - start != want {
                return Err(bad(&format!(
                    "shape {shape:?} of {dtype_s} needs {want} bytes, offsets give {}",
                    end.wrapping_sub(start)
                )));
            }
            if end > data_len {
                return Err(corrupt(
                    path,
                    format!("tensor `{name}` ends at byte {end} of the data but the file holds {data_len}: the file is truncated (an interrupted download?)"),
                ));
            }
            entries.insert(name, Entry { dtype, shape, start, end });
        }
        Ok(SafeFile { path: path.to_path_buf(), entries, metadata, data_start: 8 + n })
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    fn raw(&self, name: &str) -> Result<(&Entry, Vec<u8>)> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| Error::invalid("weights", format!("{} has no tensor `{name}`", self.path.display())))?;
        let mut f = File::open(&self.path).map_err(|err| Error::io(format!("opening {}", self.path.display()), err))?;
        f.seek(SeekFrom::Start(self.data_start + e.start))
            .map_err(|err| Error::io(format!("reading {}", self.path.display()), err))?;
        let mut buf = vec![0u8; (e.end - e.start) as usize];
        f.read_exact(&mut buf)
            .map_err(|err| Error::io(format!("reading tensor `{name}` of {}", self.path.display()), err))?;
        Ok((e, buf))
    }

    /// A float tensor as f32, whatever float type the file stores.
    pub fn read_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (e, buf) = self.raw(name)?;
        let data: Vec<f32> = match e.dtype {
            FileDType::F32 => buf.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
            FileDType::F16 => buf.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            FileDType::BF16 => buf.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            FileDType::F64 => buf.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
            FileDType::I64 | FileDType::I32 | FileDType::U8 => {
                return Err(Error::invalid(
                    "weights",
                    format!("{}: tensor `{name}` holds integers, a float tensor was expected", self.path.display()),
                ))
            }
        };
        Ok((e.shape.clone(), data))
    }

    /// A U8 tensor's bytes (8-bit optimizer codes).
    pub fn read_u8(&self, name: &str) -> Result<(Vec<usize>, Vec<u8>)> {
        let (e, buf) = self.raw(name)?;
        if e.dtype != FileDType::U8 {
            return Err(Error::invalid(
                "weights",
                format!("{}: tensor `{name}` is {:?}, U8 was expected", self.path.display(), e.dtype),
            ));
        }
        Ok((e.shape.clone(), buf))
    }

    /// An integer tensor (token ids, timesteps) as i64.
    pub fn read_i64(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        let (e, buf) = self.raw(name)?;
        let data: Vec<i64> = match e.dtype {
            FileDType::I64 => buf.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(),
            FileDType::I32 => buf.chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap()) as i64).collect(),
            _ => {
                return Err(Error::invalid(
                    "weights",
                    format!("{}: tensor `{name}` holds floats, an integer tensor was expected", self.path.display()),
                ))
            }
        };
        Ok((e.shape.clone(), data))
    }
}

/// Produces one tensor's f32 data when the writer reaches it.
pub type F32Source<'a> = &'a dyn Fn() -> Result<Vec<f32>>;

/// A tensor to write: f32 data, i64 data, or f32 (`Lazy`) or byte (`LazyU8`) data produced
/// only when the writer reaches it (a GPU tensor read back then), so that a model is streamed to
/// disk one tensor at a time instead of being held on the host whole.
pub enum OutData<'a> {
    F32(&'a [f32]),
    I64(&'a [i64]),
    Lazy(F32Source<'a>),
    LazyU8(&'a dyn Fn() -> Result<Vec<u8>>),
}

/// Writes a safetensors file atomically (`fsutil::write_atomic`): a crash or a full disk never
/// leaves a half-written file under the real name, nor its temporary file. Lazy tensors are
/// produced one at a time, in order, each dropped once written.
pub fn save(path: &Path, tensors: &[(String, Vec<usize>, OutData)], metadata: &BTreeMap<String, String>) -> Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).unwrap());
    }
    let mut offset = 0u64;
    for (name, shape, data) in tensors {
        let numel = shape.iter().product::<usize>();
        let (dtype, len, size) = match data {
            OutData::F32(d) => ("F32", d.len(), 4),
            OutData::I64(d) => ("I64", d.len(), 8),
            OutData::Lazy(_) => ("F32", numel, 4),
            OutData::LazyU8(_) => ("U8", numel, 1),
        };
        let bytes = len * size;
        if len != numel {
            return Err(Error::invalid("save", format!("tensor `{name}`: {shape:?} does not match its data")));
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes as u64]}),
        );
        offset += bytes as u64;
    }
    let mut h = Value::Object(header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    // A lazily produced tensor must fill the shape its header entry promised.
    let check_len = |name: &str, shape: &[usize], len: usize| -> Result<()> {
        if len != shape.iter().product::<usize>() {
            return Err(Error::invalid("save", format!("tensor `{name}`: {shape:?} does not match its data")));
        }
        Ok(())
    };
    crate::fsutil::write_atomic(path, |w| {
        let ctx = |e| Error::io(format!("writing {}", path.display()), e);
        w.write_all(&(h.len() as u64).to_le_bytes()).map_err(ctx)?;
        w.write_all(&h).map_err(ctx)?;
        for (name, shape, data) in tensors {
            match data {
                OutData::F32(d) => w.write_all(bytemuck::cast_slice(d)).map_err(ctx)?,
                OutData::I64(d) => w.write_all(bytemuck::cast_slice(d)).map_err(ctx)?,
                OutData::Lazy(produce) => {
                    let d = produce()?;
                    check_len(name, shape, d.len())?;
                    w.write_all(bytemuck::cast_slice(&d)).map_err(ctx)?
                }
                OutData::LazyU8(produce) => {
                    let d = produce()?;
                    check_len(name, shape, d.len())?;
                    w.write_all(&d).map_err(ctx)?
                }
            }
        }
        Ok(())
    })
}
