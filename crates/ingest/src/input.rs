//! Opening inputs: files, folders (walked in sorted order), and stdin, each transparently
//! decompressed when it starts with a gzip or zstd frame.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// The name used in messages and manifests.
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }

    pub fn size(&self) -> u64 {
        match self {
            Source::Stdin => 0,
            Source::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// Expands the command-line inputs: `-` is stdin, folders are walked recursively and sorted so
/// that runs are reproducible. Inside folders, hidden entries (names starting with `.`) and
/// symbolic links to folders are skipped; the latter could loop or reach a file twice. An input
/// reached twice is refused, since it would double every count.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            if out.contains(&Source::Stdin) {
                return Err(Error::Duplicate("-".into()));
            }
            out.push(Source::Stdin);
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| Error::Read {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files)?;
            files.sort();
            out.extend(files.into_iter().map(Source::File));
        } else {
            out.push(Source::File(input.clone()));
        }
    }
    if out.is_empty() {
        return Err(Error::NoInput);
    }
    let mut seen = std::collections::HashSet::new();
    for source in &out {
        if let Source::File(path) = source {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !seen.insert(canonical) {
                return Err(Error::Duplicate(path.display().to_string()));
            }
        }
    }
    Ok(out)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            tracing::debug!(path = %path.display(), "skipping hidden entry");
            continue;
        }
        let file_type = entry.file_type().map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        if file_type.is_symlink() && path.is_dir() {
            tracing::warn!(path = %path.display(), "not following a symbolic link to a folder");
            continue;
        }
        if file_type.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Counts the compressed bytes pulled from the underlying file, for progress reports.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a source for line reading, decompressing gzip (including concatenated members) and
/// zstd by their magic bytes rather than by file name, since piped data has no name.
pub fn open(source: &Source, bytes_read: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>> {
    let path = PathBuf::from(source.display());
    let io_err = |source| Error::Read {
        path: path.clone(),
        source,
    };
    let raw: Box<dyn Read + Send> = match source {
        Source::Stdin => Box::new(io::stdin()),
        Source::File(p) => Box::new(File::open(p).map_err(io_err)?),
    };
    let mut buffered = BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: raw,
            counter: bytes_read,
        },
    );
    let magic = buffered.fill_buf().map_err(io_err)?;
    let reader: Box<dyn BufRead + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        ))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(io_err)?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else {
        Box::new(buffered)
    };
    skip_bom(reader).map_err(io_err)
}

/// Drops a UTF-8 byte order mark, which some Windows tools put before the first line.
fn skip_bom(mut reader: Box<dyn BufRead + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    if reader.fill_buf()?.starts_with(&[0xef, 0xbb, 0xbf]) {
        reader.consume(3);
    }
    Ok(reader)
}
