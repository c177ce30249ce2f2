//! A draw's random stream, read in 64-bit words from a buffer of ChaCha8 output.
//!
//! Rationale: a baseline draw takes about 140 random words, one per random term, and
//! the engine wants them all at once, as an array ([`DrawStream::fill_words`]), before
//! it computes the terms in one loop; those come straight from the generator. The rare
//! term that needs more words then reads them one at a time, from a buffer of 256
//! bytes, the four ChaCha blocks the generator computes together, rather than through
//! `ChaCha8Rng`'s per-word bookkeeping.
//!
//! The words are the same as `ChaCha8Rng::next_u64` gives from the start of the same
//! stream (tested), so results do not change. Only whole 64-bit words are handed out:
//! `next_u32` takes the low half of the next word, where `ChaCha8Rng` would take a
//! 32-bit word. No part of the engine reads 32-bit values.

use std::convert::Infallible;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng, TryRng};

/// 64-bit words per refill: the 256 bytes of the four ChaCha blocks the generator
/// computes at once, so no refill computes a block it does not hand out.
const WORDS: usize = 32;

/// The random stream of one draw: ChaCha8 keyed by the run, with the draw index as
/// stream id, read a 64-bit word at a time.
#[derive(Debug)]
pub struct DrawStream {
    chacha: ChaCha8Rng,
    /// The run's key the generator was seeded with.
    key: [u8; 32],
    /// The words of the last refill, as little-endian bytes.
    words: [[u8; 8]; WORDS],
    /// The next word of `words` to hand out (`WORDS`: refill first).
    next: usize,
    /// Where to set the generator (stream, 64-bit word) before it computes again, when
    /// the stream's words so far were computed elsewhere ([`DrawStream::resume`]).
    seek: Option<(u64, u64)>,
}

impl DrawStream {
    /// Stream `draw` of the run with key `key`. Streams of different draws never
    /// overlap.
    pub fn new(key: &[u8; 32], draw: u64) -> DrawStream {
        let mut chacha = ChaCha8Rng::from_seed(*key);
        chacha.set_stream(draw);
        DrawStream {
            chacha,
            key: *key,
            words: [[0; 8]; WORDS],
            next: WORDS,
            seek: None,
        }
    }

    /// Restarts this stream as stream `draw` of the run with key `key`, from its start:
    /// the same words as [`DrawStream::new`] gives, without seeding the generator or
    /// clearing its buffers again (a worker reuses one stream for all its draws).
    #[inline]
    pub fn restart(&mut self, key: &[u8; 32], draw: u64) {
        self.use_key(key);
        // Also discards the generator's buffered words.
        self.chacha.set_stream(draw);
        self.next = WORDS;
        self.seek = None;
    }

    /// Seeds the generator with `key`, unless it already holds it.
    #[inline]
    fn use_key(&mut self, key: &[u8; 32]) {
        if self.key != *key {
            self.chacha = ChaCha8Rng::from_seed(*key);
            self.key = *key;
        }
    }

    /// Restarts this stream as stream `draw` of the run with key `key`, its words
    /// before word `at` having been computed elsewhere (`engine::chacha`): the next
    /// words handed out are `ahead`, the words just before `at`, then those from `at`
    /// on. The generator is set to `at` only if they are needed.
    #[inline]
    pub fn resume(&mut self, key: &[u8; 32], draw: u64, ahead: &[[u8; 8]], at: u64) {
        self.use_key(key);
        let kept = &ahead[..ahead.len().min(WORDS)];
        self.next = WORDS - kept.len();
        self.words[self.next..].copy_from_slice(kept);
        self.seek = Some((draw, at - (ahead.len() - kept.len()) as u64));
    }

    /// Sets the generator where [`DrawStream::resume`] left it to be set, if it did.
    #[inline(always)]
    fn seek_generator(&mut self) {
        if let Some((draw, at)) = self.seek.take() {
            self.chacha.set_stream(draw);
            // Positions count 32-bit words.
            self.chacha.set_word_pos(u128::from(at) * 2);
        }
    }

    /// The next 64-bit word of the stream.
    #[inline(always)]
    fn word(&mut self) -> u64 {
        if self.next == WORDS {
            self.refill();
        }
        let word = u64::from_le_bytes(self.words[self.next]);
        self.next += 1;
        word
    }

    /// The next `out.len()` words of the stream into `out`, as little-endian bytes:
    /// the buffer's words, then whole refills straight from the generator, then the
    /// start of a refill of the buffer. The generator computes only the blocks it
    /// hands out.
    #[inline(always)]
    pub fn fill_words(&mut self, out: &mut [[u8; 8]]) {
        let take = out.len().min(WORDS - self.next);
        let (head, rest) = out.split_at_mut(take);
        head.copy_from_slice(&self.words[self.next..self.next + take]);
        self.next += take;
        let (whole, tail) = rest.split_at_mut(rest.len() / WORDS * WORDS);
        if !whole.is_empty() {
            self.seek_generator();
            self.chacha.fill_bytes(whole.as_flattened_mut());
        }
        if !tail.is_empty() {
            self.refill();
            tail.copy_from_slice(&self.words[..tail.len()]);
            self.next = tail.len();
        }
    }

