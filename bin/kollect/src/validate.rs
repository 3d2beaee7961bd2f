//! `kollect validate`: offline checks of manifest files and folders.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
};

use anyhow::Result;
use kollect_api::{
    manifest::{self, Document, Location, MAX_FILE_BYTES},
    validation::{self, FieldPath, Settings, Subject},
};
use serde_json::{Value, json};

use crate::{
    cli::{EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, OutputFormat, ValidateArgs},
    output,
};

/// Extensions of manifest files picked up from folders.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// The object is refused.
    Error,
    /// The object is admitted; something deserves attention.
    Warning,
    /// A file could not be read: Kollect, not the input, failed.
    Internal,
}

/// One line of output.
#[derive(Debug, Clone)]
struct Problem {
    severity: Severity,
    file: String,
    location: Option<Location>,
    /// `Kind/name` of the object, when known.
    object: Option<ObjectLabel>,
    field: String,
    error_type: Option<&'static str>,
    message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectLabel {
    kind: String,
    namespace: Option<String>,
    name: String,
}

/// The outcome of a run.
#[derive(Debug, Default)]
struct Outcome {
    files: usize,
    objects: usize,
    problems: Vec<Problem>,
    /// First location of each object per folder, to catch the same object defined twice in
    /// manifests that are applied together.
    seen: BTreeMap<(PathBuf, ObjectLabel), String>,
}

pub(crate) fn run(args: &ValidateArgs) -> Result<u8> {
    let paths = args.all_paths();
    if paths.is_empty() {
        output::error_line(
            "error: nothing to validate: give files or folders, e.g. `kollect validate deploy/examples`",
        );
        return Ok(EXIT_INVALID);
    }
    let settings = args.settings();
    let mut outcome = Outcome::default();
    for path in &paths {
        for file in expand(path, &mut outcome) {
            check_file(&file, &settings, &mut outcome);
        }
    }
    let code = exit_code(&outcome);
    let rendered = match args.output {
        OutputFormat::Text => render_text(&outcome, &paths),
        OutputFormat::Json => render_json(&outcome, code),
    };
    output::stdout(&rendered)?;
    Ok(code)
}

fn exit_code(outcome: &Outcome) -> u8 {
    if outcome
        .problems
        .iter()
        .any(|p| p.severity == Severity::Internal)
    {
        EXIT_INTERNAL
    } else if outcome
        .problems
        .iter()
        .any(|p| p.severity == Severity::Error)
    {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

/// The files a path stands for: itself, or the manifest files below a folder (sorted).
fn expand(path: &Path, outcome: &mut Outcome) -> Vec<PathBuf> {
    let display = path.display().to_string();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => {
            outcome.problems.push(file_problem(&display, &error));
            return Vec::new();
        }
    };
    if !metadata.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    walk(path, &mut files, outcome);
    files.sort();
    if files.is_empty() {
        outcome.problems.push(Problem {
            severity: Severity::Error,
            file: display,
            location: None,
            object: None,
            field: String::new(),
            error_type: None,
            message: "no manifests found (*.yaml, *.yml or *.json)".to_owned(),
        });
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, outcome: &mut Outcome) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            outcome
                .problems
                .push(file_problem(&dir.display().to_string(), &error));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if hidden {
            continue;
        }
        if kind.is_dir() {
            walk(&path, files, outcome);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            files.push(path);
        }
    }
}

fn file_problem(file: &str, error: &io::Error) -> Problem {
    let (severity, message) = match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            (Severity::Error, "no such file or directory".to_owned())
        }
        _ => (Severity::Internal, format!("cannot read: {error}")),
    };
    Problem {
        severity,
        file: file.to_owned(),
        location: None,
        object: None,
        field: String::new(),
        error_type: None,
        message,
    }
}

fn check_file(path: &Path, settings: &Settings, outcome: &mut Outcome) {
    let file = path.display().to_string();
    outcome.files += 1;
    let too_large = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES as u64);
    let bytes = if too_large {
        // Let the parser produce its size error without reading the whole file.
        vec![0; MAX_FILE_BYTES + 1]
    } else {
        match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                outcome.problems.push(file_problem(&file, &error));
                return;
            }
        }
    };
    for document in manifest::parse(&bytes) {
        match document {
            Ok(document) => {
                let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
                check_document(&file, &folder, &document, settings, outcome);
            }
            Err(error) => outcome.problems.push(Problem {
                severity: Severity::Error,
                file: file.clone(),
                location: Some(error.location),
                object: None,
                field: String::new(),
                error_type: None,
                message: error.message,
            }),
        }
    }
}

