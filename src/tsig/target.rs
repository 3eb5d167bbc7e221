//! An octets builder that starts out holding a complete message.
//!
//! `domain`'s signers only append a TSIG record through an
//! `AdditionalBuilder`, and the only way to get one over existing bytes is
//! `MessageBuilder::from_target`, which truncates its target to zero and
//! writes a fresh header. Our messages come whole from our own writer, so
//! this target swallows exactly that first truncate-and-write-header step
//! and keeps the message as it was; everything after it behaves like a
//! `Vec<u8>`.

use domain::base::message_builder::{AdditionalBuilder, MessageBuilder};
use domain::base::wire::Composer;
use domain::dep::octseq::builder::{OctetsBuilder, Truncate};
use std::convert::Infallible;

/// The length of the DNS header (RFC 1035 §4.1.1).
pub(crate) const HEADER_LEN: usize = 12;

pub(crate) struct Prefilled {
    buf: Vec<u8>,
    /// Still waiting for `from_target`'s header write, which must be ignored.
    armed: bool,
}

impl Prefilled {
    /// Wraps a complete message in an additional-section builder positioned
    /// at its end, so a TSIG record can be appended. Returns the message
    /// back when it is shorter than a header.
    pub(crate) fn builder(message: Vec<u8>) -> Result<AdditionalBuilder<Prefilled>, Vec<u8>> {
        if message.len() < HEADER_LEN {
            return Err(message);
        }
        let len = message.len();
        let target = Prefilled {
            buf: message,
            armed: true,
        };
        let Ok(builder) = MessageBuilder::from_target(target);
        let builder = builder.additional();
        // `from_target` is documented to truncate and then append one
        // header; if a future `domain` did anything else, the bytes would
        // no longer be ours, so refuse rather than sign something else.
        if builder.as_slice().len() != len || builder.as_target().armed {
            return Err(builder.finish().buf);
        }
        Ok(builder)
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

impl OctetsBuilder for Prefilled {
    type AppendError = Infallible;

    fn append_slice(&mut self, slice: &[u8]) -> Result<(), Self::AppendError> {
        if self.armed {
            // This is `from_target` writing an empty header: keep ours.
            self.armed = false;
        } else {
            self.buf.extend_from_slice(slice);
        }
        Ok(())
    }
}

impl Truncate for Prefilled {
    fn truncate(&mut self, len: usize) {
        // `from_target`'s truncate(0) is ignored while armed.
        if !self.armed {
            self.buf.truncate(len);
        }
    }
}

impl AsRef<[u8]> for Prefilled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl AsMut<[u8]> for Prefilled {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Composer for Prefilled {}
