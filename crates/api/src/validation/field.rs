//! Field paths in Kubernetes notation: `spec.attributes[2].path`, `spec.options[password]`.

use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Segment {
    Field(String),
    Index(usize),
    Key(String),
}

/// A path to a field of an object, built from the root down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

impl FieldPath {
    /// The path of a top-level field, e.g. `spec`.
    pub fn root(name: &str) -> Self {
        Self {
            segments: vec![Segment::Field(name.to_owned())],
        }
    }

    /// A child field: `spec` → `spec.attributes`.
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        self.with(Segment::Field(name.to_owned()))
    }

    /// A list element: `spec.attributes` → `spec.attributes[2]`.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    /// A map entry: `spec.options` → `spec.options[password]`.
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_owned()))
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = self.segments.clone();
        segments.push(segment);
        Self { segments }
    }

    /// The JSON pointer of the field (`/spec/attributes/2/path`), for locating it in a document.
    pub fn to_pointer(&self) -> String {
        let mut pointer = String::new();
        for segment in &self.segments {
            pointer.push('/');
            match segment {
                Segment::Field(name) | Segment::Key(name) => {
                    pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                }
                Segment::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }

    /// Parses the Kubernetes notation back into a path (used to locate fields reported as text,
    /// e.g. by serde). Unparsable input yields the segments that could be read.
    pub fn parse(text: &str) -> Self {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let Some(end) = after.find(']') else { break };
                let inner = &after[..end];
                segments.push(match inner.parse::<usize>() {
                    Ok(index) => Segment::Index(index),
                    Err(_) => Segment::Key(inner.to_owned()),
                });
                rest = &after[end + 1..];
            } else {
                let body = rest.strip_prefix('.').unwrap_or(rest);
                let end = body.find(['.', '[']).unwrap_or(body.len());
                if end > 0 {
                    segments.push(Segment::Field(body[..end].to_owned()));
                }
                rest = &body[end..];
                if end == 0 && !rest.starts_with('[') {
                    break;
                }
            }
        }
        Self { segments }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Field(name) if position == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kubernetes_notation() {
        let path = FieldPath::root("spec")
            .child("attributes")
            .index(2)
            .child("path");
        assert_eq!(path.to_string(), "spec.attributes[2].path");
        assert_eq!(path.to_pointer(), "/spec/attributes/2/path");
        let key = FieldPath::root("spec").child("options").key("a/b");
        assert_eq!(key.to_string(), "spec.options[a/b]");
        assert_eq!(key.to_pointer(), "/spec/options/a~1b");
    }

    #[test]
    fn parses_its_own_notation() {
        for text in [
            "spec.attributes[2].path",
            "spec.options[password]",
            "metadata",
            "spec.a[0][1]",
        ] {
            assert_eq!(FieldPath::parse(text).to_string(), text);
        }
    }
}
