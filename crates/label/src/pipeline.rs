//! Reading a raw record dataset, labelling and enriching each batch, and writing the labelled
//! dataset split by split.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, RecordBatch, StringArray,
    StringBuilder, UInt32Builder,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{TimestampMillisecondType, UInt16Type};
use bytes::Bytes;
use pdnsrep_records::schema::{describe, record_schema};
use pdnsrep_records::{DatasetWriter, InputEntry, Manifest, Root, read_manifest, read_part};

use crate::config::{Label, ListsConfig};
use crate::enrich::{EnrichConfig, Enricher};
use crate::error::{Error, Result};
use crate::index::{Decision, Hit, LabelIndex, RecordView};
use crate::psl::tld;
use crate::schema::labelled_schema;
use crate::split::{
    Split, SplitAssigner, SplitConfig, SplitPlanner, domain_key, network_key, record_hash,
    split_warnings,
};
use crate::summary::{
    CONFLICT_EXAMPLES, ConflictExample, EnrichmentSummary, LabelSummary, SourceSummary,
};

/// Rows gathered per split before a Parquet part is written.
const PART_ROWS: usize = 512 * 1024;

/// Label sources and enrichment data, loaded once and shared by every batch.
#[derive(Debug)]
pub struct Labeller {
    pub config: ListsConfig,
    pub index: LabelIndex,
    pub enricher: Enricher,
}

impl Labeller {
    /// Loads enrichment data, then every list. Fails on the first list that cannot be used.
    pub fn load(config: &ListsConfig, enrich: &EnrichConfig) -> Result<Labeller> {
        let enricher = Enricher::load(enrich)?;
        let index = LabelIndex::load(config, &enricher.psl)?;
        Ok(Labeller {
            config: config.clone(),
            index,
            enricher,
        })
    }
}

/// Labels, enriches and splits the raw records of `input` under `root_in` into the labelled
/// dataset `output` under `root_out` (`split=<name>/part-*.parquet` plus a manifest whose
/// stats hold the returned summary).
pub async fn label_dataset(
    root_in: &Root,
    input: &str,
    root_out: &Root,
    output: &str,
    config: &ListsConfig,
    enrich: &EnrichConfig,
    split: &SplitConfig,
) -> Result<LabelSummary> {
    split.validate()?;
    let (config, enrich) = (config.clone(), enrich.clone());
    let loading = Instant::now();
    let labeller = blocking(move || Labeller::load(&config, &enrich)).await?;
    let load_s = loading.elapsed().as_secs_f64();
    let mut summary =
        label_with(Arc::new(labeller), root_in, input, root_out, output, split).await?;
    summary.load_s = load_s;
    Ok(summary)
}

/// [`label_dataset`] with lists and enrichment data already loaded, for callers that label
/// several datasets or time labelling apart from loading.
pub async fn label_with(
    labeller: Arc<Labeller>,
    root_in: &Root,
    input: &str,
    root_out: &Root,
    output: &str,
    split: &SplitConfig,
) -> Result<LabelSummary> {
    split.validate()?;
    let started = Instant::now();
    let manifest = read_manifest(root_in, input).await?;
    let expected = describe(&record_schema());
    if manifest.schema != expected {
        return Err(Error::InputSchema {
            dataset: root_in.display(input),
            reason: format!("columns [{}]", manifest.schema.join(", ")),
        });
    }
    let assigner = Arc::new(plan_splits(&labeller, root_in, &manifest, split).await?);
    let mut writer = DatasetWriter::new(root_out, output, "labelled-records");
    let mut tally = Tally::new(labeller.index.sources().len());
    let mut pending = Pending::default();
    for part in &manifest.parts {
        let batches = read_part(root_in, &manifest, part).await?;
        let (l, a, seed) = (labeller.clone(), assigner.clone(), split.seed);
        let (t, outputs) = blocking(move || {
            let mut outputs = Vec::new();
            for batch in &batches {
                outputs.extend(label_batch(&l, &a, seed, batch, &mut tally)?);
            }
            Ok((tally, outputs))
        })
        .await?;
        tally = t;
        for (split, batch) in outputs {
            pending.push(split, batch);
            if pending.rows[split as usize] >= PART_ROWS {
                pending.flush(split, &mut writer).await?;
            }
        }
    }
    for split in Split::ALL {
        pending.flush(split, &mut writer).await?;
    }
    let tally_splits = [Split::Train, Split::Valid, Split::Test].map(|s| tally.splits[s as usize]);
    let mut summary = tally.into_summary(&labeller.index);
    summary.input = root_in.display(input);
    summary.output = root_out.display(output);
    summary.split = Some(split.clone());
    summary.split_groups = assigner.groups().cloned();
    summary.split_warnings = split_warnings(split, tally_splits, assigner.groups());
    for w in &summary.split_warnings {
        tracing::warn!("{w}");
    }
    summary.parts_written = pending.parts;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    commit(writer, &labeller, root_in, input, &manifest, &summary).await?;
    Ok(summary)
}

