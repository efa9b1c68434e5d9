//! The Arrow layout of labelled record datasets: the raw record columns
//! ([`pdnsrep_records::schema::record_schema`]) followed by these.
//!
//! | column | type | notes |
//! |---|---|---|
//! | `label` | Utf8, nullable | `benign`, `malicious` or `sinkhole`; null when no list matched |
//! | `label_source` | Utf8, nullable | name of the source that decided the label |
//! | `label_indicator` | Utf8, nullable | the listed name, IP or CIDR that matched |
//! | `registered_domain` | Utf8, nullable | of the owner name, by the Public Suffix List |
//! | `public_suffix` | Utf8, nullable | of the owner name |
//! | `tld` | Utf8, nullable | last label of the owner name |
//! | `country` | Utf8, nullable | ISO 3166-1 alpha-2 of the A/AAAA answer |
//! | `geoname_id` | UInt32, nullable | GeoNames id of the answer's city, else its country |
//! | `asn` | UInt32, nullable | autonomous system of the answer |
//! | `isp`, `org` | Utf8, nullable | |
//! | `name_rank` | UInt32, nullable | best top-list rank of the owner name itself |
//! | `domain_rank` | UInt32, nullable | best top-list rank of a name in its registered domain |
//! | `split` | Utf8 | `train`, `valid`, `test` or `unlabelled` |

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use pdnsrep_records::schema::record_schema;

/// The columns this crate adds, in order.
pub const ADDED_COLUMNS: [&str; 14] = [
    "label",
    "label_source",
    "label_indicator",
    "registered_domain",
    "public_suffix",
    "tld",
    "country",
    "geoname_id",
    "asn",
    "isp",
    "org",
    "name_rank",
    "domain_rank",
    "split",
];

static LABELLED_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = record_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for name in ADDED_COLUMNS {
        let data_type = match name {
            "geoname_id" | "asn" | "name_rank" | "domain_rank" => DataType::UInt32,
            _ => DataType::Utf8,
        };
        fields.push(Field::new(name, data_type, name != "split"));
    }
    Arc::new(Schema::new(fields))
});

/// The schema of labelled record datasets.
pub fn labelled_schema() -> SchemaRef {
    LABELLED_SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pdnsrep_records::schema::describe;

    #[test]
    fn labelled_schema_extends_the_record_schema() {
        let described = describe(&labelled_schema());
        let raw = describe(&record_schema());
        assert_eq!(&described[..raw.len()], &raw[..]);
        assert_eq!(described[raw.len()], "label:Utf8?");
        assert_eq!(described[raw.len() + 8], "asn:UInt32?");
        assert_eq!(described.last().map(String::as_str), Some("split:Utf8"));
    }
}
