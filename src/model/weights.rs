//! Named weights read from one or more safetensors files (a single `model.safetensors`, or shards
//! listed by `model.safetensors.index.json`), memory-mapped on native targets and given as bytes on
//! the web. Headers are parsed once; a tensor's bytes are read when it is asked for, converted
//! from f32, f16 or bf16 to f32.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use super::config::StorageDType;
use crate::error::{Error, Result};

/// The bytes of one file.
pub enum Buffer {
    /// Memory-mapped from disk: nothing is read until a tensor is asked for.
    #[cfg(feature = "native")]
    Mapped(memmap2::Mmap),
    /// Held in memory (the web, or files given as bytes).
    Owned(Vec<u8>),
}

impl Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            #[cfg(feature = "native")]
            Buffer::Mapped(m) => m,
            Buffer::Owned(v) => v,
        }
    }
}

impl Buffer {
    /// Maps `path` (native) or reads it whole.
    #[cfg(feature = "native")]
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the file is opened read-only and we never write through the mapping; a file
        // truncated by another process while mapped is outside what any reader can guard against.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Buffer::Mapped(map))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

struct File {
    path: PathBuf,
    buffer: Buffer,
    entries: BTreeMap<String, Entry>,
}

/// Every tensor of a checkpoint, by name.
pub struct WeightSet {
    files: Vec<File>,
    index: BTreeMap<String, usize>,
}

impl WeightSet {
    /// Reads the headers of the given files; `path` of each names it in errors.
    pub fn from_buffers(buffers: Vec<(PathBuf, Buffer)>) -> Result<Self> {
        let mut files = Vec::with_capacity(buffers.len());
        let mut index = BTreeMap::new();
        for (i, (path, buffer)) in buffers.into_iter().enumerate() {
            let entries = read_header(&path, &buffer)?;
            for name in entries.keys() {
                if index.insert(name.clone(), i).is_some() {
                    return Err(Error::bad_tensor(
                        &path,
                        name,
                        "appears in more than one file",
                    ));
                }
            }
            files.push(File {
                path,
                buffer,
                entries,
            });
        }
        Ok(Self { files, index })
    }

    /// Names of all tensors.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The stored shape of `name`.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        let file = self.files.get(*self.index.get(name)?)?;
        file.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// The file that holds `name`, or the first file when none does (for error messages).
    pub fn path_of(&self, name: &str) -> &Path {
        let i = self.index.get(name).copied().unwrap_or(0);
        self.files
            .get(i)
            .map_or(Path::new("model.safetensors"), |f| &f.path)
    }

    /// The dtype most of the weights are stored in (by element count).
    pub fn storage_dtype(&self) -> Option<StorageDType> {
        let mut counts: BTreeMap<&'static str, (usize, StorageDType)> = BTreeMap::new();
        for file in &self.files {
            for e in file.entries.values() {
                if let Some(d) = storage_dtype(e.dtype) {
                    let n: usize = e.shape.iter().product();
                    counts.entry(d.hf_name()).or_insert((0, d)).0 += n;
                }
            }
        }
        counts.into_values().max_by_key(|(n, _)| *n).map(|(_, d)| d)
    }

    /// Bytes of all tensors as stored.
    pub fn stored_bytes(&self) -> usize {
        self.files
            .iter()
            .flat_map(|f| f.entries.values())
            .map(|e| e.end - e.start)
            .sum()
    }

    /// The tensor `name` as f32 host data, checked against `shape`.
    pub fn read(&self, name: &str, shape: &[usize]) -> Result<TensorData> {
        let Some(&i) = self.index.get(name) else {
            return Err(Error::bad_tensor(self.path_of(name), name, "missing"));
        };
        let file = &self.files[i];
        let entry = &file.entries[name];
        if entry.shape != shape {
            return Err(Error::bad_tensor(
                &file.path,
                name,
                format!("has shape {:?}, expected {:?}", entry.shape, shape),
            ));
        }
        let bytes = &file.buffer[entry.start..entry.end];
        let values: Vec<f32> = match entry.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::bad_tensor(
                    &file.path,
                    name,
                    format!("dtype {other:?} is not supported (f32, f16, bf16 are)"),
                ));
            }
        };
        Ok(TensorData::new(values, shape.to_vec()))
    }
}

fn storage_dtype(dtype: Dtype) -> Option<StorageDType> {
    match dtype {
        Dtype::F32 => Some(StorageDType::F32),
        Dtype::F16 => Some(StorageDType::F16),
        Dtype::BF16 => Some(StorageDType::Bf16),
        _ => None,
    }
}

/// Parses and checks a safetensors header: every tensor's bytes must lie inside the file.
fn read_header(path: &Path, buffer: &[u8]) -> Result<BTreeMap<String, Entry>> {
    let bad =
        |reason: String| Error::bad_file(path, format!("not a valid safetensors file: {reason}"));
    // `deserialize` checks the header and that the data section is complete.
    let tensors = SafeTensors::deserialize(buffer).map_err(|e| bad(e.to_string()))?;
    let (header_len, _) = SafeTensors::read_metadata(buffer).map_err(|e| bad(e.to_string()))?;
    let data_start = 8 + header_len;
    let mut entries = BTreeMap::new();
    for (name, view) in tensors.tensors() {
        let data = view.data();
        // The view borrows `buffer`: its offset within it is where the data lies.
        let start = data.as_ptr() as usize - buffer.as_ptr() as usize;
        debug_assert!(start >= data_start);
        entries.insert(
            name,
            Entry {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                start,
                end: start + data.len(),
            },
        );
    }
    Ok(entries)
}

/// The values of `t` read back to the host as f32, or an error naming `what`: never an empty
/// vector standing in for data that could not be read.
pub fn host_values<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading {what} back from the device: {e:?}")))
}

/// Serialises named f32 tensors as one safetensors file in the given dtype.
pub fn serialize(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dtype: StorageDType,
) -> Result<Vec<u8>> {
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, values)| (name.clone(), shape.clone(), encode(values, dtype)))
        .collect();
    let st_dtype = match dtype {
        StorageDType::F32 => Dtype::F32,
        StorageDType::F16 => Dtype::F16,
        StorageDType::Bf16 => Dtype::BF16,
    };
    let views: Vec<(String, safetensors::tensor::TensorView)> = encoded
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(st_dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::InvalidInput(format!("tensor `{name}`: {e}")))
        })
        .collect::<Result<_>>()?;
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    safetensors::serialize(views, metadata).map_err(|e| Error::Serialize(e.to_string()))
}

fn encode(values: &[f32], dtype: StorageDType) -> Vec<u8> {
    match dtype {
        StorageDType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        StorageDType::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        StorageDType::Bf16 => values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
    }
}
