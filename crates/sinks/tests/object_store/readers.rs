//! Independent readers: DuckDB and pyarrow, installed into the shared venv with pip, read what
//! the sink wrote. A reader that cannot be installed fails the test (never a silent skip).

use std::{path::Path, process::Command, sync::OnceLock};

use serde_json::Value;

use super::servers::services_dir;

/// What the readers need from `PyPI`.
const REQUIREMENTS: [&str; 2] = ["duckdb", "pyarrow"];

/// The venv's Python, with DuckDB and pyarrow installed (once per test process).
pub fn python() -> String {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        let output = Command::new("bash")
            .arg(services_dir().join("python-venv.sh"))
            .args(REQUIREMENTS)
            .output()
            .map_err(|error| format!("run python-venv.sh: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "pip could not install {REQUIREMENTS:?} ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let venv = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(format!("{venv}/bin/python"))
    });
    match python {
        Ok(python) => python.clone(),
        Err(error) => panic!("the independent readers are not available: {error}"),
    }
}

/// Reads the three files with DuckDB and pyarrow. For each reader and file: the column names,
/// their types as the reader names them, and the rows as JSON values (bytes as UTF-8 text,
/// timestamps as ISO 8601).
const SCRIPT: &str = r#"
import datetime, json, sys
import duckdb
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

parquet_path, csv_path, ndjson_path, parquet_root = sys.argv[1:5]

def plain(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

def duck(query, path):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = con.sql(query.format(path=path.replace("'", "''")))
    return {
        "columns": list(rel.columns),
        "types": [str(t) for t in rel.types],
        "rows": [[plain(v) for v in row] for row in rel.fetchall()],
    }

def arrow(table):
    return {
        "columns": table.schema.names,
        "types": [str(field.type) for field in table.schema],
        "nullable": [field.nullable for field in table.schema],
        "rows": [[plain(row[name]) for name in table.schema.names] for row in table.to_pylist()],
    }

parquet_file = pq.ParquetFile(parquet_path)
out = {
    "duckdb": {
        # The file alone: without Hive partition inference, exactly the file's columns.
        "parquet": duck("SELECT * FROM read_parquet('{path}', hive_partitioning = false)", parquet_path),
        # The dataset, as docs/reference/parquet.md tells analysts to read it: every Parquet
        # object under the prefix, partition inference off, the generation from the file name.
        "parquet_dataset": duck(
            "SELECT inventory_namespace, inventory_name,"
            " regexp_extract(filename, 'generation=(\\d+)\\.parquet$', 1)::BIGINT AS generation,"
            " count(*) AS row_count"
            " FROM read_parquet('{path}/**/*.parquet', hive_partitioning = false, filename = true)"
            " GROUP BY ALL",
            parquet_root,
        ),
        "csv": duck("SELECT * FROM read_csv('{path}', header = true)", csv_path),
        "ndjson": duck("SELECT * FROM read_json('{path}', format = 'newline_delimited')", ndjson_path),
        "ndjson_objects": duck("SELECT json FROM read_ndjson_objects('{path}')", ndjson_path),
    },
    "pyarrow": {
        "parquet": arrow(pq.read_table(parquet_path)),
        "parquet_schema": [
            {
                "name": parquet_file.schema.column(i).name,
                "physical": parquet_file.schema.column(i).physical_type,
                "logical": str(parquet_file.schema.column(i).logical_type),
                "max_definition_level": parquet_file.schema.column(i).max_definition_level,
            }
            for i in range(len(parquet_file.schema.names))
        ],
        "csv": arrow(pacsv.read_csv(csv_path)),
        "ndjson": arrow(pajson.read_json(ndjson_path)),
    },
}
print(json.dumps(out))
"#;

/// Runs the readers on the three files; `parquet_root` is the directory holding the Parquet
/// dataset (the sink's prefix).
pub fn read(parquet: &Path, csv: &Path, ndjson: &Path, parquet_root: &Path) -> Value {
    let output = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(parquet)
        .arg(csv)
        .arg(ndjson)
        .arg(parquet_root)
        .output()
        .expect("run the readers");
    assert!(
        output.status.success(),
        "the readers failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the readers print JSON")
}

/// The rows of one reader's table as maps of column name to value.
pub fn records(table: &Value) -> Vec<serde_json::Map<String, Value>> {
    let columns: Vec<String> = table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().expect("a column name").to_owned())
        .collect();
    table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            columns
                .iter()
                .cloned()
                .zip(row.as_array().expect("a row").iter().cloned())
                .collect()
        })
        .collect()
}

/// Column name → type name of one reader's table.
pub fn types(table: &Value) -> Vec<(String, String)> {
    table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .zip(table["types"].as_array().expect("types"))
        .map(|(name, ty)| {
            (
                name.as_str().expect("a name").to_owned(),
                ty.as_str().expect("a type").to_owned(),
            )
        })
        .collect()
}
