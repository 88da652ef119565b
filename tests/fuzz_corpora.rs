//! Every input the fuzzers kept (`fuzz/corpus/<target>/`) passes its target's check again, on
//! stable and in CI: the corpora are regression tests of the parsers of untrusted input.
//! `scripts/fuzz` grows them; the checks are in `fuzz/src/checks.rs`.

#[path = "../fuzz/src/checks.rs"]
mod checks;

#[test]
fn every_kept_fuzz_input_still_passes_its_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, check) in checks::TARGETS {
        let mut replayed = 0;
        for entry in std::fs::read_dir(root.join(target)).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check",
                path.display()
            );
            replayed += 1;
        }
        assert!(replayed > 0, "{target}: no corpus to replay");
    }
}
