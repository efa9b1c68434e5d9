//! The sweep file (`configs/sweeps/*.toml`) and its expansion into trials.
//!
//! ```toml
//! base = "../models/mlp2.toml"      # or an inline [base] table: the run config every trial edits
//! concurrency = 1                  # trials trained at once
//! select = "valid.macro_f1"        # how the best trial is chosen
//!
//! [datasets]                       # split mode → feature dataset under --features
//! grouped = "features/world"
//! random = "features/world-random"
//!
//! [[trial]]                        # one named trial: values set on the base config
//! name = "rule"
//! set = { model = { kind = "rule" } }
//!
//! [grid]                           # every combination is a trial
//! layers = [1, 2, 3]
//! "passes.count" = [1, 2]
//!
//! [random]                         # seeded random samples
//! samples = 4
//! seed = 1
//! "train.learning_rate" = { log_uniform = [1e-4, 1e-2] }
//! ```
//!
//! A key is a dotted path into the run config (`model.dropout`, `train.class_weights`), and a
//! value replaces what is there; `layers` and `width` are shorthands that rebuild
//! `model.hidden` as `layers` layers of `width` units. Every trial runs on every dataset.

use std::collections::BTreeMap;
use std::path::Path;

use pdnsrep_records::features::CLASSES;
use pdnsrep_train::RunConfig;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::{Table, Value};

use crate::error::{Error, Result};

/// The label of the only dataset when the sweep file names none.
pub const DEFAULT_LABEL: &str = "default";
/// The most trials a sweep file may expand to on one dataset.
pub const MAX_TRIALS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    base: Option<Value>,
    concurrency: Option<usize>,
    select: Option<String>,
    truth: Option<String>,
    #[serde(default)]
    datasets: BTreeMap<String, String>,
    #[serde(default)]
    trial: Vec<NamedTrial>,
    #[serde(default)]
    grid: Table,
    random: Option<RandomFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedTrial {
    name: String,
    #[serde(default)]
    set: Table,
}

#[derive(Debug, Deserialize)]
struct RandomFile {
    samples: usize,
    #[serde(default)]
    seed: u64,
    #[serde(flatten)]
    params: Table,
}

/// A parsed, expanded sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub name: String,
    pub concurrency: usize,
    pub select: Selector,
    /// Split mode label → feature dataset, in label order.
    pub datasets: BTreeMap<String, String>,
    /// Every trial on every dataset, deduplicated by id, in file order.
    pub trials: Vec<Trial>,
    /// What the expansion merged (trials with the same config), for the log.
    pub notes: Vec<String>,
    /// A synthetic world's ground truth (`truth/<world>`): unlisted records are also scored
    /// against it.
    #[serde(default)]
    pub truth: Option<String>,
}

/// One configuration on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// A content hash of the dataset and the config: the same trial in another sweep file
    /// has the same id.
    pub id: String,
    /// The trial's name without the dataset label: the row of the report's tables.
    pub name: String,
    /// The dataset's label (its split mode).
    pub label: String,
    pub dataset: String,
    /// The values this trial sets, as `key = value` text, in the order applied.
    pub settings: Vec<String>,
    pub config: RunConfig,
}

/// The metric that picks the best trial: `<split>.<metric>`, for example `valid.macro_f1`,
/// `test.accuracy` or `valid.malicious_f1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub split: String,
    pub metric: String,
}

impl Selector {
    pub fn parse(text: &str) -> std::result::Result<Selector, String> {
        let (split, metric) = text
            .split_once('.')
            .ok_or_else(|| format!("`select = \"{text}\"` must read `<split>.<metric>`"))?;
        if !["valid", "test"].contains(&split) {
            return Err(format!(
                "`select`: the split must be valid or test, not `{split}`"
            ));
        }
        let known = ["macro_f1", "accuracy"].contains(&metric)
            || CLASSES.iter().any(|c| metric == format!("{c}_f1"));
        if !known {
            let classes: Vec<String> = CLASSES.iter().map(|c| format!("{c}_f1")).collect();
            return Err(format!(
                "`select`: unknown metric `{metric}` (macro_f1, accuracy, {})",
                classes.join(", ")
            ));
        }
        Ok(Selector {
            split: split.into(),
            metric: metric.into(),
        })
    }

