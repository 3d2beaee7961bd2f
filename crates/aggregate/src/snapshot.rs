//! Inventory snapshots: rows in canonical order, their fingerprint, the export envelope and its
//! partitioning into parts below a byte cap (pipeline spec §3.4–§3.6, §5.1–§5.5; DECISIONS Q1, Q6).

use std::fmt::Write as _;

use chrono::{DateTime, Timelike as _, Utc};
use kollect_api::{canonical, row::TargetRow};
use sha2::{Digest as _, Sha256};

/// The only export schema version.
pub const SCHEMA_VERSION: &str = "kollect.dev/v1alpha1";

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// A complete inventory snapshot: items in canonical order (§3.6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    items: Vec<TargetRow>,
}

impl Snapshot {
    /// A snapshot of `items`, in any order.
    pub fn new(mut items: Vec<TargetRow>) -> Self {
        // Stores hand rows over mostly in order already; checking is one comparison per row.
        let ordered = |a: &TargetRow, b: &TargetRow| a.item().canonical_cmp(&b.item()).is_le();
        if !items.is_sorted_by(ordered) {
            items.sort_by(|a, b| a.item().canonical_cmp(&b.item()));
        }
        Self { items }
    }

    /// The items, in canonical order.
    pub fn items(&self) -> &[TargetRow] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the snapshot holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The canonical JSON array of the items: the bytes the fingerprint hashes.
    pub fn items_json(&self) -> String {
        items_json(&self.items)
    }

    /// The items fingerprint (§3.4): SHA-256 of [`items_json`](Self::items_json).
    pub fn fingerprint(&self) -> String {
        // Hashed as it is encoded, in chunks: no copy of the whole array is ever built.
        const CHUNK: usize = 64 * 1024;
        let mut hasher = Sha256::new();
        let mut buffer = String::with_capacity(CHUNK + 4096);
        buffer.push('[');
        for (index, item) in self.items.iter().enumerate() {
            if index > 0 {
                buffer.push(',');
            }
            item.write(&mut buffer);
            if buffer.len() >= CHUNK {
                hasher.update(buffer.as_bytes());
                buffer.clear();
            }
        }
        buffer.push(']');
        hasher.update(buffer.as_bytes());
        hex(&hasher.finalize())
    }

    /// The whole snapshot as one envelope, without part markers.
    pub fn envelope(&self, meta: &EnvelopeMeta) -> String {
        encode_envelope(&self.items, meta, None).0
    }

    /// Splits the snapshot into envelopes of at most `max_bytes` each (§5.5, DECISIONS Q1/Q6).
    /// `max_bytes == 0` means no cap. An empty snapshot is always one part. A row whose envelope
    /// alone exceeds the cap fails the whole split: nothing is silently dropped.
    pub fn partition(
        &self,
        meta: &EnvelopeMeta,
        max_bytes: usize,
    ) -> Result<Parts, PayloadTooLarge> {
        partition(&self.items, meta, max_bytes)
    }
}

fn items_json(items: &[TargetRow]) -> String {
    kollect_api::row::encode_target_rows(items)
}

/// What an envelope carries besides its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeMeta {
    /// `metadata.generation` of the exporting inventory; 0 (omitted) in CLI mode.
    pub generation: i64,
    /// When the export happened; one value per reconcile, shared by every part.
    pub exported_at: DateTime<Utc>,
    /// The cluster name (CLI mode only); omitted when empty.
    pub cluster: String,
}

