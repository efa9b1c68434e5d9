//! Shared fixtures: synthetic feature datasets in temporary folders.

use pdnsrep_records::Root;
use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{FeatureSource, RunConfig};

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: Root,
    pub source: FeatureSource,
}

pub(crate) const DATASET: &str = "features/synthetic";

pub(crate) async fn fixture(synthetic: Synthetic) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::parse(dir.path().join("data").to_str().unwrap()).unwrap();
    synthetic.write(&root, DATASET).await.unwrap();
    let source = FeatureSource::open(&root, DATASET).await.unwrap();
    Fixture { dir, root, source }
}

impl Fixture {
    pub(crate) fn run_url(&self, name: &str) -> String {
        self.dir
            .path()
            .join("runs")
            .join(name)
            .display()
            .to_string()
    }
}

pub(crate) fn config(text: &str) -> RunConfig {
    RunConfig::from_toml(text).unwrap()
}
