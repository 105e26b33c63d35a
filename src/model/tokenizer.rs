//! A model's tokenizer: `tokenizer.json` through the `tokenizers` crate, with the BOS and EOS ids
//! taken from the model config, `tokenizer_config.json` or the vocabulary, in that order.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A tokenizer and the special ids generation needs.
#[derive(Clone)]
pub struct TextTokenizer {
    pub inner: tokenizers::Tokenizer,
    pub path: PathBuf,
    pub bos_id: Option<u32>,
    pub eos_ids: Vec<u32>,
    /// Whether `encode` with special tokens already puts BOS first.
    adds_bos: bool,
}

impl TextTokenizer {
    /// Reads `tokenizer.json` bytes; `path` names the file in errors.
    pub fn from_bytes(
        json: &[u8],
        path: &Path,
        tokenizer_config: Option<&[u8]>,
        config_bos: Option<u32>,
        config_eos: &[u32],
    ) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json).map_err(|e| Error::Tokenizer {
            path: path.to_path_buf(),
            reason: format!("not a valid tokenizer.json: {e}"),
        })?;
        let token_config: Option<serde_json::Value> =
            tokenizer_config.and_then(|b| serde_json::from_slice(b).ok());
        let named = |key: &str| -> Option<u32> {
            let v = token_config.as_ref()?.get(key)?;
            let content = v.as_str().or_else(|| v.get("content")?.as_str())?;
            inner.token_to_id(content)
        };
        let bos_id = config_bos
            .or_else(|| named("bos_token"))
            .or_else(|| inner.token_to_id("<s>"))
            .or_else(|| inner.token_to_id("<|begin_of_text|>"));
        let mut eos_ids = config_eos.to_vec();
        if eos_ids.is_empty() {
            eos_ids.extend(
                named("eos_token")
                    .or_else(|| inner.token_to_id("</s>"))
                    .or_else(|| inner.token_to_id("<|end_of_text|>")),
            );
        }
        let adds_bos = match (bos_id, inner.encode("a", true)) {
            (Some(bos), Ok(enc)) => enc.get_ids().first() == Some(&bos),
            _ => false,
        };
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            bos_id,
            eos_ids,
            adds_bos,
        })
    }

    /// Reads `tokenizer.json` (and `tokenizer_config.json` beside it, if any) from a file.
    #[cfg(feature = "native")]
    pub fn open(path: &Path, config_bos: Option<u32>, config_eos: &[u32]) -> Result<Self> {
        let json = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let side = path.with_file_name(super::checkpoint::TOKENIZER_CONFIG_FILE);
        let side = std::fs::read(side).ok();
        Self::from_bytes(&json, path, side.as_deref(), config_bos, config_eos)
    }

    /// Number of ids the tokenizer can produce (its vocabulary with added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Checks that every id fits in a model with `vocab_size` rows.
    pub fn check_fits(&self, vocab_size: usize) -> Result<()> {
        let largest = self
            .inner
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        if largest > vocab_size {
            return Err(Error::Tokenizer {
                path: self.path.clone(),
                reason: format!(
                    "produces ids up to {} but the model has only {vocab_size} embedding rows",
                    largest - 1
                ),
            });
        }
        Ok(())
    }

    /// Token ids of `text`, with BOS first (as the tokenizer adds it, or prepended if it does not).
    pub fn encode_with_bos(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text, true)?;
        if let Some(bos) = self.bos_id
            && !self.adds_bos
        {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// Token ids of `text`, with or without the tokenizer's special tokens.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        self.inner
            .encode(text, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer {
                path: self.path.clone(),
                reason: format!("cannot encode: {e}"),
            })
    }

    /// Token ids of many texts at once, in parallel where the platform has threads; no special
    /// tokens are added.
    pub fn encode_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<u32>>> {
        self.inner
            .encode_batch(texts, false)
            .map(|all| all.into_iter().map(|e| e.get_ids().to_vec()).collect())
            .map_err(|e| Error::Tokenizer {
                path: self.path.clone(),
                reason: format!("cannot encode: {e}"),
            })
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Tokenizer {
            path: self.path.clone(),
            reason: format!("cannot decode: {e}"),
        })
    }
}

impl TextTokenizer {
    /// The tokenization model: `BPE (byte fallback)`, `BPE`, `Unigram`, `WordPiece`, `WordLevel`.
    pub fn model_kind(&self) -> String {
        use tokenizers::models::ModelWrapper;
        match self.inner.get_model() {
            ModelWrapper::BPE(bpe) if bpe.byte_fallback => "BPE (byte fallback)".into(),
            ModelWrapper::BPE(_) => "BPE".into(),
            ModelWrapper::WordPiece(_) => "WordPiece".into(),
            ModelWrapper::WordLevel(_) => "WordLevel".into(),
            ModelWrapper::Unigram(_) => "Unigram".into(),
        }
    }
}