/// `exportedAt` as the Go original writes it: RFC 3339, UTC, fractional seconds without trailing
/// zeros and omitted when zero (`2026-01-15T12:00:00Z`, `2026-03-02T09:30:00.1234Z`).
pub fn format_exported_at(at: &DateTime<Utc>) -> String {
    let mut out = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = at.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The longest `exportedAt` there is (nanosecond precision). Part sizes are measured with it, so
/// that part boundaries depend on the rows only, never on the timestamp's length (DECISIONS Q6).
const LONGEST_EXPORTED_AT: &str = "0000-00-00T00:00:00.000000000Z";

fn write_envelope(
    out: &mut String,
    items: &[TargetRow],
    meta: &EnvelopeMeta,
    exported_at: &str,
    part: Option<(usize, usize)>,
    checksum: &str,
) {
    out.push_str("{\"schemaVersion\":\"");
    out.push_str(SCHEMA_VERSION);
    out.push_str("\",\"checksum\":\"");
    out.push_str(checksum);
    out.push('"');
    if meta.generation != 0 {
        let _ = write!(out, ",\"generation\":{}", meta.generation);
    }
    if let Some((index, total)) = part {
        let _ = write!(out, ",\"partIndex\":{index},\"partTotal\":{total}");
    }
    let _ = write!(out, ",\"itemCount\":{}", items.len());
    out.push_str(",\"exportedAt\":");
    canonical::write_str(out, exported_at);
    if !meta.cluster.is_empty() {
        out.push_str(",\"cluster\":");
        canonical::write_str(out, &meta.cluster);
    }
    out.push_str(",\"items\":");
}

/// Encodes `items` (already in canonical order) as one envelope (§5.1, §5.3); also returns its
/// checksum, the items fingerprint.
fn encode_envelope(
    items: &[TargetRow],
    meta: &EnvelopeMeta,
    part: Option<(usize, usize)>,
) -> (String, String) {
    let items_json = items_json(items);
    let checksum = sha256_hex(items_json.as_bytes());
    let mut out = String::with_capacity(items_json.len() + 256);
    write_envelope(
        &mut out,
        items,
        meta,
        &format_exported_at(&meta.exported_at),
        part,
        &checksum,
    );
    out.push_str(&items_json);
    out.push('}');
    (out, checksum)
}

/// One envelope of a (possibly multipart) export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// 1-based index; 1 for a single part.
    pub index: usize,
    /// Number of parts in the set.
    pub total: usize,
    /// Fingerprint of this part's items (its envelope `checksum`).
    pub checksum: String,
    /// Items in this part.
    pub item_count: usize,
    /// The envelope bytes (compact JSON, no trailing newline).
    pub envelope: String,
}

/// The parts of one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    /// The parts, in order.
    pub parts: Vec<Part>,
}

impl Parts {
    /// The parts digest (§3.4): SHA-256 of each part's checksum followed by `\n`, in part order.
    /// Snapshot sinks debounce on it.
    pub fn digest(&self) -> String {
        parts_digest(self.parts.iter().map(|p| p.checksum.as_str()))
    }
}

/// The parts digest of a list of part checksums.
pub fn parts_digest<'a>(checksums: impl IntoIterator<Item = &'a str>) -> String {
    let mut input = String::new();
    for checksum in checksums {
        input.push_str(checksum);
        input.push('\n');
    }
    sha256_hex(input.as_bytes())
}

/// A row too large for the byte cap of a sink: the export fails (`PayloadTooLarge`) rather than
/// leave the row out (DECISIONS Q1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "single item export envelope exceeds maxExportBytes ({max_bytes}): {namespace}/{name} (uid {uid}) of target {target} needs {needed} bytes"
)]
pub struct PayloadTooLarge {
    /// The cap.
    pub max_bytes: usize,
    /// Size of the smallest envelope holding the row.
    pub needed: usize,
    /// `targetNamespace/targetName` of the row.
    pub target: String,
    /// Object namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Object uid.
    pub uid: String,
}

/// Size of an envelope holding items whose encodings total `items_bytes` bytes (with separators),
/// measured with markers `marker/marker` and the longest timestamp.
fn envelope_size(head: usize, items_bytes: usize) -> usize {
    head + items_bytes + 3 // `[`, `]` and the closing `}`
}