async fn plan_splits(
    labeller: &Arc<Labeller>,
    root: &Root,
    manifest: &Manifest,
    split: &SplitConfig,
) -> Result<SplitAssigner> {
    let mut planner = SplitPlanner::new(split);
    if planner.needs_pass() {
        for part in &manifest.parts {
            let batches = read_part(root, manifest, part).await?;
            let l = labeller.clone();
            planner = blocking(move || {
                for batch in &batches {
                    observe_batch(&l, batch, &mut planner)?;
                }
                Ok(planner)
            })
            .await?;
        }
    }
    Ok(planner.finish())
}

async fn commit(
    mut writer: DatasetWriter,
    labeller: &Labeller,
    root_in: &Root,
    input: &str,
    manifest: &Manifest,
    summary: &LabelSummary,
) -> Result<()> {
    // The lists config travels with the data it produced.
    let lists = toml::to_string(&labeller.config).unwrap_or_default();
    writer
        .write_sidecar("lists.toml", Bytes::from(lists), 0)
        .await?;
    let mut inputs = vec![InputEntry {
        path: root_in.display(input),
        bytes: manifest.bytes,
        format: manifest.kind.clone(),
    }];
    for (source, report) in labeller.config.sources.iter().zip(labeller.index.reports()) {
        inputs.push(InputEntry {
            path: source.path.display().to_string(),
            bytes: report.bytes,
            format: format!("{:?}", source.format).to_lowercase(),
        });
    }
    for db in &labeller.enricher.mmdb {
        let bytes = std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
        inputs.push(InputEntry {
            path: db.path.display().to_string(),
            bytes,
            format: db.database_type.clone(),
        });
    }
    let stats = serde_json::to_value(summary).unwrap_or_default();
    writer.commit(&labelled_schema(), inputs, stats).await?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Worker {
            reason: e.to_string(),
        })?
}

/// Output batches waiting to fill a part, per split.
#[derive(Default)]
struct Pending {
    batches: [Vec<RecordBatch>; 4],
    rows: [usize; 4],
    parts: u64,
}

impl Pending {
    fn push(&mut self, split: Split, batch: RecordBatch) {
        self.rows[split as usize] += batch.num_rows();
        self.batches[split as usize].push(batch);
    }

    async fn flush(&mut self, split: Split, writer: &mut DatasetWriter) -> Result<()> {
        let batches = std::mem::take(&mut self.batches[split as usize]);
        self.rows[split as usize] = 0;
        if !batches.is_empty() {
            writer.write_part(&split.partition(), &batches).await?;
            self.parts += 1;
        }
        Ok(())
    }
}

