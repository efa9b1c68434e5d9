//! Fitting scalers and vocabularies on the training split, and encoding rows of the
//! intermediate table into the feature layout.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float64Array, Int32Array,
    RecordBatch, StringArray, UInt8Array, UInt16Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use pdnsrep_records::features::{
    CategoricalFeature, CharEncoding, FeaturizerSpec, NumericFeature, class_index,
};

use crate::error::{Error, Result};
use crate::{CATEGORICAL, NUMERIC};

/// Running mean and variance (Welford), summed in row order so results are reproducible.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    fn std(&self) -> f64 {
        let var = if self.n > 1 {
            self.m2 / self.n as f64
        } else {
            0.0
        };
        let std = var.sqrt();
        if std > 1e-12 { std } else { 1.0 }
    }
}

/// Accumulates what the spec needs from training rows.
#[derive(Debug)]
pub(crate) struct Fitter {
    moments: Vec<Moments>,
    counts: Vec<HashMap<String, u64>>,
    /// Rows whose neighbour mass comes from predictions, and those of them with none.
    pub predictions_needed: u64,
    pub predictions_missing: u64,
}

impl Fitter {
    pub(crate) fn new() -> Fitter {
        Fitter {
            moments: vec![Moments::default(); NUMERIC.len()],
            counts: vec![HashMap::new(); CATEGORICAL.len()],
            predictions_needed: 0,
            predictions_missing: 0,
        }
    }

    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        for (name, total) in [
            ("prediction_needed", &mut self.predictions_needed),
            ("prediction_missing", &mut self.predictions_missing),
        ] {
            let flags = cast_to::<Int32Array>(column(batch, name)?, &DataType::Int32)?;
            *total += flags.values().iter().map(|&v| v as u64).sum::<u64>();
        }
        let split = strings(batch, "split")?;
        let train: Vec<usize> = (0..batch.num_rows())
            .filter(|&i| split.value(i) == "train")
            .collect();
        if train.is_empty() {
            return Ok(());
        }
        for (def, moments) in NUMERIC.iter().zip(&mut self.moments) {
            if !def.fit {
                continue;
            }
            let values = floats(batch, def.name)?;
            for &i in &train {
                moments.push(def.transform.apply(values.value(i)));
            }
        }
        for ((_, column), counts) in CATEGORICAL.iter().zip(&mut self.counts) {
            let values = strings(batch, column)?;
            for &i in &train {
                if values.is_valid(i) {
                    *counts.entry(values.value(i).to_string()).or_default() += 1;
                }
            }
        }
        Ok(())
    }

    /// The scalers and vocabularies; vocabularies keep values seen at least `min_count` times,
    /// the most frequent first, at most `max_vocab` of them.
    pub(crate) fn finish(
        self,
        min_count: u64,
        max_vocab: usize,
    ) -> (Vec<NumericFeature>, Vec<CategoricalFeature>) {
        let numeric = NUMERIC
            .iter()
            .zip(&self.moments)
            .map(|(def, m)| NumericFeature {
                name: def.name.to_string(),
                transform: def.transform,
                mean: if def.fit { m.mean } else { 0.0 },
                std: if def.fit { m.std() } else { 1.0 },
            })
            .collect();
        let categorical = CATEGORICAL
            .iter()
            .zip(self.counts)
            .map(|((name, _), counts)| {
                let mut kept: Vec<(String, u64)> = counts
                    .into_iter()
                    .filter(|(_, c)| *c >= min_count)
                    .collect();
                kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                kept.truncate(max_vocab);
                CategoricalFeature {
                    name: name.to_string(),
                    min_count,
                    vocab: kept.into_iter().map(|(v, _)| v).collect(),
                }
            })
            .collect();
        (numeric, categorical)
    }
}

/// Turns intermediate rows into feature rows with a fitted spec.
#[derive(Debug)]
pub(crate) struct Encoder {
    spec: FeaturizerSpec,
    codes: Vec<HashMap<String, i32>>,
    chars: [u8; 256],
}

