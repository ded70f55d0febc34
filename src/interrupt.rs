//! Interruption (Ctrl-C, SIGTERM, SIGHUP): removes the temporary files of a write in progress (see
//! [`baton_c1z::temp`]), then exits with status 130, so an interrupted run leaves the previous `.c1z`
//! untouched and nothing behind.

/// Installs the handler; the process then exits on the first signal, after cleanup.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        baton_c1z::temp::remove_all();
        eprintln!("error: interrupted; the previous file is unchanged");
        std::process::exit(130);
    })
    .map_err(|e| anyhow::anyhow!("cannot install the interrupt handler: {e}"))
}
