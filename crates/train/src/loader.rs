//! Streaming batches in an order that depends only on (units, seed, epoch).
//!
//! Row groups are shuffled, then decoded ahead by worker threads: unit `i` goes to worker
//! `i mod W`, and the consumer takes units back strictly in shuffled order, so thread timing
//! never changes the order. Rows pass through a shuffle buffer of a few row groups' worth; a
//! seeded generator picks which buffered row comes out next. Resuming replays the same stream
//! and drops the rows already consumed, so a checkpoint needs only a row count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use object_store::ObjectStore;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::data::{Batch, Block, Unit, Widths, read_unit};
use crate::error::{Error, Result};

/// How one pass over a split is streamed.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub batch_size: usize,
    /// Rows held for shuffling; 0 keeps the stored order (evaluation).
    pub shuffle_buffer: usize,
    pub seed: u64,
    pub epoch: u64,
    /// Rows of this pass already consumed before a restart.
    pub skip_rows: u64,
    /// Decoder threads.
    pub workers: usize,
    /// Row groups decoded ahead per worker.
    pub prefetch: usize,
    pub labelled_only: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            batch_size: 512,
            shuffle_buffer: 0,
            seed: 0,
            epoch: 0,
            skip_rows: 0,
            workers: 2,
            prefetch: 2,
            labelled_only: true,
        }
    }
}

/// A seed derived from the run seed, the epoch and a purpose tag (SplitMix64 finalizer).
pub fn derive_seed(seed: u64, epoch: u64, tag: u64) -> u64 {
    let mut z = seed
        .wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(tag.wrapping_mul(0xD1B5_4A32_D192_ED69));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const TAG_UNITS: u64 = 1;
const TAG_BUFFER: u64 = 2;

/// An iterator over the batches of one pass.
#[derive(Debug)]
pub struct BatchStream {
    receivers: Vec<Receiver<Result<Block>>>,
    workers: Vec<JoinHandle<()>>,
    units: usize,
    next_unit: usize,
    buffer: VecDeque<(Arc<Block>, u32)>,
    rng: Pcg64Mcg,
    options: StreamOptions,
    widths: Widths,
    to_skip: u64,
    failed: bool,
}

impl BatchStream {
    /// Starts the workers. `units` are in manifest order; they are shuffled here unless the
    /// pass keeps the stored order.
    pub fn start(
        store: Arc<dyn ObjectStore>,
        mut units: Vec<Unit>,
        widths: Widths,
        options: StreamOptions,
    ) -> BatchStream {
        if options.shuffle_buffer > 0 {
            let mut rng =
                Pcg64Mcg::seed_from_u64(derive_seed(options.seed, options.epoch, TAG_UNITS));
            units.shuffle(&mut rng);
        }
        let n_workers = options.workers.clamp(1, units.len().max(1));
        let mut receivers = Vec::new();
        let mut workers = Vec::new();
        let units = Arc::new(units);
        for w in 0..n_workers {
            let (tx, rx) = sync_channel(options.prefetch.max(1));
            receivers.push(rx);
            let (store, units) = (store.clone(), units.clone());
            let labelled_only = options.labelled_only;
            workers.push(std::thread::spawn(move || {
                decode_loop(&store, &units, w, n_workers, widths, labelled_only, &tx);
            }));
        }
        BatchStream {
            receivers,
            workers,
            units: units.len(),
            next_unit: 0,
            buffer: VecDeque::new(),
            rng: Pcg64Mcg::seed_from_u64(derive_seed(options.seed, options.epoch, TAG_BUFFER)),
            to_skip: options.skip_rows,
            options,
            widths,
            failed: false,
        }
    }

    /// Takes the next decoded unit into the buffer; false when all units are in.
    fn refill(&mut self) -> Result<bool> {
        if self.next_unit >= self.units {
            return Ok(false);
        }
        let worker = self.next_unit % self.receivers.len();
        let block = self.receivers[worker]
            .recv()
            .map_err(|_| Error::Loader("a decoder thread stopped".into()))??;
        self.next_unit += 1;
        let block = Arc::new(block);
        self.buffer
            .extend((0..block.rows as u32).map(|r| (block.clone(), r)));
        Ok(true)
    }

    /// The next row in stream order.
    fn next_row(&mut self) -> Result<Option<(Arc<Block>, u32)>> {
        let capacity = self.options.shuffle_buffer.max(1);
        while self.buffer.len() < capacity && self.refill()? {}
        if self.buffer.is_empty() {
            return Ok(None);
        }
        if self.options.shuffle_buffer == 0 {
            // Stored order: the buffer holds one unit's rows, front first.
            return Ok(self.buffer.pop_front());
        }
        let i = self.rng.random_range(0..self.buffer.len());
        Ok(self.buffer.swap_remove_back(i))
    }

    fn next_batch(&mut self) -> Result<Option<Batch>> {
        while self.to_skip > 0 {
            if self.next_row()?.is_none() {
                return Ok(None);
            }
            self.to_skip -= 1;
        }
        let mut batch = Batch::with_capacity(self.options.batch_size, self.widths);
        while batch.rows() < self.options.batch_size {
            match self.next_row()? {
                Some((block, row)) => batch.push(&block, row as usize),
                None => break,
            }
        }
        Ok((batch.rows() > 0).then_some(batch))
    }
}

impl Iterator for BatchStream {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.failed {
            return None;
        }
        let next = self.next_batch().transpose();
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        // Dropping the receivers makes blocked senders fail, so every worker ends.
        self.receivers.clear();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn decode_loop(
    store: &Arc<dyn ObjectStore>,
    units: &[Unit],
    worker: usize,
    workers: usize,
    widths: Widths,
    labelled_only: bool,
    tx: &SyncSender<Result<Block>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(Error::Loader(format!("cannot start a runtime: {e}"))));
            return;
        }
    };
    for unit in units.iter().skip(worker).step_by(workers) {
        let block = runtime.block_on(read_unit(store, unit, widths, labelled_only));
        let failed = block.is_err();
        if tx.send(block).is_err() || failed {
            return;
        }
    }
}
