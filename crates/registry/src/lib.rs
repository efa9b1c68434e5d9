//! The model registry: trained runs published as immutable, self-describing, verifiable
//! versions on any object store.
//!
//! ```text
//! <registry>/<model>/v<N>/_claim.json      written first, create-only: whoever writes it owns N
//! <registry>/<model>/v<N>/config.toml      the run config (model, training, passes)
//! <registry>/<model>/v<N>/run.json         input shape, classes, class weights, training rows
//! <registry>/<model>/v<N>/model/…          the weights (Burn's burnpack) or the rule
//! <registry>/<model>/v<N>/featurizer.json  the featurizer spec scoring recomputes features with
//! <registry>/<model>/v<N>/eval.json        validation and test evaluations
//! <registry>/<model>/v<N>/lineage.json     the data it was trained on and the passes behind it
//! <registry>/<model>/v<N>/golden.json      a few input rows and the probabilities they gave
//! <registry>/<model>/v<N>/artifact.json    written last, create-only: every file's SHA-256
//! <registry>/<model>/aliases/<alias>.json  which version an alias points at
//! ```
//!
//! A version exists once its `artifact.json` does. Two publishers racing for the same number
//! both try to create `_claim.json`; the store lets one succeed and the other moves on to the
//! next number, so neither is lost and no version is ever overwritten. Loading a version
//! checks every file against `artifact.json` and replays the golden batch.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
mod lineage;
mod registry;

pub use error::{Error, Result};
pub use lineage::{Lineage, PassLink};
pub use registry::{
    Alias, Artifact, At, Evaluations, FileEntry, GOLDEN_TOLERANCE, Golden, Loaded, Published,
    Reference, Registry, Verified, VersionRow, check_name,
};
