//! Reading Parquet exports back into rows (`kollect diff` over a Parquet folder): the columns of
//! `docs/reference/parquet.md`, whoever wrote the file (Kollect or the Go original).

use std::sync::Arc;

use arrow_array::{Array, BinaryArray, RecordBatch, StringArray};
use kollect_api::row::{Attributes, Gvk, Row, TargetRow};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A Parquet file that is not an inventory export.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(String);

/// The rows of one Parquet export file, in file order.
pub fn read_parquet(bytes: bytes::Bytes) -> Result<Vec<TargetRow>, ReadError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(ParquetRecordBatchReaderBuilder::build)
        .map_err(|e| ReadError(format!("not a Parquet file: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| ReadError(format!("unreadable row group: {e}")))?;
        read_batch(&batch, &mut rows)?;
    }
    Ok(rows)
}

fn read_batch(batch: &RecordBatch, rows: &mut Vec<TargetRow>) -> Result<(), ReadError> {
    let text = |name: &str| -> Result<&StringArray, ReadError> {
        batch
            .column_by_name(name)
            .ok_or_else(|| ReadError(format!("no column {name}: not a Kollect inventory export")))?
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ReadError(format!("column {name} is not a string column")))
    };
    let (target_namespace, target_name) = (text("target_namespace")?, text("target_name")?);
    let (namespace, name, uid) = (text("namespace")?, text("name")?, text("uid")?);
    let (group, version, kind) = (text("group")?, text("api_version")?, text("kind")?);
    let attributes = batch
        .column_by_name("attributes")
        .ok_or_else(|| ReadError("no column attributes: not a Kollect inventory export".into()))?;
    let attributes_text = |i: usize| -> Result<String, ReadError> {
        let any = attributes.as_any();
        let bytes: &[u8] = if let Some(binary) = any.downcast_ref::<BinaryArray>() {
            binary.value(i)
        } else if let Some(string) = any.downcast_ref::<StringArray>() {
            string.value(i).as_bytes()
        } else {
            return Err(ReadError("column attributes is not a byte column".into()));
        };
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ReadError(format!("row {i}: attributes are not UTF-8 JSON")))
    };
    for i in 0..batch.num_rows() {
        let json = attributes_text(i)?;
        let attributes = match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(serde_json::Value::Object(map)) => Attributes::from_map(&map),
            Ok(serde_json::Value::Null) => Attributes::empty(),
            _ => {
                return Err(ReadError(format!(
                    "row {i} ({}/{}): attributes are not a JSON object",
                    namespace.value(i),
                    name.value(i)
                )));
            }
        };
        let group = if group.is_null(i) { "" } else { group.value(i) };
        rows.push(TargetRow {
            target_namespace: target_namespace.value(i).into(),
            target_name: target_name.value(i).into(),
            kind: Gvk::new(group, version.value(i), kind.value(i)),
            row: Arc::new(Row {
                namespace: namespace.value(i).into(),
                name: name.value(i).into(),
                uid: uid.value(i).into(),
                resource_version: "".into(),
                attributes,
            }),
        });
    }
    Ok(())
}