/// The raw record columns that labelling reads.
struct Columns<'b> {
    name: &'b StringArray,
    rrtype: &'b arrow::array::PrimitiveArray<UInt16Type>,
    rdata: &'b StringArray,
    ip: &'b FixedSizeBinaryArray,
    first: &'b arrow::array::PrimitiveArray<TimestampMillisecondType>,
    last: &'b arrow::array::PrimitiveArray<TimestampMillisecondType>,
}

impl<'b> Columns<'b> {
    fn of(batch: &'b RecordBatch) -> Result<Columns<'b>> {
        if describe(batch.schema().as_ref()) != describe(&record_schema()) {
            return Err(Error::InputSchema {
                dataset: "batch".into(),
                reason: describe(batch.schema().as_ref()).join(", "),
            });
        }
        let col = |i: usize| batch.column(i);
        Ok(Columns {
            name: col(0).as_string::<i32>(),
            rrtype: col(1).as_primitive(),
            rdata: col(2).as_string::<i32>(),
            ip: col(3).as_fixed_size_binary(),
            first: col(4).as_primitive(),
            last: col(5).as_primitive(),
        })
    }

    fn view(&self, i: usize, labeller: &Labeller) -> RecordView<'b> {
        let name = self.name.value(i);
        let rrtype = self.rrtype.value(i);
        RecordView {
            name,
            registered_domain: labeller.enricher.psl.registered_domain(name),
            rrtype,
            rdata: self.rdata.value(i),
            ip: (!self.ip.is_null(i))
                .then(|| decode_ip(self.ip.value(i), rrtype))
                .flatten(),
            first_seen: self.first.value(i),
            last_seen: self.last.value(i),
        }
    }
}

/// The `ip` column maps IPv4 into IPv6; the rrtype says which family the answer was.
fn decode_ip(bytes: &[u8], rrtype: u16) -> Option<IpAddr> {
    let octets: [u8; 16] = bytes.try_into().ok()?;
    let v6 = Ipv6Addr::from(octets);
    Some(match (rrtype, v6.to_ipv4_mapped()) {
        (1, Some(v4)) => IpAddr::V4(v4),
        (1, None) => return None,
        _ => IpAddr::V6(v6),
    })
}

fn observe_batch(
    labeller: &Labeller,
    batch: &RecordBatch,
    planner: &mut SplitPlanner,
) -> Result<()> {
    let cols = Columns::of(batch)?;
    let mut hits = Vec::new();
    for i in 0..batch.num_rows() {
        let view = cols.view(i, labeller);
        hits.clear();
        labeller
            .index
            .matches(&view, &labeller.enricher.psl, &mut hits);
        if !hits.is_empty() {
            let domain = domain_key(view.registered_domain, view.name);
            planner.observe(view.first_seen, domain, view.ip.map(network_key));
        }
    }
    Ok(())
}

/// Running counts over all batches.
struct Tally {
    records: u64,
    labels: [u64; 3],
    unlabelled: u64,
    matched: Vec<u64>,
    decided: Vec<u64>,
    conflicts: crate::summary::ConflictSummary,
    enrichment: EnrichmentSummary,
    splits: [u64; 4],
}

impl Tally {
    fn new(sources: usize) -> Tally {
        Tally {
            records: 0,
            labels: [0; 3],
            unlabelled: 0,
            matched: vec![0; sources],
            decided: vec![0; sources],
            conflicts: Default::default(),
            enrichment: Default::default(),
            splits: [0; 4],
        }
    }

