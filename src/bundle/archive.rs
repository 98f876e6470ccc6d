//! The archive's format: `.tar.gz` or `.tar.zst`, written through one [`Encoder`] finished
//! explicitly, read back by [`open_archive`] whichever compression it has, and the tar header
//! every entry gets (mode 0600, the run's time).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::write::GzEncoder;

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.tar.gz`
    Gzip,
    /// `.tar.zst`
    Zstd,
}

/// The compressing writer, finished explicitly so errors are not lost in a drop.
pub(super) enum Encoder {
    Gzip(GzEncoder<std::fs::File>),
    Zstd(zstd::stream::write::Encoder<'static, std::fs::File>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl Encoder {
    /// Starts compressing into `file` (gzip level 6, zstd level 3).
    pub(super) fn new(file: std::fs::File, c: Compression) -> std::io::Result<Encoder> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(GzEncoder::new(file, flate2::Compression::new(6))),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(file, 3)?),
        })
    }
    /// Writes the compression's trailer and gives the file back.
    pub(super) fn finish(self) -> std::io::Result<std::fs::File> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// Opens a bundle for reading, whichever compression it has (by its magic bytes: `1f 8b` for
/// gzip, `28 b5 2f fd` for zstd).
///
/// # Errors
///
/// The file cannot be opened or read, or it is neither gzip nor zstd
/// ([`InvalidData`](std::io::ErrorKind::InvalidData)).
pub fn open_archive(path: &Path) -> std::io::Result<tar::Archive<Box<dyn Read>>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    let reader: Box<dyn Read> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(f)?)
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a .tar.gz or .tar.zst bundle",
        ));
    };
    Ok(tar::Archive::new(reader))
}

/// The header of one entry: `size` bytes, mode 0600, modified at `mtime` (Unix seconds).
pub(super) fn tar_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_cksum();
    header
}
