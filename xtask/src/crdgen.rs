//! `cargo xtask crdgen`: writes the generated CRD files and their reference documentation.

use std::path::Path;

use anyhow::{Context, Result};
use kollect_api::{crd, v1alpha1::Kind};

pub(crate) fn run(root: &Path) -> Result<()> {
    let dir = root.join("deploy/crds");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let wanted: Vec<String> = Kind::ALL.into_iter().map(crd::file_name).collect();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !wanted.contains(&name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("remove stale {}", path.display()))?;
            crate::print_line(&format!("removed {}", path.display()));
        }
    }
    for kind in Kind::ALL {
        write_if_changed(&dir.join(crd::file_name(kind)), &crd::to_yaml(kind))?;
    }
    let reference = root.join("docs/reference/crds.md");
    std::fs::create_dir_all(reference.parent().context("docs/reference has a parent")?)?;
    write_if_changed(&reference, &crd::reference_markdown())
}

fn write_if_changed(path: &Path, content: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("write {}", path.display()))?;
    crate::print_line(&format!("wrote {}", path.display()));
    Ok(())
}