    fn hits<'a>(
        &mut self,
        index: &LabelIndex,
        view: &RecordView<'_>,
        hits: &[Hit<'a>],
    ) -> Option<Decision<'a>> {
        let mut seen: Vec<u16> = hits.iter().map(|h| h.source).collect();
        seen.sort_unstable();
        seen.dedup();
        for s in seen {
            self.matched[usize::from(s)] += 1;
        }
        let Some(decision) = index.decide(hits) else {
            self.unlabelled += 1;
            return None;
        };
        self.labels[decision.label as usize] += 1;
        self.decided[usize::from(decision.hit.source)] += 1;
        if decision.conflict {
            self.conflict(index, view, hits);
        }
        Some(decision)
    }

    fn conflict(&mut self, index: &LabelIndex, view: &RecordView<'_>, hits: &[Hit<'_>]) {
        let labels = index.labels_of(hits);
        let key = labels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("+");
        self.conflicts.records += 1;
        *self.conflicts.by_labels.entry(key).or_default() += 1;
        if self.conflicts.examples.len() < CONFLICT_EXAMPLES {
            let sources = index.sources();
            let hits = hits
                .iter()
                .map(|h| {
                    let s = &sources[usize::from(h.source)];
                    format!("{}:{}:{}", s.label, s.name, h.matched)
                })
                .collect();
            self.conflicts.examples.push(ConflictExample {
                name: view.name.to_string(),
                rdata: view.rdata.to_string(),
                hits,
            });
        }
    }

    fn into_summary(mut self, index: &LabelIndex) -> LabelSummary {
        self.enrichment.finish();
        let mut labels: std::collections::BTreeMap<String, u64> = Label::ALL
            .iter()
            .map(|l| (l.to_string(), self.labels[*l as usize]))
            .collect();
        labels.insert("unlabelled".into(), self.unlabelled);
        let sources = index
            .sources()
            .iter()
            .zip(index.reports())
            .enumerate()
            .map(|(i, (info, report))| SourceSummary {
                name: info.name.clone(),
                label: info.label.to_string(),
                entries: report.entries,
                malformed: report.malformed,
                ignored: report.ignored.clone(),
                issues: report.issues.clone(),
                matched: self.matched[i],
                labelled: self.decided[i],
            })
            .collect();
        LabelSummary {
            records: self.records,
            labels,
            skipped_list_lines: index.reports().iter().map(|r| r.malformed).sum(),
            sources,
            conflicts: self.conflicts,
            enrichment: self.enrichment,
            splits: Split::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), self.splits[*s as usize]))
                .collect(),
            ..LabelSummary::default()
        }
    }
}

/// Builders for the added columns of one batch.
struct Added {
    label: StringBuilder,
    source: StringBuilder,
    indicator: StringBuilder,
    registered: StringBuilder,
    suffix: StringBuilder,
    tld: StringBuilder,
    country: StringBuilder,
    geoname: UInt32Builder,
    asn: UInt32Builder,
    isp: StringBuilder,
    org: StringBuilder,
    name_rank: UInt32Builder,
    domain_rank: UInt32Builder,
    split: StringBuilder,
}

impl Added {
    fn new(n: usize) -> Added {
        let s = || StringBuilder::with_capacity(n, n * 8);
        let u = || UInt32Builder::with_capacity(n);
        Added {
            label: s(),
            source: s(),
            indicator: s(),
            registered: s(),
            suffix: s(),
            tld: s(),
            country: s(),
            geoname: u(),
            asn: u(),
            isp: s(),
            org: s(),
            name_rank: u(),
            domain_rank: u(),
            split: s(),
        }
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.label.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.indicator.finish()),
            Arc::new(self.registered.finish()),
            Arc::new(self.suffix.finish()),
            Arc::new(self.tld.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.geoname.finish()),
            Arc::new(self.asn.finish()),
            Arc::new(self.isp.finish()),
            Arc::new(self.org.finish()),
            Arc::new(self.name_rank.finish()),
            Arc::new(self.domain_rank.finish()),
            Arc::new(self.split.finish()),
        ]
    }
}

