//! Parquet objects: rows into Arrow batches of [`BATCH_ROWS`], written by `parquet`'s
//! `ArrowWriter` in row groups of at most [`ROW_GROUP_ROWS`]. Runs on a blocking thread, with
//! the output streamed to the upload, so memory stays bounded whatever the part's size.
//!
//! The file schema (root `inventory`, columns in name order) is the one of sinks spec §9.4,
//! with promoted columns typed by [`AttributeType`]; no Arrow schema is embedded, so readers see
//! exactly the Parquet types documented in `docs/reference/parquet.md`.

use std::{io::Write, sync::Arc};

use arrow_array::{
    ArrayRef, RecordBatch,
    builder::{
        BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
        TimestampMicrosecondBuilder,
    },
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use kollect_export::TargetRow;
use parquet::{
    arrow::{ArrowWriter, arrow_writer::ArrowWriterOptions},
    basic::{Compression as Codec, GzipLevel, ZstdLevel},
    file::properties::WriterProperties,
};

use super::{
    config::Compression,
    error::EncodeError,
    schema::{AttributeType, Cell, Column, Columns, RowContext, hot_values},
};

/// Rows per Arrow batch: the unit of work between the rows and the column writers (a few MiB
/// of Arrow arrays at typical attribute sizes).
pub(crate) const BATCH_ROWS: usize = 8192;

/// Rows per row group. Parquet buffers a row group's encoded pages until it is flushed, so this
/// bounds the writer's memory; 64k rows of inventory data is a few MiB compressed. Row-group
/// layout is not part of the contract (sinks spec §9.4).
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// The Parquet schema's root name (sinks spec §9.4).
pub(crate) const SCHEMA_ROOT: &str = "inventory";

/// The Arrow schema of `columns`: required identity columns, nullable `group` and hot columns.
pub(crate) fn arrow_schema(columns: &Columns) -> Schema {
    let fields: Vec<Field> = columns
        .order()
        .iter()
        .map(|(column, name)| match column {
            Column::Hot(index) => {
                let ty = columns.hot()[*index].ty;
                Field::new(name, data_type(ty), true)
            }
            Column::Attributes => Field::new(name, DataType::Binary, false),
            Column::ExportedAt => Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Column::Group => Field::new(name, DataType::Utf8, true),
            _ => Field::new(name, DataType::Utf8, false),
        })
        .collect();
    Schema::new(fields)
}

fn data_type(ty: AttributeType) -> DataType {
    match ty {
        AttributeType::Text => DataType::Utf8,
        AttributeType::Integer => DataType::Int64,
        AttributeType::Float => DataType::Float64,
        AttributeType::Boolean => DataType::Boolean,
    }
}

/// The Parquet codec of the sink's compression.
fn codec(compression: Compression) -> Codec {
    match compression {
        Compression::None => Codec::UNCOMPRESSED,
        Compression::Snappy => Codec::SNAPPY,
        Compression::Gzip => Codec::GZIP(GzipLevel::default()),
        Compression::Zstd => Codec::ZSTD(ZstdLevel::default()),
    }
}

/// Writes `rows` as one Parquet file to `out`.
pub(crate) fn write<W: Write + Send>(
    rows: &[TargetRow],
    context: &RowContext,
    columns: &Columns,
    compression: Compression,
    out: W,
) -> Result<(), EncodeError> {
    let schema = Arc::new(arrow_schema(columns));
    let properties = WriterProperties::builder()
        .set_compression(codec(compression))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_skip_arrow_metadata(true)
        .with_schema_root(SCHEMA_ROOT.to_owned());
    let mut writer = ArrowWriter::try_new_with_options(out, Arc::clone(&schema), options)?;
    for chunk in rows.chunks(BATCH_ROWS) {
        writer.write(&record_batch(&schema, chunk, context, columns)?)?;
    }
    writer.close()?;
    Ok(())
}

/// One Arrow batch of `rows`.
fn record_batch(
    schema: &Arc<Schema>,
    rows: &[TargetRow],
    context: &RowContext,
    columns: &Columns,
) -> Result<RecordBatch, EncodeError> {
    let hot: Vec<Vec<Cell>> = {
        let mut by_column: Vec<Vec<Cell>> = columns
            .hot()
            .iter()
            .map(|_| Vec::with_capacity(rows.len()))
            .collect();
        for row in rows {
            let values = hot_values(row.row.attributes.as_json(), columns.hot());
            for ((cells, column), value) in by_column.iter_mut().zip(columns.hot()).zip(&values) {
                cells.push(Cell::new(column.ty, value.as_ref()));
            }
        }
        by_column
    };
    let arrays: Vec<ArrayRef> = columns
        .order()
        .iter()
        .map(|(column, _)| column_array(*column, rows, context, columns, &hot))
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

fn column_array(
    column: Column,
    rows: &[TargetRow],
    context: &RowContext,
    columns: &Columns,
    hot: &[Vec<Cell>],
) -> ArrayRef {
    let strings = |value: &dyn Fn(&TargetRow) -> &str| -> ArrayRef {
        let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
        for row in rows {
            builder.append_value(value(row));
        }
        Arc::new(builder.finish())
    };
    let constant = |value: &str| -> ArrayRef {
        let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * value.len());
        for _ in rows {
            builder.append_value(value);
        }
        Arc::new(builder.finish())
    };
    match column {
        Column::ApiVersion => strings(&|row| &row.kind.version),
        Column::Hot(index) => hot_array(columns.hot()[index].ty, &hot[index]),
        Column::Attributes => {
            let bytes: usize = rows.iter().map(|r| r.row.attributes.encoded_len()).sum();
            let mut builder = BinaryBuilder::with_capacity(rows.len(), bytes);
            for row in rows {
                builder.append_value(row.row.attributes.as_json());
            }
            Arc::new(builder.finish())
        }
        Column::Cluster => constant(&context.cluster),
        Column::ExportedAt => {
            let mut builder = TimestampMicrosecondBuilder::with_capacity(rows.len());
            let micros = context.exported_at.timestamp_micros();
            for _ in rows {
                builder.append_value(micros);
            }
            Arc::new(builder.finish().with_timezone("UTC"))
        }
        Column::Group => {
            let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
            for row in rows {
                let group: &str = &row.kind.group;
                builder.append_option((!group.is_empty()).then_some(group));
            }
            Arc::new(builder.finish())
        }
        Column::InventoryName => constant(&context.inventory_name),
        Column::InventoryNamespace => constant(&context.inventory_namespace),
        Column::Kind => strings(&|row| &row.kind.kind),
        Column::Name => strings(&|row| &row.row.name),
        Column::Namespace => strings(&|row| &row.row.namespace),
        Column::TargetName => strings(&|row| &row.target_name),
        Column::TargetNamespace => strings(&|row| &row.target_namespace),
        Column::Uid => strings(&|row| &row.row.uid),
    }
}

fn hot_array(ty: AttributeType, cells: &[Cell]) -> ArrayRef {
    match ty {
        AttributeType::Text => {
            let mut builder = StringBuilder::with_capacity(cells.len(), cells.len() * 16);
            for cell in cells {
                match cell {
                    Cell::Text(text) => builder.append_value(text),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish())
        }
        AttributeType::Integer => {
            let mut builder = Int64Builder::with_capacity(cells.len());
            for cell in cells {
                match cell {
                    Cell::Integer(value) => builder.append_value(*value),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish())
        }
        AttributeType::Float => {
            let mut builder = Float64Builder::with_capacity(cells.len());
            for cell in cells {
                match cell {
                    Cell::Float(value) => builder.append_value(*value),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish())
        }
        AttributeType::Boolean => {
            let mut builder = BooleanBuilder::with_capacity(cells.len());
            for cell in cells {
                match cell {
                    Cell::Boolean(value) => builder.append_value(*value),
                    _ => builder.append_null(),
                }
            }
            Arc::new(builder.finish())
        }
    }
}
