//! Shared fixtures: synthetic feature datasets in temporary folders.

use pdnsrep_records::Root;
use pdnsrep_train::synthetic::Synthetic;
use pdnsrep_train::{Backend, FeatureSource, Quiet, RunConfig, RunDir, TrainRequest, train};

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
    /// A request to train run `name` on the fixture's dataset on flex, to the end.
    pub(crate) fn request(&self, name: &str, toml: Option<&str>, resume: bool) -> TrainRequest {
        TrainRequest {
            features: self.root.clone(),
            dataset: DATASET.into(),
            run: RunDir::open(&self.run_url(name)).unwrap(),
            config: toml.map(config),
            resume,
            backend: Backend::Flex,
            stop_after_steps: None,
            warm_start: None,
        }
    }

    /// Trains a new run `name` with the config `toml` to the end; returns its folder.
    pub(crate) async fn train_new(&self, name: &str, toml: &str) -> RunDir {
        let request = self.request(name, Some(toml), false);
        let run = request.run.clone();
        train(request, &mut Quiet).await.unwrap();
        run
    }

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
