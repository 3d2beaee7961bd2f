//! Stamps the version line: release builds set `KOLLECT_GIT_COMMIT` and `KOLLECT_BUILD_DATE`;
//! other builds say `unknown`.
#![allow(clippy::print_stdout)] // cargo reads build-script instructions from stdout

fn main() {
    for variable in ["KOLLECT_GIT_COMMIT", "KOLLECT_BUILD_DATE"] {
        println!("cargo:rerun-if-env-changed={variable}");
        let value = std::env::var(variable).unwrap_or_else(|_| "unknown".to_owned());
        println!("cargo:rustc-env={variable}={value}");
    }
}
