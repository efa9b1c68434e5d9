//! The Arrow layout of record datasets, and conversions between batches and [`Record`]s.
//!
//! | column | type | notes |
//! |---|---|---|
//! | `name` | Utf8 | owner name, normalized |
//! | `rrtype` | UInt16 | IANA number |
//! | `rdata` | Utf8 | canonical text |
//! | `ip` | FixedSizeBinary(16), nullable | A/AAAA answer, IPv4 mapped into IPv6 |
//! | `first_seen`, `last_seen` | Timestamp(ms, UTC) | |
//! | `count` | UInt64 | observations |
//! | `min_ttl`, `max_ttl` | UInt32, nullable | |
//! | `sensor` | Utf8, nullable | |

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType, UInt16Type, UInt32Type,
    UInt64Type,
};

use crate::error::{Context, Error, Result};
use crate::record::{Record, ip_to_bytes};
use crate::rrtype::RrType;

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static RECORD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rrtype", DataType::UInt16, false),
        Field::new("rdata", DataType::Utf8, false),
        Field::new("ip", DataType::FixedSizeBinary(16), true),
        Field::new("first_seen", timestamp(), false),
        Field::new("last_seen", timestamp(), false),
        Field::new("count", DataType::UInt64, false),
        Field::new("min_ttl", DataType::UInt32, true),
        Field::new("max_ttl", DataType::UInt32, true),
        Field::new("sensor", DataType::Utf8, true),
    ]))
});

/// The schema of raw record datasets.
pub fn record_schema() -> SchemaRef {
    RECORD_SCHEMA.clone()
}

/// A stable text description of a schema, stored in manifests so that readers can refuse data
/// they do not understand.
pub fn describe(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{}:{}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "?" } else { "" }
            )
        })
        .collect()
}

/// Builds one batch from records, in the given order.
pub fn records_to_batch(records: &[Record]) -> Result<RecordBatch> {
    let n = records.len();
    let bytes: usize = records.iter().map(|r| r.name.len() + r.rdata.len()).sum();
    let mut name = StringBuilder::with_capacity(n, bytes);
    let mut rrtype = UInt16Builder::with_capacity(n);
    let mut rdata = StringBuilder::with_capacity(n, bytes);
    let mut ip = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut first = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut last = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut count = UInt64Builder::with_capacity(n);
    let mut min_ttl = UInt32Builder::with_capacity(n);
    let mut max_ttl = UInt32Builder::with_capacity(n);
    let mut sensor = StringBuilder::with_capacity(n, n * 4);
    for r in records {
        name.append_value(&r.name);
        rrtype.append_value(r.rrtype.0);
        rdata.append_value(&r.rdata);
        match r.ip() {
            Some(addr) => ip
                .append_value(ip_to_bytes(addr))
                .map_err(arrow_err("ip column"))?,
            None => ip.append_null(),
        }
        first.append_value(r.first_seen);
        last.append_value(r.last_seen);
        count.append_value(r.count);
        min_ttl.append_option(r.min_ttl);
        max_ttl.append_option(r.max_ttl);
        sensor.append_option(r.sensor.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(name.finish()),
        Arc::new(rrtype.finish()),
        Arc::new(rdata.finish()),
        Arc::new(ip.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(count.finish()),
        Arc::new(min_ttl.finish()),
        Arc::new(max_ttl.finish()),
        Arc::new(sensor.finish()),
    ];
    RecordBatch::try_new(record_schema(), columns).map_err(arrow_err("building a record batch"))
}

/// Reads records back out of a batch that follows [`record_schema`].
pub fn batch_to_records(batch: &RecordBatch) -> Result<Vec<Record>> {
    let expected = record_schema();
    if describe(batch.schema().as_ref()) != describe(&expected) {
        return Err(Error::Schema {
            reason: format!(
                "expected [{}], found [{}]",
                describe(&expected).join(", "),
                describe(batch.schema().as_ref()).join(", ")
            ),
        });
    }
    let col = |i: usize| batch.column(i);
    let name = col(0).as_string::<i32>();
    let rrtype = col(1).as_primitive::<UInt16Type>();
    let rdata = col(2).as_string::<i32>();
    let first = col(4).as_primitive::<TimestampMillisecondType>();
    let last = col(5).as_primitive::<TimestampMillisecondType>();
    let count = col(6).as_primitive::<UInt64Type>();
    let min_ttl = col(7).as_primitive::<UInt32Type>();
    let max_ttl = col(8).as_primitive::<UInt32Type>();
    let sensor = col(9).as_string::<i32>();
    let opt_u32 = |a: &arrow::array::PrimitiveArray<UInt32Type>, i: usize| {
        if a.is_null(i) { None } else { Some(a.value(i)) }
    };
    Ok((0..batch.num_rows())
        .map(|i| Record {
            name: name.value(i).to_string(),
            rrtype: RrType(rrtype.value(i)),
            rdata: rdata.value(i).to_string(),
            first_seen: first.value(i),
            last_seen: last.value(i),
            count: count.value(i),
            min_ttl: opt_u32(min_ttl, i),
            max_ttl: opt_u32(max_ttl, i),
            sensor: (!sensor.is_null(i)).then(|| sensor.value(i).to_string()),
        })
        .collect())
}

fn arrow_err(context: &'static str) -> impl Fn(arrow::error::ArrowError) -> Error {
    move |source| Error::Arrow {
        context: Context(context.to_string()),
        source,
    }
}
