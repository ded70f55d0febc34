//! The decoded size of the written file against Baton readers' caps: the warning for files the oldest
//! readers refuse, and the cap `sync` refuses to publish above.

use baton_elastic::cli::Cli;
use baton_elastic::commands::sync::decoded_size_warning;
use baton_elastic::config;
use clap::Parser;

const GIB: u64 = 1 << 30;

#[test]
fn a_file_over_two_gib_warns_that_the_oldest_readers_refuse_it() {
    assert_eq!(decoded_size_warning(2 * GIB), None);
    let warning = decoded_size_warning(2 * GIB + 1).expect("a warning");
    assert!(warning.contains("2.0 GiB"), "{warning}");
    assert!(warning.contains("v0.1.14"), "{warning}");
    assert!(
        warning.contains("BATON_DECODER_MAX_DECODED_SIZE_MB"),
        "{warning}"
    );
}

#[test]
fn sync_refuses_files_over_ten_gib_unless_the_decoder_cap_is_raised() {
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(args).expect("parses");
        config::write_options(&cli.global)
    };
    assert_eq!(parse(&["baton-elastic"]).max_decoded_bytes, 10 * GIB);
    assert_eq!(
        parse(&["baton-elastic"]).decode_limits.max_decoded_bytes,
        10 * GIB,
        "inspect opens every file sync writes"
    );
    let lowered = parse(&["baton-elastic", "--decoder-max-decoded-size-mb", "1024"]);
    assert_eq!(lowered.decode_limits.max_decoded_bytes, GIB);
    assert_eq!(lowered.max_decoded_bytes, 10 * GIB);
    let raised = parse(&["baton-elastic", "--decoder-max-decoded-size-mb", "20480"]);
    assert_eq!(raised.max_decoded_bytes, 20 * GIB);
}
