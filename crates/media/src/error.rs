//! The crate's one error type.

/// Everything that can go wrong while parsing or muxing media.
///
/// Every variant describes bad or unsupported *input*; none is a bug in this crate. A caller
/// that gets one drops the offending tag (or closes the connection that sent it) and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The input ended before a complete structure was read.
    #[error("{what}: input truncated")]
    Truncated {
        /// The structure being read.
        what: &'static str,
    },
    /// The input violates its specification.
    #[error("{what}: {reason}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The input is valid but uses a feature this crate does not handle.
    #[error("{what}: unsupported {reason}")]
    Unsupported {
        /// The structure being read.
        what: &'static str,
        /// The feature.
        reason: &'static str,
    },
    /// A length exceeds one of our named limits.
    #[error("{what}: {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The structure being read.
        what: &'static str,
        /// The declared or actual size.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
}

impl MediaError {
    pub(crate) const fn truncated(what: &'static str) -> Self {
        Self::Truncated { what }
    }

    pub(crate) const fn malformed(what: &'static str, reason: &'static str) -> Self {
        Self::Malformed { what, reason }
    }

    pub(crate) const fn unsupported(what: &'static str, reason: &'static str) -> Self {
        Self::Unsupported { what, reason }
    }

    /// True when the input is broken (truncated, malformed or over a limit): the sender is at
    /// fault, and a protocol driver may close the connection.
    pub fn is_malformed_input(&self) -> bool {
        !self.is_unsupported()
    }

    /// True when the input is valid but uses a feature we do not handle (a codec, an
    /// encryption flag): worth a log line, not a disconnect.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }
}