    /// The next 256 bytes of the stream into the buffer.
    #[cold]
    fn refill(&mut self) {
        self.seek_generator();
        self.chacha.fill_bytes(self.words.as_flattened_mut());
        self.next = 0;
    }
}

impl TryRng for DrawStream {
    type Error = Infallible;

    /// The low half of the next 64-bit word.
    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word() as u32)
    }

    /// The next 64-bit word.
    #[inline(always)]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.word())
    }

    /// Whole next words, as little-endian bytes; the unused bytes of the last word are
    /// skipped.
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.word().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_those_of_chacha8_from_the_stream_start() {
        let key = [7u8; 32];
        for draw in [0, 1, 255, u64::MAX] {
            let mut reference = ChaCha8Rng::from_seed(key);
            reference.set_stream(draw);
            let mut stream = DrawStream::new(&key, draw);
            // Several refills, and a word on each side of every refill.
            for i in 0..5 * WORDS + 3 {
                assert_eq!(
                    stream.next_u64(),
                    reference.next_u64(),
                    "draw {draw} word {i}"
                );
            }
        }
    }

    #[test]
    fn a_restarted_stream_is_a_new_one() {
        let (key, other) = ([7u8; 32], [8u8; 32]);
        let mut reused = DrawStream::new(&other, 3);
        for (k, draw, used) in [(&key, 5, 40), (&key, 6, 0), (&other, 5, 7), (&key, 5, 33)] {
            reused.restart(k, draw);
            let mut fresh = DrawStream::new(k, draw);
            for i in 0..70 {
                assert_eq!(reused.next_u64(), fresh.next_u64(), "draw {draw} word {i}");
            }
            // Leave part of a refill, and of the generator's buffer, unread.
            for _ in 0..used {
                reused.next_u64();
            }
        }
    }

    #[test]
    fn a_resumed_stream_continues_from_the_words_ahead() {
        let key = [6u8; 32];
        let other = [9u8; 32];
        let mut reused = DrawStream::new(&other, 1);
        for (draw, at, ahead) in [
            (3, 160, 15),
            (4, 152, 0),
            (5, 40, 40),
            (6, 8, 8),
            (7, 64, 33),
        ] {
            let mut reference = ChaCha8Rng::from_seed(key);
            reference.set_stream(draw);
            let words: Vec<[u8; 8]> = (0..at + 80)
                .map(|_| reference.next_u64().to_le_bytes())
                .collect();
            // Part of the last stream's buffer left unread, and another key before.
            reused.next_u64();
            reused.resume(&key, draw, &words[(at - ahead) as usize..at as usize], at);
            let mut got = vec![[0u8; 8]; 3];
            reused.fill_words(&mut got);
            for _ in 3..ahead as usize + 70 {
                got.push(reused.next_u64().to_le_bytes());
            }
            let want = &words[(at - ahead) as usize..][..got.len()];
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert_eq!(g, w, "draw {draw}, word {i} after the {ahead} ahead");
            }
        }
    }

    #[test]
    fn filled_words_continue_the_stream() {
        let key = [5u8; 32];
        for first in [0, 1, 31, 32, 33, 140] {
            let mut a = DrawStream::new(&key, 4);
            let mut b = DrawStream::new(&key, 4);
            // Some words read one by one before, so the buffer is part used.
            for i in 0..first % 3 {
                assert_eq!(a.next_u64(), b.next_u64(), "word {i} before {first}");
            }
            let mut head = vec![[0u8; 8]; first];
            a.fill_words(&mut head);
            for (i, &w) in head.iter().enumerate() {
                assert_eq!(u64::from_le_bytes(w), b.next_u64(), "word {i} of {first}");
            }
            for i in 0..40 {
                assert_eq!(a.next_u64(), b.next_u64(), "word {i} after {first}");
            }
        }
    }

    #[test]
    fn bytes_are_whole_words() {
        let key = [3u8; 32];
        let mut a = DrawStream::new(&key, 9);
        let mut b = DrawStream::new(&key, 9);
        let mut bytes = [0u8; 20];
        a.fill_bytes(&mut bytes);
        let w: Vec<u64> = (0..3).map(|_| b.next_u64()).collect();
        assert_eq!(bytes[..8], w[0].to_le_bytes());
        assert_eq!(bytes[8..16], w[1].to_le_bytes());
        assert_eq!(bytes[16..], w[2].to_le_bytes()[..4]);
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
