//! A bit reader for H.264 RBSPs and the AAC AudioSpecificConfig.

use crate::MediaError;

/// Reads big-endian bit fields from a byte slice. Every read is bounds-checked and fails with
/// [`MediaError::Truncated`] past the end.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    pub(crate) fn bit(&mut self) -> Result<bool, MediaError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(MediaError::truncated(self.what))?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` ≤ 32 bits.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, MediaError> {
        debug_assert!(n <= 32);
        let mut value: u32 = 0;
        for _ in 0..n.min(32) {
            value = (value << 1) | u32::from(self.bit()?);
        }
        Ok(value)
    }

    /// Unsigned exp-Golomb, ue(v) (ITU-T H.264 §9.1). Values that need more than 31 leading
    /// zeros do not fit in 32 bits and are rejected.
    pub(crate) fn ue(&mut self) -> Result<u32, MediaError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(MediaError::malformed(self.what, "exp-Golomb code too long"));
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.bits(zeros)?;
        // (1 << 31) - 1 + rest fits in u32 because rest < 1 << 31 when zeros == 31.
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed exp-Golomb, se(v) (ITU-T H.264 §9.1.1).
    pub(crate) fn se(&mut self) -> Result<i32, MediaError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}
