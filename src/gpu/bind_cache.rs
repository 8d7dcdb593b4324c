//! Bind groups kept between dispatches that bind the same buffers the same way.
//!
//! Creating a bind group was the largest part of recording a dispatch: on lavapipe about 11 of
//! the 30 µs each of an SD 1.5 step's ~4000 dispatches took on the host, most of it allocating
//! the descriptor set; on a GPU driver it is less, but wgpu's validation and the group's later
//! destruction remain. A training step binds the same buffers at the same offsets in the same
//! order every time (the pool hands out buffers in a fixed order, `gpu::pool`), so the groups
//! of one step serve the next.
//!
//! Two generations bound the memory held: new and reused groups go into the current map; when
//! it is full it becomes the previous one and the old previous one is dropped. Groups used in
//! every cycle (a step) survive as long as a cycle uses no more than `capacity` distinct ones;
//! one not used for two fills is let go.
//! Keys hold clones of the buffers (wgpu compares buffers by identity), so a key can never
//! match a later buffer that took a freed one's place; `Context::trim` clears the cache with
//! the pool, since cached groups keep their buffers alive.

use std::collections::HashMap;

/// What a bind group binds: its layout and every binding's buffer, offset and size, in order
/// (binding 0, the uniform arena, included).
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct BindKey {
    pub layout: wgpu::BindGroupLayout,
    pub bindings: Vec<(wgpu::Buffer, u64, u64)>,
}

/// The cache, generic over what it holds so that its policy is tested without a device.
pub(crate) struct BindCache<K = BindKey, V = wgpu::BindGroup> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    capacity: usize,
    /// Lookups answered from the cache, and groups created.
    pub hits: u64,
    pub misses: u64,
}

impl<K: std::hash::Hash + Eq, V: Clone> BindCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        BindCache { current: HashMap::new(), previous: HashMap::new(), capacity, hits: 0, misses: 0 }
    }

    /// The group for `key`, made by `create` if neither generation has it.
    pub fn get_or_create(&mut self, key: K, create: impl FnOnce(&K) -> V) -> V {
        if let Some(g) = self.current.get(&key) {
            self.hits += 1;
            return g.clone();
        }
        let group = match self.previous.remove_entry(&key) {
            Some((_, g)) => {
                self.hits += 1;
                g
            }
            None => {
                self.misses += 1;
                create(&key)
            }
        };
        if self.current.len() >= self.capacity {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, group.clone());
        group
    }

    /// Lets go of every group (and so of the buffers they hold).
    pub fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
    }

    /// Groups held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::BindCache;

    #[test]
    fn groups_used_every_cycle_are_made_once_and_memory_stays_bounded() {
        // A cycle of as many keys as a generation holds: only the first cycle creates groups.
        let mut cache: BindCache<u32, u32> = BindCache::new(4);
        let mut made = 0;
        for _ in 0..5 {
            for k in 0..4 {
                let v = cache.get_or_create(k, |&k| {
                    made += 1;
                    k * 10
                });
                assert_eq!(v, k * 10);
            }
        }
        assert_eq!((made, cache.misses, cache.hits), (4, 4, 16));
        // A cycle that moves on (a new key each time, as the first steps of a run): groups
        // still in use survive each turn of the generations, and the cache holds at most two.
        for round in 0..6 {
            for k in [0, 1, 2, 100 + round] {
                cache.get_or_create(k, |&k| k * 10);
            }
            assert!(cache.len() <= 8);
        }
        assert_eq!(cache.misses, 4 + 6, "only the new keys were made");
        // A cycle longer than both generations: bounded, not a leak.
        for _ in 0..3 {
            for k in 1000..1009 {
                cache.get_or_create(k, |&k| k);
            }
            assert!(cache.len() <= 8);
        }
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
