//! `specgate`: the server's command line over the compiled tool registry. This crate is the only
//! one that depends on both, so a change to a vendor's spec recompiles that vendor and relinks
//! this binary, and never recompiles the server.

fn main() -> std::process::ExitCode {
    specgate_server::cli::main(specgate_api::integrations())
}
