//! The library's error type: every message names the file (or input) and what is wrong with it.

use std::path::PathBuf;

/// Errors the core library reports. Faces (CLI, GUI, web) turn them into messages for people.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what it should be.
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// A model configuration that cannot describe a working model.
    #[error("{path}: invalid model configuration: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    /// A weight that is missing, misnamed, or of the wrong shape or type.
    #[error("{path}: tensor `{tensor}`: {reason}")]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    /// A tokenizer that cannot be used with this model.
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    /// Input given on the command line or through the GUI that cannot be used.
    #[error("{0}")]
    InvalidInput(String),
    /// A compute device that could not be set up.
    #[error("device: {0}")]
    Device(String),
    /// A device that computes wrong results (found by `device::check` before any work).
    #[error(
        "device: {adapter} computes wrong sums: {fault}; training or evaluating on it would be \
         silently wrong. Use --device cpu, or a newer driver (Mesa 25's lavapipe passes)"
    )]
    DeviceFault { adapter: String, fault: String },
    /// A value that could not be written out (JSON, TOML).
    #[error("cannot write the data: {0}")]
    Serialize(String),
    /// A figure that could not be drawn.
    #[error("cannot draw a figure: {0}")]
    Figure(String),
    /// Training stopped because the loss or the gradient norm stopped being a number.
    #[error("{what} at step {step}; stopped. The last good checkpoint is {last_checkpoint}")]
    Diverged {
        what: String,
        step: u64,
        last_checkpoint: String,
    },
    /// A failure inside the program (a caught panic): a bug to report, with this message.
    #[error("internal error: {0}")]
    Internal(String),
    /// The job was cancelled before it finished.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    #[cfg_attr(not(feature = "native"), allow(dead_code))]
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_config(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadConfig {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_tensor(
        path: impl Into<PathBuf>,
        tensor: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::BadTensor {
            path: path.into(),
            tensor: tensor.into(),
            reason: reason.into(),
        }
    }
}

/// The bytes of the file `path` as text (`path` may only name them, where they came from
/// elsewhere: a file given to the web page); the error gives the offset of the first byte that
/// is not UTF-8.
pub fn utf8_text(path: &std::path::Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        Error::bad_file(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