/// Labels and enriches one batch; returns its rows grouped by split.
fn label_batch(
    labeller: &Labeller,
    assigner: &SplitAssigner,
    seed: u64,
    batch: &RecordBatch,
    tally: &mut Tally,
) -> Result<Vec<(Split, RecordBatch)>> {
    let cols = Columns::of(batch)?;
    let n = batch.num_rows();
    let mut added = Added::new(n);
    let mut splits = Vec::with_capacity(n);
    let mut hits = Vec::new();
    for i in 0..n {
        let view = cols.view(i, labeller);
        hits.clear();
        labeller
            .index
            .matches(&view, &labeller.enricher.psl, &mut hits);
        let decision = tally.hits(&labeller.index, &view, &hits);
        added
            .label
            .append_option(decision.map(|d| d.label.as_str()));
        let source = decision.map(|d| {
            labeller.index.sources()[usize::from(d.hit.source)]
                .name
                .as_str()
        });
        added.source.append_option(source);
        added
            .indicator
            .append_option(decision.map(|d| d.hit.matched.to_string()));
        enrich_row(labeller, &view, &mut added, &mut tally.enrichment)?;
        let split = match decision {
            Some(_) => assigner.assign(
                record_hash(view.name, view.rrtype, view.rdata, seed),
                view.first_seen,
                domain_key(view.registered_domain, view.name),
            ),
            None => Split::Unlabelled,
        };
        added.split.append_value(split.as_str());
        tally.splits[split as usize] += 1;
        splits.push(split);
    }
    tally.records += n as u64;
    let mut columns = batch.columns().to_vec();
    columns.extend(added.finish());
    let full = RecordBatch::try_new(labelled_schema(), columns)
        .map_err(Error::arrow("building a labelled batch"))?;
    let mut out = Vec::new();
    for split in Split::ALL {
        let mask: BooleanArray = splits.iter().map(|s| Some(*s == split)).collect();
        if mask.true_count() > 0 {
            out.push((
                split,
                filter_record_batch(&full, &mask).map_err(Error::arrow("splitting a batch"))?,
            ));
        }
    }
    Ok(out)
}

fn enrich_row(
    labeller: &Labeller,
    view: &RecordView<'_>,
    added: &mut Added,
    rates: &mut EnrichmentSummary,
) -> Result<()> {
    let psl = &labeller.enricher.psl;
    let index = &labeller.index;
    added.registered.append_option(view.registered_domain);
    rates
        .registered_domain
        .add(view.registered_domain.is_some());
    let suffix = psl.suffix(view.name);
    added.suffix.append_option(suffix);
    rates.public_suffix.add(suffix.is_some());
    added.tld.append_value(tld(view.name));
    let name_rank = index.name_rank(view.name);
    added.name_rank.append_option(name_rank);
    rates.name_rank.add(name_rank.is_some());
    let domain_rank = view.registered_domain.and_then(|d| index.domain_rank(d));
    added.domain_rank.append_option(domain_rank);
    rates.domain_rank.add(domain_rank.is_some());
    let Some(ip) = view.ip else {
        for b in [&mut added.country, &mut added.isp, &mut added.org] {
            b.append_null();
        }
        added.geoname.append_null();
        added.asn.append_null();
        return Ok(());
    };
    let info = labeller.enricher.ip_info(ip)?;
    rates.country.add(info.country.is_some());
    rates.geoname_id.add(info.geoname_id.is_some());
    rates.asn.add(info.asn.is_some());
    rates.isp.add(info.isp.is_some());
    rates.org.add(info.org.is_some());
    added.country.append_option(info.country);
    added.geoname.append_option(info.geoname_id);
    added.asn.append_option(info.asn);
    added.isp.append_option(info.isp);
    added.org.append_option(info.org);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ip_column_decodes_by_rrtype() {
        let v4 = pdnsrep_records::ip_to_bytes(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            decode_ip(&v4, 1),
            Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
        );
        // An AAAA answer that happens to be IPv4-mapped stays IPv6.
        assert_eq!(
            decode_ip(&v4, 28),
            Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()))
        );
        let v6 = pdnsrep_records::ip_to_bytes("2001:db8::1".parse().unwrap());
        assert_eq!(decode_ip(&v6, 1), None);
    }
}