impl Encoder {
    pub(crate) fn new(spec: FeaturizerSpec) -> Encoder {
        let codes = spec.categorical.iter().map(|c| c.codes()).collect();
        let chars = spec.chars.table();
        Encoder { spec, codes, chars }
    }

    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let names = strings(batch, "name")?;
        let labels = strings(batch, "label")?;
        let label: UInt8Array = (0..n)
            .map(|i| {
                labels
                    .is_valid(i)
                    .then(|| class_index(labels.value(i)))
                    .flatten()
            })
            .collect();
        let queries = cast(column(batch, "domain_queries")?, &DataType::UInt64)
            .map_err(|e| Error::Layout(e.to_string()))?;
        let numeric = self.numeric(batch)?;
        let categorical = self.categorical(batch)?;
        let chars = self.chars(&names);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(names.clone()),
            Arc::new(cast_to::<UInt16Array>(
                column(batch, "rrtype")?,
                &DataType::UInt16,
            )?),
            Arc::new(strings(batch, "rdata")?),
            Arc::new(strings(batch, "split")?),
            Arc::new(label),
            queries,
            numeric,
            categorical,
            chars,
        ];
        RecordBatch::try_new(self.spec.schema(), columns).map_err(|e| Error::Layout(e.to_string()))
    }

    fn numeric(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let (n, width) = (batch.num_rows(), self.spec.numeric.len());
        let mut values = vec![0f32; n * width];
        for (j, feature) in self.spec.numeric.iter().enumerate() {
            let column = floats(batch, &feature.name)?;
            for i in 0..n {
                values[i * width + j] = feature.encode(column.value(i));
            }
        }
        list(
            DataType::Float32,
            width,
            Arc::new(Float32Array::from(values)),
        )
    }

    fn categorical(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let (n, width) = (batch.num_rows(), CATEGORICAL.len());
        let mut values = vec![0i32; n * width];
        for (j, ((_, column), codes)) in CATEGORICAL.iter().zip(&self.codes).enumerate() {
            let column = strings(batch, column)?;
            for i in 0..n {
                if column.is_valid(i) {
                    values[i * width + j] = codes.get(column.value(i)).copied().unwrap_or(0);
                }
            }
        }
        list(DataType::Int32, width, Arc::new(Int32Array::from(values)))
    }

    fn chars(&self, names: &StringArray) -> ArrayRef {
        let length = self.spec.chars.length;
        let mut values = Vec::with_capacity(names.len() * length);
        for i in 0..names.len() {
            let bytes = names.value(i).as_bytes();
            values.extend((0..length).map(|k| match bytes.get(k) {
                Some(b) => self.chars[*b as usize],
                None => CharEncoding::PAD,
            }));
        }
        let values = Arc::new(UInt8Array::from(values));
        Arc::new(FixedSizeListArray::new(
            item(DataType::UInt8),
            length as i32,
            values,
            None,
        ))
    }
}

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

fn list(data_type: DataType, width: usize, values: ArrayRef) -> Result<ArrayRef> {
    FixedSizeListArray::try_new(item(data_type), width as i32, values, None)
        .map(|a| Arc::new(a) as ArrayRef)
        .map_err(|e| Error::Layout(e.to_string()))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::Layout(format!("no column `{name}`")))
}

fn cast_to<A: Array + Clone + 'static>(array: &ArrayRef, to: &DataType) -> Result<A> {
    let cast = cast(array, to).map_err(|e| Error::Layout(e.to_string()))?;
    cast.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| Error::Layout(format!("cannot read a {to} column")))
}

/// A string column as `Utf8`, whatever string layout the engine produced.
fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let array = column(batch, name)?;
    match array.data_type() {
        DataType::Utf8 => Ok(array.as_string::<i32>().clone()),
        _ => cast_to(array, &DataType::Utf8),
    }
}

fn floats(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let array = column(batch, name)?;
    if array.null_count() > 0 {
        return Err(Error::Layout(format!("numeric column `{name}` has nulls")));
    }
    cast_to(array, &DataType::Float64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_the_population_formula() {
        let mut m = Moments::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        assert!((m.mean - 2.5).abs() < 1e-12);
        assert!((m.std() - 1.25f64.sqrt()).abs() < 1e-12);
        let mut constant = Moments::default();
        constant.push(7.0);
        constant.push(7.0);
        assert_eq!(constant.std(), 1.0);
    }
}
