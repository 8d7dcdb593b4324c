//! A buffer pool: freed tensor buffers go back to a free list keyed by size class and are
//! handed out again, so a training step that allocates the same shapes every iteration stops
//! allocating after its first step. Tracks live, pooled and peak bytes.
//!
//! Each size class hands out its lowest-numbered free buffer (numbered in order of creation),
//! not the last one returned: a step that takes and frees the same sizes in the same order
//! from the same free buffers then gets the same buffers every time, so the bind groups the
//! context made for the previous step serve again (`Context::dispatch`'s cache). A LIFO list
//! rotated the buffers between steps, so that almost none repeated.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Rounds a byte count up to its size class: m * 2^e with m in 8..16, so no class wastes
/// more than 12.5% and nearby sizes share buffers.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let e = 63 - bytes.leading_zeros() as i32 - 3; // keep the top 4 bits
    if e <= 0 {
        return bytes.next_multiple_of(16);
    }
    let unit = 1u64 << e;
    bytes.div_ceil(unit) * unit
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Bytes held by live tensors.
    pub live_bytes: u64,
    /// Highest `live_bytes` seen since the last `reset_peak`.
    pub peak_bytes: u64,
    /// Bytes sitting in the free lists, ready for reuse.
    pub pooled_bytes: u64,
    /// Buffers created from the device (misses).
    pub allocations: u64,
    /// Buffers handed out from the free lists (hits).
    pub reuses: u64,
}

pub struct Pool {
    /// Free buffers by size class, then by serial number (the lowest is handed out first).
    free: Mutex<HashMap<u64, BTreeMap<u64, wgpu::Buffer>>>,
    /// The next buffer's serial number.
    serials: AtomicU64,
    live: AtomicU64,
    peak: AtomicU64,
    pooled: AtomicU64,
    allocations: AtomicU64,
    reuses: AtomicU64,
}

/// A storage buffer on loan from the pool; it goes back to the pool when dropped.
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    size: u64,
    serial: u64,
    pool: &'static Pool,
}

impl PooledBuffer {
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }
    /// The buffer's size in bytes (its size class, at least what was asked for).
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.pool.give_back(b, self.size, self.serial);
        }
    }
}

impl std::fmt::Debug for PooledBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PooledBuffer({} bytes)", self.size)
    }
}

impl Pool {
    pub(crate) fn new() -> Self {
        Pool {
            free: Mutex::new(HashMap::new()),
            serials: AtomicU64::new(0),
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            pooled: AtomicU64::new(0),
            allocations: AtomicU64::new(0),
            reuses: AtomicU64::new(0),
        }
    }

    pub(crate) fn take(
        &'static self,
        device: &wgpu::Device,
        max_buffer: u64,
        bytes: u64,
        release: &dyn Fn(),
    ) -> Result<PooledBuffer> {
        let size = size_class(bytes);
        if size > max_buffer {
            return Err(Error::OutOfMemory(format!(
                "a tensor of {bytes} bytes exceeds the adapter's max_buffer_size of {max_buffer} bytes"
            )));
        }
        let reused = self.free.lock().unwrap().get_mut(&size).and_then(|v| v.pop_first());
        let (serial, buffer) = match reused {
            Some(b) => {
                self.pooled.fetch_sub(size, Ordering::Relaxed);
                self.reuses.fetch_add(1, Ordering::Relaxed);
                b
            }
            None => {
                let b = match self.create(device, size) {
                    Ok(b) => b,
                    Err(_) => {
                        // Out of memory: let go of what else holds buffers (`release`: the
                        // context's cached bind groups), give the pooled buffers back to the
                        // driver, and retry once.
                        release();
                        self.trim();
                        self.create(device, size)?
                    }
                };
                self.allocations.fetch_add(1, Ordering::Relaxed);
                (self.serials.fetch_add(1, Ordering::Relaxed), b)
            }
        };
        let live = self.live.fetch_add(size, Ordering::Relaxed) + size;
        self.peak.fetch_max(live, Ordering::Relaxed);
        Ok(PooledBuffer { buffer: Some(buffer), size, serial, pool: self })
    }

    fn create(&self, device: &wgpu::Device, size: u64) -> Result<wgpu::Buffer> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let b = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tensor"),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::OutOfMemory(format!(
                "allocating {size} bytes: {e} (live {} bytes)",
                self.live.load(Ordering::Relaxed)
            )));
        }
        Ok(b)
    }

    fn give_back(&self, buffer: wgpu::Buffer, size: u64, serial: u64) {
        self.live.fetch_sub(size, Ordering::Relaxed);
        self.pooled.fetch_add(size, Ordering::Relaxed);
        self.free.lock().unwrap().entry(size).or_default().insert(serial, buffer);
    }

    /// Releases every pooled (unused) buffer back to the driver. Bind groups may still hold
    /// them: `Context::trim` lets go of both.
    pub(crate) fn trim(&self) {
        let mut free = self.free.lock().unwrap();
        free.clear();
        self.pooled.store(0, Ordering::Relaxed);
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            live_bytes: self.live.load(Ordering::Relaxed),
            peak_bytes: self.peak.load(Ordering::Relaxed),
            pooled_bytes: self.pooled.load(Ordering::Relaxed),
            allocations: self.allocations.load(Ordering::Relaxed),
            reuses: self.reuses.load(Ordering::Relaxed),
        }
    }

    pub fn reset_peak(&self) {
        self.peak.store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_bound_waste() {
        for bytes in [1u64, 4, 255, 256, 257, 1000, 4096, 4097, 123_456, 1 << 27, (1 << 27) + 1, 145_000_000] {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(c.is_multiple_of(16), "{bytes} -> {c}");
            assert!(c as f64 <= (bytes.max(256) as f64) * 1.125 + 16.0, "{bytes} -> {c}");
        }
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(1 << 27), 1 << 27);
    }
}