fn check_document(
    file: &str,
    folder: &Path,
    document: &Document,
    settings: &Settings,
    outcome: &mut Outcome,
) {
    outcome.objects += 1;
    let mut checked = validation::check(&document.value, settings);
    // Expressions are compiled only once the object is otherwise valid: a profile with a
    // malformed attribute list has nothing reliable to compile.
    if checked.report.is_valid()
        && let Subject::Kollect(_, Some(object)) = &checked.subject
    {
        kollect_extract::check_expressions(object, &mut checked.report);
    }
    let label = label(&document.value, &checked.subject);
    if let Some(label) = &label {
        let here = format!("{file}:{}", document.start.line);
        let key = (folder.to_path_buf(), label.clone());
        if let Some(first) = outcome.seen.get(&key) {
            outcome.problems.push(Problem {
                severity: Severity::Error,
                file: file.to_owned(),
                location: Some(document.start),
                object: Some(label.clone()),
                field: "metadata.name".to_owned(),
                error_type: Some("Duplicate"),
                message: format!(
                    "the same object is already defined at {first}; the later one would replace it"
                ),
            });
        } else {
            outcome.seen.insert(key, here);
        }
    }
    let locate = |field: &str| document.locate(&FieldPath::parse(field).to_pointer());
    for error in &checked.report.errors {
        outcome.problems.push(Problem {
            severity: Severity::Error,
            file: file.to_owned(),
            location: Some(locate(&error.field)),
            object: label.clone(),
            field: error.field.clone(),
            error_type: Some(error.error_type.code()),
            message: error.message(),
        });
    }
    for warning in &checked.report.warnings {
        let field = warning.field.clone().unwrap_or_default();
        outcome.problems.push(Problem {
            severity: Severity::Warning,
            file: file.to_owned(),
            location: Some(locate(&field)),
            object: label.clone(),
            field,
            error_type: None,
            message: warning.message.clone(),
        });
    }
}

/// `Kind/name` of a document, when it has a kind and a name.
fn label(value: &Value, subject: &Subject) -> Option<ObjectLabel> {
    let kind = match subject {
        Subject::Kollect(kind, _) => kind.as_str().to_owned(),
        Subject::Companion(kind) => (*kind).to_owned(),
        Subject::Unknown => value.get("kind").and_then(Value::as_str)?.to_owned(),
    };
    let metadata = value.get("metadata")?;
    Some(ObjectLabel {
        kind,
        namespace: metadata
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_owned),
        name: metadata.get("name").and_then(Value::as_str)?.to_owned(),
    })
}

fn render_text(outcome: &Outcome, paths: &[PathBuf]) -> String {
    let colour = output::stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = String::new();
    for problem in &outcome.problems {
        let mut line = problem.file.clone();
        if let Some(location) = problem.location {
            let _ = write!(line, ":{}", location.line);
        }
        if let Some(object) = &problem.object {
            let _ = write!(line, ": {}/{}", object.kind, object.name);
        }
        if !problem.field.is_empty() {
            let _ = write!(line, ": {}", problem.field);
        }
        let severity = match problem.severity {
            Severity::Warning => ": warning",
            Severity::Error | Severity::Internal => "",
        };
        let _ = write!(line, "{severity}: {}", problem.message);
        let (start, end) = match (colour, problem.severity) {
            (true, Severity::Warning) => ("\x1b[33m", "\x1b[0m"),
            (true, _) => ("\x1b[31m", "\x1b[0m"),
            (false, _) => ("", ""),
        };
        let _ = writeln!(out, "{start}{line}{end}");
    }
    let errors = outcome
        .problems
        .iter()
        .filter(|p| p.severity != Severity::Warning)
        .count();
    let warnings = outcome.problems.len() - errors;
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let verdict = if errors == 0 { "valid" } else { "invalid" };
    let _ = writeln!(
        out,
        "{}: {verdict} ({} object(s) in {} file(s), {errors} error(s), {warnings} warning(s))",
        names.join(", "),
        outcome.objects,
        outcome.files,
    );
    out
}

fn render_json(outcome: &Outcome, code: u8) -> String {
    let problems: Vec<Value> = outcome
        .problems
        .iter()
        .map(|problem| {
            json!({
                "severity": match problem.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Internal => "internal",
                },
                "file": problem.file,
                "line": problem.location.map(|l| l.line),
                "column": problem.location.map(|l| l.column),
                "kind": problem.object.as_ref().map(|o| o.kind.clone()),
                "namespace": problem.object.as_ref().and_then(|o| o.namespace.clone()),
                "name": problem.object.as_ref().map(|o| o.name.clone()),
                "field": (!problem.field.is_empty()).then(|| problem.field.clone()),
                "type": problem.error_type,
                "message": problem.message,
            })
        })
        .collect();
    let errors = outcome
        .problems
        .iter()
        .filter(|p| p.severity != Severity::Warning)
        .count();
    let document = json!({
        "valid": code == EXIT_OK,
        "files": outcome.files,
        "objects": outcome.objects,
        "errors": errors,
        "warnings": outcome.problems.len() - errors,
        "problems": problems,
    });
    format!("{document:#}\n")
}