fn partition(
    items: &[TargetRow],
    meta: &EnvelopeMeta,
    max_bytes: usize,
) -> Result<Parts, PayloadTooLarge> {
    let (single, checksum) = encode_envelope(items, meta, None);
    // Whether one part is enough is measured with the longest timestamp too (DECISIONS Q6).
    let longest =
        single.len() + LONGEST_EXPORTED_AT.len() - format_exported_at(&meta.exported_at).len();
    if max_bytes == 0 || items.is_empty() || longest <= max_bytes {
        return Ok(Parts {
            parts: vec![Part {
                index: 1,
                total: 1,
                checksum,
                item_count: items.len(),
                envelope: single,
            }],
        });
    }
    // Step 1: order by encoded bytes; this decides which items share a part.
    let mut encoded: Vec<(String, &TargetRow)> =
        items.iter().map(|item| (item.encode(), item)).collect();
    encoded.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // Step 3: measure with markers total/total (the widest they can be) and the longest timestamp.
    let marker = items.len();
    let mut head_text = String::new();
    write_envelope(
        &mut head_text,
        &[],
        meta,
        LONGEST_EXPORTED_AT,
        Some((marker, marker)),
        &"0".repeat(64),
    );
    // `head_text` carries `"itemCount":0`; a count of n takes its own number of digits.
    let head = |count: usize| head_text.len() - 1 + count.to_string().len();
    let mut groups: Vec<Vec<&TargetRow>> = Vec::new();
    let mut current: Vec<&TargetRow> = Vec::new();
    let mut current_bytes = 0usize;
    for (bytes, item) in &encoded {
        let with = current_bytes + bytes.len() + usize::from(!current.is_empty());
        if envelope_size(head(current.len() + 1), with) <= max_bytes {
            current.push(item);
            current_bytes = with;
            continue;
        }
        let alone = envelope_size(head(1), bytes.len());
        if alone > max_bytes {
            return Err(PayloadTooLarge {
                max_bytes,
                needed: alone,
                target: format!("{}/{}", item.target_namespace, item.target_name),
                namespace: item.row.namespace.to_string(),
                name: item.row.name.to_string(),
                uid: item.row.uid.to_string(),
            });
        }
        if !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
        current.push(item);
        current_bytes = bytes.len();
    }
    if !current.is_empty() {
        groups.push(current);
    }
    let total = groups.len();
    let parts = groups
        .into_iter()
        .enumerate()
        .map(|(index, group)| {
            let mut group: Vec<TargetRow> = group.into_iter().cloned().collect();
            group.sort_by(|a, b| a.item().canonical_cmp(&b.item()));
            let part = (total > 1).then_some((index + 1, total));
            let (envelope, checksum) = encode_envelope(&group, meta, part);
            Part {
                index: index + 1,
                total,
                checksum,
                item_count: group.len(),
                envelope,
            }
        })
        .collect();
    Ok(Parts { parts })
}

/// The per-row form of the byte cap, for backends that store rows instead of envelopes
/// (databases): a row is accepted when an envelope holding only that row would fit the cap,
/// the same test [`Snapshot::partition`] applies, so a row refused here is refused by every
/// family alike (DECISIONS Q1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowCap {
    max_bytes: usize,
    /// Envelope bytes around one item, measured like `partition` measures them.
    overhead: usize,
}

impl RowCap {
    /// The cap of `max_bytes` (0: none) for envelopes of `meta` in a snapshot of `total_items`.
    pub fn new(meta: &EnvelopeMeta, max_bytes: usize, total_items: usize) -> Self {
        let marker = total_items.max(1);
        let mut head_text = String::new();
        write_envelope(
            &mut head_text,
            &[],
            meta,
            LONGEST_EXPORTED_AT,
            Some((marker, marker)),
            &"0".repeat(64),
        );
        Self {
            max_bytes,
            overhead: envelope_size(head_text.len(), 0),
        }
    }

    /// The cap in bytes (0: none).
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Checks `item`, whose canonical encoding is `encoded_len` bytes long.
    pub fn check(&self, item: &TargetRow, encoded_len: usize) -> Result<(), PayloadTooLarge> {
        let needed = self.overhead + encoded_len;
        if self.max_bytes == 0 || needed <= self.max_bytes {
            return Ok(());
        }
        Err(PayloadTooLarge {
            max_bytes: self.max_bytes,
            needed,
            target: format!("{}/{}", item.target_namespace, item.target_name),
            namespace: item.row.namespace.to_string(),
            name: item.row.name.to_string(),
            uid: item.row.uid.to_string(),
        })
    }
}

