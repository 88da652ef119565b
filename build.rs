//! Generates the tool registry from `specs/` into `OUT_DIR`.
use std::path::Path;

fn main() {
    let specs = Path::new("specs");
    println!("cargo:rerun-if-changed=specs");
    let inputs = match specgate_codegen::read_specs_dir(specs) {
        Ok(inputs) => inputs,
        Err(e) => panic!("cannot read specs/: {e}"),
    };
    for vendor in &inputs {
        println!("cargo:rerun-if-changed=specs/{}", vendor.dir);
        for file in &vendor.files {
            println!("cargo:rerun-if-changed=specs/{}", file.path);
        }
    }
    // Tools the committed lock file knows under another name keep that name as an alias.
    println!("cargo:rerun-if-changed={}", specgate_codegen::LOCK_FILE);
    let previous = match specgate_codegen::read_lock(Path::new(specgate_codegen::LOCK_FILE)) {
        Ok(previous) => previous,
        Err(e) => panic!("cannot read the lock file {e}"),
    };
    let generated = specgate_codegen::generate_against(&inputs, &previous);
    for diagnostic in &generated.diagnostics {
        if diagnostic.severity == specgate_codegen::Severity::Warning {
            println!(
                "cargo:warning={}",
                diagnostic.to_string().replace('\n', " ")
            );
        }
    }
    for problem in generated.portable_lint() {
        println!("cargo:warning=portable schema profile: {problem}");
    }
    if generated.has_errors() {
        eprint!("{}", generated.report());
        std::process::exit(1);
    }
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (name, contents) in generated.rust_files(true) {
        let path = Path::new(&out_dir).join(name);
        // Write only on change so unchanged integrations are not recompiled.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&path, contents).expect("OUT_DIR is writable");
        }
    }
}