    /// The metric's value in an evaluation.
    pub fn value(&self, eval: &pdnsrep_eval::Evaluation) -> Option<f64> {
        match self.metric.as_str() {
            "macro_f1" => Some(eval.macro_f1),
            "accuracy" => Some(eval.accuracy),
            other => {
                let class = other.strip_suffix("_f1")?;
                eval.per_class
                    .iter()
                    .find(|m| m.class == class)
                    .map(|m| m.f1)
            }
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.split, self.metric)
    }
}

impl Sweep {
    /// Reads a sweep file; `base` paths are relative to the file. `dataset` stands in for a
    /// file without `[datasets]`.
    pub fn from_path(path: &Path, dataset: Option<&str>) -> Result<Sweep> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Spec {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let stem = path
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
        Self::from_toml(&text, dir, &stem, dataset).map_err(|reason| Error::Spec {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses and expands sweep text; the error is a reason without the file's name.
    pub fn from_toml(
        text: &str,
        dir: &Path,
        default_name: &str,
        dataset: Option<&str>,
    ) -> std::result::Result<Sweep, String> {
        let file: SweepFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let base = match file.base {
            None => return Err("`base` is missing: a run config file or a [base] table".into()),
            Some(Value::String(relative)) => {
                let path = dir.join(&relative);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("`base = \"{relative}\"` ({}): {e}", path.display()))?;
                text.parse::<Table>()
                    .map_err(|e| format!("`base` ({}): {e}", path.display()))?
            }
            Some(Value::Table(table)) => table,
            Some(other) => {
                return Err(format!(
                    "`base` must be a path or a table, not {}",
                    other.type_str()
                ));
            }
        };
        let name = file.name.unwrap_or_else(|| default_name.to_string());
        check_label(&name, "sweep name")?;
        let mut datasets = file.datasets;
        match (datasets.is_empty(), dataset) {
            (true, Some(dataset)) => {
                datasets.insert(DEFAULT_LABEL.into(), dataset.into());
            }
            (true, None) => {
                return Err("no `[datasets]` in the file and no `--dataset` given".into());
            }
            (false, Some(_)) => {
                return Err(
                    "`--dataset` and the file's `[datasets]` both name datasets; use one".into(),
                );
            }
            (false, None) => {}
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (label, dataset) in &datasets {
            check_label(label, "dataset label")?;
            pdnsrep_records::check_dataset_name(dataset)
                .map_err(|e| format!("`datasets.{label}`: {e}"))?;
            if let Some(other) = seen.insert(dataset.as_str(), label.as_str()) {
                return Err(format!(
                    "`datasets.{other}` and `datasets.{label}` name the same dataset"
                ));
            }
        }
        apply(&base, &[]).map_err(|e| format!("`base`: {e}"))?;
        if let Some(truth) = &file.truth {
            pdnsrep_records::check_dataset_name(truth).map_err(|e| format!("`truth`: {e}"))?;
        }
        let concurrency = file.concurrency.unwrap_or(1);
        if concurrency == 0 {
            return Err("`concurrency` must be at least 1".into());
        }
        let select = Selector::parse(file.select.as_deref().unwrap_or("valid.macro_f1"))?;

        let mut configs: Vec<(String, Vec<(String, Value)>)> = Vec::new();
        for named in file.trial {
            if named.name.trim().is_empty() || named.name.chars().any(char::is_control) {
                return Err(format!(
                    "trial name {:?} must be non-empty, without control characters",
                    named.name
                ));
            }
            if configs.iter().any(|(n, _)| *n == named.name) {
                return Err(format!("two trials are named `{}`", named.name));
            }
            configs.push((named.name, named.set.into_iter().collect()));
        }
        for assignment in grid(&file.grid)? {
            configs.push((name_of(&assignment), assignment));
        }
        if let Some(random) = file.random {
            for assignment in random_samples(&random)? {
                configs.push((name_of(&assignment), assignment));
            }
        }
        if configs.is_empty() {
            return Err("the sweep has no trials: add [[trial]], [grid] or [random]".into());
        }
        let mut trials: Vec<Trial> = Vec::new();
        let mut notes = Vec::new();
        for (label, dataset) in &datasets {
            for (name, assignment) in &configs {
                let config = apply(&base, assignment)
                    .map_err(|e| failing_key(&base, assignment, name, &e))?;
                let id = trial_id(dataset, &config);
                if let Some(same) = trials.iter().find(|t| t.id == id) {
                    notes.push(format!(
                        "trial `{name}` on `{label}` has the config of `{}`: trained once, \
                         reported as `{}`",
                        same.name, same.name
                    ));
                    continue;
                }
                trials.push(Trial {
                    id,
                    name: name.clone(),
                    label: label.clone(),
                    dataset: dataset.clone(),
                    settings: assignment
                        .iter()
                        .map(|(k, v)| format!("{k} = {}", show(v)))
                        .collect(),
                    config,
                });
            }
        }
        Ok(Sweep {
            name,
            concurrency,
            select,
            datasets,
            trials,
            notes,
            truth: file.truth,
        })
    }
}

/// Every combination of the grid's values, keys in sorted order.
fn grid(table: &Table) -> std::result::Result<Vec<Vec<(String, Value)>>, String> {
    let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    if table.is_empty() {
        return Ok(Vec::new());
    }
    let combinations = table
        .values()
        .map(|v| v.as_array().map_or(1, Vec::len).max(1))
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .unwrap_or(usize::MAX);
    if combinations > MAX_TRIALS {
        return Err(format!(
            "`[grid]` expands to {combinations} trials, more than the {MAX_TRIALS} a sweep takes"
        ));
    }
    for (key, values) in table {
        let values = match values {
            Value::Array(values) if !values.is_empty() => values,
            _ => {
                return Err(format!(
                    "`grid.\"{key}\"` must be a non-empty list of values"
                ));
            }
        };
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((key.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    Ok(out)
}

/// `samples` seeded draws of the random table's distributions.
fn random_samples(random: &RandomFile) -> std::result::Result<Vec<Vec<(String, Value)>>, String> {
    if random.samples == 0 || random.params.is_empty() {
        return Err("`[random]` needs `samples` ≥ 1 and at least one distribution".into());
    }
    if random.samples > MAX_TRIALS {
        return Err(format!(
            "`random.samples = {}` is more than the {MAX_TRIALS} trials a sweep takes",
            random.samples
        ));
    }
    let mut rng = Pcg64Mcg::seed_from_u64(random.seed);
    let mut out = Vec::with_capacity(random.samples);
    for _ in 0..random.samples {
        let mut assignment = Vec::new();
        for (key, spec) in &random.params {
            assignment.push((key.clone(), draw(key, spec, &mut rng)?));
        }
        out.push(assignment);
    }
    Ok(out)
}

fn draw(key: &str, spec: &Value, rng: &mut Pcg64Mcg) -> std::result::Result<Value, String> {
    let bad = || {
        format!(
            "`random.\"{key}\"` must be one of {{ uniform = [lo, hi] }}, {{ log_uniform = [lo, hi] }}, \
             {{ int_uniform = [lo, hi] }} or {{ choice = [values] }} (`samples` and `seed` are \
             the table's only other keys)"
        )
    };
    let table = spec.as_table().filter(|t| t.len() == 1).ok_or_else(bad)?;
    let (kind, args) = table.iter().next().ok_or_else(bad)?;
    let args = args.as_array().ok_or_else(bad)?;
    let bounds = || -> std::result::Result<(f64, f64), String> {
        let number = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        match args.as_slice() {
            [lo, hi] => match (number(lo), number(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
                _ => Err(format!(
                    "`random.\"{key}\"`: bounds must be numbers with lo ≤ hi"
                )),
            },
            _ => Err(bad()),
        }
    };
    match kind.as_str() {
        "uniform" => {
            let (lo, hi) = bounds()?;
            Ok(Value::Float(round(lo + (hi - lo) * rng.random::<f64>())))
        }
        "log_uniform" => {
            let (lo, hi) = bounds()?;
            if lo <= 0.0 {
                return Err(format!("`random.\"{key}\"`: log_uniform needs lo > 0"));
            }
            let x = (lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp();
            Ok(Value::Float(round(x)))
        }
        "int_uniform" => {
            let (lo, hi) = bounds()?;
            Ok(Value::Integer(rng.random_range(lo as i64..=hi as i64)))
        }
        "choice" if !args.is_empty() => Ok(args[rng.random_range(0..args.len())].clone()),
        _ => Err(bad()),
    }
}

/// Four significant digits: drawn values read well in names and survive a TOML round trip.
fn round(x: f64) -> f64 {
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// `layers=3 passes.count=2`.
fn name_of(assignment: &[(String, Value)]) -> String {
    assignment
        .iter()
        .map(|(k, v)| format!("{k}={}", show(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string().replace(", ", ","),
    }
}

/// Names the first key whose value makes the config invalid, when one alone does (type errors
/// from the parser do not say which key they are about).
fn failing_key(base: &Table, assignment: &[(String, Value)], name: &str, error: &str) -> String {
    let culprit = (0..assignment.len()).find(|&i| apply(base, &assignment[..=i]).is_err());
    match culprit {
        Some(i) => format!(
            "trial `{name}`: `{} = {}`: {error}",
            assignment[i].0,
            show(&assignment[i].1)
        ),
        None => format!("trial `{name}`: {error}"),
    }
}

/// The base config with the assignment applied, parsed and checked.
fn apply(base: &Table, assignment: &[(String, Value)]) -> std::result::Result<RunConfig, String> {
    let mut table = base.clone();
    let mut layers = None;
    let mut width = None;
    for (key, value) in assignment {
        let as_count = || {
            value
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("`{key}` must be a non-negative integer"))
        };
        match key.as_str() {
            "layers" => layers = Some(as_count()?),
            "width" => width = Some(as_count()?),
            _ => set(&mut table, key, value.clone())?,
        }
    }
    if layers.is_some() || width.is_some() {
        let current: Vec<i64> = table
            .get("model")
            .and_then(|m| m.get("hidden"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_integer).collect())
            .unwrap_or_default();
        let width = width.map_or_else(|| current.first().copied().unwrap_or(256), |w| w as i64);
        let layers = layers.unwrap_or(current.len());
        let hidden = vec![Value::Integer(width); layers];
        set(&mut table, "model.hidden", Value::Array(hidden))?;
    }
    let config: RunConfig = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Sweep names and dataset labels become folder names and report headings.
fn check_label(text: &str, what: &str) -> std::result::Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 100
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {text:?} must be letters, digits, `-`, `_` or `.`, not starting with `.`"
        ))
    }
}

/// Sets a dotted path, creating tables on the way.
fn set(table: &mut Table, key: &str, value: Value) -> std::result::Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("bad key `{key}`"))?;
    let mut here = table;
    for part in parts {
        let entry = here
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        here = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}`: `{part}` is not a table"))?;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

/// A short content hash of what decides a trial's result.
pub(crate) fn trial_id(dataset: &str, config: &RunConfig) -> String {
    hash_json(&serde_json::json!({ "dataset": dataset, "config": config }))
}

pub(crate) fn hash_json(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&digest[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "[base.model]\nkind = \"network\"\nhidden = [64]\n[base.train]\nepochs = 2\n";

    fn parse(text: &str) -> std::result::Result<Sweep, String> {
        let dataset = (!text.contains("[datasets]")).then_some("features/x");
        Sweep::from_toml(&format!("{BASE}{text}"), Path::new("."), "t", dataset)
    }

    #[test]
    fn grid_trials_and_datasets_multiply_and_shorthands_build_hidden() {
        let sweep = parse(
            "[datasets]\nrandom = \"f/r\"\ngrouped = \"f/g\"\n\
             [grid]\nlayers = [0, 3]\nwidth = [32]\n\"passes.count\" = [1, 2]\n",
        )
        .unwrap();
        assert_eq!(sweep.trials.len(), 8);
        let t = &sweep.trials[0];
        assert_eq!(t.label, "grouped");
        assert_eq!(t.name, "layers=0 passes.count=1 width=32");
        let pdnsrep_model::ModelConfig::Network(net) = &sweep.trials[3].config.model else {
            panic!("not a network");
        };
        assert_eq!(net.hidden, vec![32, 32, 32]);
        assert_eq!(sweep.trials[3].config.passes.count, 2);
        assert_eq!(sweep.select.to_string(), "valid.macro_f1");
    }

    #[test]
    fn named_trials_replace_tables_and_duplicates_collapse() {
        let sweep = parse(
            "[[trial]]\nname = \"rule\"\nset = { model = { kind = \"rule\" } }\n\
             [[trial]]\nname = \"one\"\nset = { layers = 1 }\n\
             [grid]\n\"model.hidden\" = [[64], [64, 64]]\n",
        )
        .unwrap();
        let names: Vec<&str> = sweep.trials.iter().map(|t| t.name.as_str()).collect();
        // `model.hidden=[64]` is the same config as `one`, so it is not trained twice.
        assert_eq!(names, ["rule", "one", "model.hidden=[64,64]"]);
        assert!(matches!(
            sweep.trials[0].config.model,
            pdnsrep_model::ModelConfig::Rule(_)
        ));
    }

    #[test]
    fn random_samples_are_seeded_and_bounded() {
        let text = "[random]\nsamples = 5\nseed = 9\n\
                    \"train.learning_rate\" = { log_uniform = [1e-4, 1e-2] }\n\
                    layers = { int_uniform = [1, 3] }\n";
        let a = parse(text).unwrap();
        let b = parse(text).unwrap();
        assert_eq!(a, b);
        let other = parse(&text.replace("seed = 9", "seed = 10")).unwrap();
        assert_ne!(a.trials, other.trials);
        for t in &a.trials {
            let lr = t.config.train.learning_rate;
            assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        }
    }

    #[test]
    fn mistakes_name_the_trial_and_the_key() {
        let err = parse("[grid]\n\"model.dropuot\" = [0.1]\n").unwrap_err();
        assert!(
            err.contains("trial `model.dropuot=0.1`") && err.contains("dropuot"),
            "{err}"
        );
        let err = parse("[grid]\n\"train.learning_rate\" = [-1.0]\n").unwrap_err();
        assert!(err.contains("learning_rate"), "{err}");
        let text = format!("select = \"valid.f2\"\n{BASE}[grid]\nlayers = [1]\n");
        let err = Sweep::from_toml(&text, Path::new("."), "t", Some("f")).unwrap_err();
        assert!(err.contains("unknown metric `f2`"), "{err}");
        let err = parse("").unwrap_err();
        assert!(err.contains("no trials"), "{err}");
        let err = parse("[random]\nsamples = 2\nlayers = { normal = [1, 2] }\n").unwrap_err();
        assert!(err.contains("random.\"layers\""), "{err}");
        let err = parse("[[trial]]\nname = \"a\"\n[[trial]]\nname = \"a\"\nset = { layers = 2 }\n")
            .unwrap_err();
        assert!(err.contains("two trials are named `a`"), "{err}");
        let seeds: Vec<String> = (0..10_001).map(|i| i.to_string()).collect();
        let err = parse(&format!(
            "[grid]\n\"train.seed\" = [{}]\n",
            seeds.join(", ")
        ))
        .unwrap_err();
        assert!(err.contains("expands to 10001 trials"), "{err}");
        let err = parse("[grid]\nwidth = [100000000]\n").unwrap_err();
        assert!(err.contains("at most 16384 units"), "{err}");
        let err =
            parse("[datasets]\na = \"f/x\"\nb = \"f/x\"\n[grid]\nlayers = [1]\n").unwrap_err();
        assert!(err.contains("name the same dataset"), "{err}");
        let err = parse("[datasets]\na = \"/abs\"\n[grid]\nlayers = [1]\n").unwrap_err();
        assert!(err.contains("`datasets.a`"), "{err}");
        let text = format!("name = \"../out\"\n{BASE}[grid]\nlayers = [1]\n");
        let err = Sweep::from_toml(&text, Path::new("."), "t", Some("f")).unwrap_err();
        assert!(err.contains("sweep name"), "{err}");
        let sweep = parse("[[trial]]\nname = \"a\"\n[[trial]]\nname = \"b\"\n").unwrap();
        assert_eq!(sweep.trials.len(), 1);
        assert!(
            sweep.notes[0].contains("`b`") && sweep.notes[0].contains("`a`"),
            "{:?}",
            sweep.notes
        );
    }

    #[test]
    fn shipped_sweeps_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sweeps");
        let paper = Sweep::from_path(&dir.join("paper.toml"), None).unwrap();
        assert_eq!(paper.datasets.len(), 2);
        // Six rows of the paper's table on each of the two split modes.
        assert_eq!(paper.trials.len(), 12);
        let search = Sweep::from_path(&dir.join("search.toml"), Some("features/x")).unwrap();
        assert_eq!(search.trials.len(), 3 * 2 * 2 * 2 + 6);
    }
}
