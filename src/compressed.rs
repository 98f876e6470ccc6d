//! Compressed input, recognised by its magic bytes and decompressed under a cap on what it may
//! grow to: support bundles read back for their facts, rotated Docker logs, and files given to
//! the bundle and `preflight redact`. Redaction reads text: a gzip or zstd file would pass
//! through it unread (and unseen by the leak scan), so it is decompressed first; a file
//! compressed some other way is refused, never copied as it is. A leaf.

use std::io::{self, Read, Write};

/// How a file is compressed, by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip (`1f 8b`), also several members in a row.
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// A format the bundle cannot decompress (named for the message).
    Other(&'static str),
}

/// The compression of a file starting with `head`, if any.
pub fn sniff(head: &[u8]) -> Option<Format> {
    const MAGIC: &[(&[u8], Format)] = &[
        (&[0x1f, 0x8b], Format::Gzip),
        (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Format::Other("xz")),
        (b"BZh", Format::Other("bzip2")),
        (&[b'P', b'K', 0x03, 0x04], Format::Other("zip")),
        (&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c], Format::Other("7z")),
        (&[0x04, 0x22, 0x4d, 0x18], Format::Other("lz4")),
    ];
    MAGIC
        .iter()
        .find(|(m, _)| head.starts_with(m))
        .map(|(_, f)| *f)
}

/// The file name without its compression suffix (`app.log.gz` → `app.log`).
pub fn strip_suffix(name: &str) -> &str {
    [".gz", ".zst", ".zstd"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|n| !n.is_empty())
        .unwrap_or(name)
}

/// A reader of the decompressed content of `r`.
///
/// # Errors
///
/// `InvalidData` for [`Format::Other`]; the zstd decoder's error when its context cannot be made.
pub fn decoder<'a>(format: Format, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    match format {
        Format::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(r))),
        Format::Zstd => Ok(Box::new(zstd::stream::read::Decoder::new(r)?)),
        Format::Other(name) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("compressed as {name}, which the redactor cannot read"),
        )),
    }
}

/// Copies `r` into `w`, failing once more than `cap` bytes came out (a decompression bomb, or
/// just more than a bundle may hold). Returns the bytes copied.
///
/// # Errors
///
/// Reading `r` or writing `w` failed (a decoder reports corrupt data so), or `InvalidData` once
/// more than `cap` bytes came out; what was written stays written.
pub fn copy_capped(r: &mut dyn Read, w: &mut dyn Write, cap: u64) -> io::Result<u64> {
    let n = io::copy(&mut r.take(cap.saturating_add(1)), w)?;
    if n > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("decompresses to more than {cap} bytes"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_names_and_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'a'; 10_000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(sniff(&gz), Some(Format::Gzip));
        assert_eq!(sniff(b"BZh91AY"), Some(Format::Other("bzip2")));
        assert_eq!(sniff(b"plain text"), None);
        assert_eq!(
            strip_suffix("include/var_log_app.log.gz"),
            "include/var_log_app.log"
        );
        assert_eq!(strip_suffix(".gz"), ".gz");
        let mut out = Vec::new();
        let mut d = decoder(Format::Gzip, gz.as_slice()).unwrap();
        assert_eq!(copy_capped(&mut d, &mut out, 10_000).unwrap(), 10_000);
        let mut d = decoder(Format::Gzip, gz.as_slice()).unwrap();
        let err = copy_capped(&mut d, &mut Vec::new(), 9_999).unwrap_err();
        assert!(err.to_string().contains("more than 9999 bytes"), "{err}");
        assert!(decoder(Format::Other("xz"), &b""[..]).is_err());
    }
}
