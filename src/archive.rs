//! A folder of files as one zip archive in memory: how the web page hands a trained model (an
//! HF checkpoint folder) to the browser's downloads, where a folder cannot go.
//!
//! The archive is the plain PKZIP layout (APPNOTE 6.3: local headers, central directory, end
//! record; deflated entries, UTF-8 names), written here with `flate2`, which the crate already
//! uses for gzip: the `zip` crate would bring a dozen crates of its own into the web page's
//! build for these few headers. Archives are limited to what needs no zip64 (4 GiB).

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

use crate::error::{Error, Result};

/// The version of the format the archive needs: 2.0, deflate.
const VERSION: u16 = 20;
/// Entry names are UTF-8 (general-purpose flag bit 11).
const UTF8_NAMES: u16 = 1 << 11;
const DEFLATED: u16 = 8;
/// 1980-01-01 00:00, the format's earliest date: the archive is the same for the same files.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// Made on Unix, so that unpacking gives ordinary files (`rw-r--r--`).
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION;
const FILE_MODE: u32 = 0o100_644 << 16;

/// `files` (a relative path with `/` between folders, and the bytes) as a zip archive, each
/// under `folder/` so that unpacking it makes one folder; deflated.
pub fn zip_folder(folder: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let too_large = || {
        Error::InvalidInput(format!(
            "{folder}: more than a zip archive without zip64 holds (65,535 files, 4 GiB, 64 KiB names)"
        ))
    };
    let small = |n: usize| u32::try_from(n).map_err(|_| too_large());
    if files.len() > usize::from(u16::MAX) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, bytes) in files {
        let name = format!("{folder}/{name}");
        if name.len() > usize::from(u16::MAX) {
            return Err(too_large());
        }
        let mut crc = flate2::Crc::new();
        crc.update(bytes);
        let deflate_failed = |e: std::io::Error| Error::Serialize(format!("{name}: deflate: {e}"));
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).map_err(deflate_failed)?;
        let packed = encoder.finish().map_err(deflate_failed)?;
        let entry = Entry {
            name: name.as_bytes(),
            crc: crc.sum(),
            packed: small(packed.len())?,
            size: small(bytes.len())?,
            offset: small(out.len())?,
        };
        entry.local_header(&mut out);
        out.extend_from_slice(&packed);
        entry.directory_header(&mut directory);
    }
    let directory_offset = small(out.len())?;
    let directory_size = small(directory.len())?;
    out.extend_from_slice(&directory);
    let count = files.len() as u16;
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // the disk where the directory starts
    put16(&mut out, count);
    put16(&mut out, count);
    put32(&mut out, directory_size);
    put32(&mut out, directory_offset);
    put16(&mut out, 0); // no comment
    small(out.len())?;
    Ok(out)
}

/// What the two headers of one entry say.
struct Entry<'a> {
    name: &'a [u8],
    crc: u32,
    packed: u32,
    size: u32,
    offset: u32,
}

impl Entry<'_> {
    /// The fields both headers share, from the version needed to the extra field's length.
    fn common(&self, out: &mut Vec<u8>) {
        put16(out, VERSION);
        put16(out, UTF8_NAMES);
        put16(out, DEFLATED);
        put16(out, DOS_TIME);
        put16(out, DOS_DATE);
        put32(out, self.crc);
        put32(out, self.packed);
        put32(out, self.size);
        put16(out, self.name.len() as u16);
        put16(out, 0); // no extra field
    }

    fn local_header(&self, out: &mut Vec<u8>) {
        put32(out, 0x0403_4b50);
        self.common(out);
        out.extend_from_slice(self.name);
    }

    fn directory_header(&self, out: &mut Vec<u8>) {
        put32(out, 0x0201_4b50);
        put16(out, MADE_BY_UNIX);
        self.common(out);
        put16(out, 0); // no comment
        put16(out, 0); // disk
        put16(out, 0); // internal attributes
        put32(out, FILE_MODE);
        put32(out, self.offset);
        out.extend_from_slice(self.name);
    }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_has_its_signatures_and_the_same_bytes_for_the_same_files() {
        let files = vec![
            ("config.json".to_string(), b"{\"hidden_size\": 32}".to_vec()),
            ("empty.txt".to_string(), Vec::new()),
        ];
        let archive = zip_folder("lesson-model", &files).unwrap();
        assert_eq!(&archive[..4], b"PK\x03\x04", "a local header first");
        let end = &archive[archive.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06", "the end record last");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2, "two entries");
        assert_eq!(archive, zip_folder("lesson-model", &files).unwrap());
    }
}