/// The object path of part `index` of `total` (§5.5): `.part-0002-of-0003` goes before the last
/// extension, or at the end when the file name has none or starts with a dot. One part keeps
/// the base path.
pub fn part_path(base: &str, index: usize, total: usize) -> String {
    if total <= 1 {
        return base.to_owned();
    }
    let suffix = format!(".part-{index:04}-of-{total:04}");
    let file_start = base.rfind('/').map_or(0, |slash| slash + 1);
    let file = &base[file_start..];
    match file.rfind('.') {
        Some(dot) if dot > 0 => {
            let cut = file_start + dot;
            format!("{}{suffix}{}", &base[..cut], &base[cut..])
        }
        _ => format!("{base}{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_at_trims_fractions_like_go() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(
            format_exported_at(&at("2026-01-15T12:00:00Z")),
            "2026-01-15T12:00:00Z"
        );
        assert_eq!(
            format_exported_at(&at("2026-03-02T09:30:00.123400Z")),
            "2026-03-02T09:30:00.1234Z"
        );
        assert_eq!(
            format_exported_at(&at("2026-06-07T08:15:30.123456789Z")),
            "2026-06-07T08:15:30.123456789Z"
        );
        assert_eq!(
            LONGEST_EXPORTED_AT.len(),
            format_exported_at(&at("2026-06-07T08:15:30.123456789Z")).len()
        );
    }

    fn sized_row(name: &str, bytes: usize) -> TargetRow {
        use std::sync::Arc;
        TargetRow {
            target_namespace: "team-a".into(),
            target_name: "deployments".into(),
            kind: kollect_api::row::Gvk::new("apps", "v1", "Deployment"),
            row: Arc::new(kollect_api::row::Row {
                namespace: "team-a".into(),
                name: name.into(),
                uid: format!("uid-{name}").into(),
                resource_version: "".into(),
                attributes: kollect_api::row::Attributes::from_canonical(format!(
                    "{{\"p\":\"{}\"}}",
                    "x".repeat(bytes)
                )),
            }),
        }
    }

    #[test]
    fn row_cap_refuses_exactly_the_rows_partition_refuses() {
        let meta = EnvelopeMeta {
            generation: 3,
            exported_at: DateTime::from_timestamp_nanos(1_768_478_400_000_000_000),
            cluster: String::new(),
        };
        let max_bytes = 600;
        for bytes in 300..500 {
            let items = vec![sized_row("a", 10), sized_row("b", bytes)];
            let cap = RowCap::new(&meta, max_bytes, items.len());
            let by_cap = items
                .iter()
                .try_for_each(|item| cap.check(item, item.encode().len()));
            let by_partition = partition(&items, &meta, max_bytes).map(|_| ());
            assert_eq!(by_cap, by_partition, "a row of {bytes} payload bytes");
        }
        let huge = sized_row("huge", 10_000);
        assert!(
            RowCap::new(&meta, 0, 1).check(&huge, 10_100).is_ok(),
            "0 is no cap"
        );
    }

    #[test]
    fn part_paths_insert_the_suffix_before_the_extension() {
        assert_eq!(
            part_path("inventory/team-a/api.json", 1, 1),
            "inventory/team-a/api.json"
        );
        assert_eq!(
            part_path("inventory/team-a/api.json", 2, 3),
            "inventory/team-a/api.part-0002-of-0003.json"
        );
        assert_eq!(
            part_path("inventory/team-a/api", 1, 2),
            "inventory/team-a/api.part-0001-of-0002"
        );
        assert_eq!(
            part_path("inventory/a.b/.hidden", 1, 2),
            "inventory/a.b/.hidden.part-0001-of-0002"
        );
        assert_eq!(part_path("x.tar.gz", 1, 2), "x.tar.part-0001-of-0002.gz");
    }
}
