//! Seeded random numbers for what must come out the same everywhere (the synthetic world, the
//! bootstrap): ChaCha8 from a seed, which gives the same stream on every platform
//! and in every build, with the few draws the generator needs built on `next_u64` alone (no
//! platform-sized integers, no floating point).

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// A seeded stream; separate streams for separate purposes keep, say, the Chinese corpus's size
/// from changing who the people are.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The stream `stream` of the world with seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// A uniform draw from `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.0.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// A uniform draw from `lo..=hi`.
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_fixed() {
        // The same seed and stream give the same draws; another stream others. (That the
        // draws never change across builds is pinned by the world digest in tests/world.rs.)
        let mut r = SeededRng::new(7, 0);
        let draws: Vec<usize> = (0..6).map(|_| r.below(1000)).collect();
        let mut again = SeededRng::new(7, 0);
        assert_eq!(draws, (0..6).map(|_| again.below(1000)).collect::<Vec<_>>());
        let mut other = SeededRng::new(7, 1);
        assert_ne!(draws, (0..6).map(|_| other.below(1000)).collect::<Vec<_>>());
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = SeededRng::new(1, 2);
        for _ in 0..1000 {
            assert!(r.between(1930, 2005) >= 1930 && r.between(1930, 2005) <= 2005);
            assert!(r.below(3) < 3);
        }
    }
}
