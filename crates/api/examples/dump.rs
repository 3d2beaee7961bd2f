//! Temporary.
fn main() {
    for kind in kollect_api::v1alpha1::Kind::ALL {
        let crd = kind.crd();
        std::fs::write(format!("/tmp/crd-{}.json", kind.as_str()), serde_json::to_string_pretty(&crd).unwrap()).unwrap();
    }
}
